/**
 * A cut of the login, survived (`--reconnect`), as the remote half sees it: its login
 * channel read so that a hand-over stops exactly after its session line; the invocation
 * that hands its login over; and the waiting half, armed once met (`rejoin_place.ts`
 * holds the socket and its proofs; the local half's side is `local/login_again.ts`).
 *
 * @module
 */
import type { StepLog } from "../base/log.ts";
import { LoginChannel } from "../login/login_channel.ts";
import type { SessionMessage } from "../login/protocol.ts";
import { Fault } from "../base/faults.ts";
import { fromHex } from "../base/hex.ts";
import { TOKEN_LENGTH } from "../net/handshake.ts";
import { libc } from "../platform/libc.ts";
import { readableOfFd } from "../platform/fd_streams.ts";
import type { ProcessTree } from "../process/process_tree.ts";
import { handOverLogin, RejoinPlace } from "./rejoin_place.ts";

/**
 * The remote half's login channel: on `controlIn` and `controlOut`, by default stdin
 * (read through libc where it can be) and stdout. A session line that says to hand the
 * login over is the last line read: the remote half waiting for it reads what follows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StepLog } from "../base/log.ts";
 * import { loginChannelOfRemoteHalf } from "./login_rejoin.ts";
 * const channel = loginChannelOfRemoteHalf(
 *   ReadableStream.from<Uint8Array>([]), new WritableStream(), new StepLog(false, "t"));
 * assert.equal(await channel.first("session"), null);
 * await channel.close();
 * ```
 */
export function loginChannelOfRemoteHalf(
  controlIn: ReadableStream<Uint8Array> | undefined,
  controlOut: WritableStream<Uint8Array> | undefined,
  log: StepLog,
): LoginChannel {
  // Never read ahead: an invocation that hands its login over stops exactly after it.
  const stdin = () => libc() ? readableOfFd(0) : Deno.stdin.readable;
  return new LoginChannel(controlIn ?? stdin(), controlOut ?? Deno.stdout.writable, {
    peer: "local",
    onNoise: (line) => log.always(`login channel: ${line}`),
    lastMessage: (message) => message.event === "session" && message.rejoin !== null,
  });
}

/**
 * This invocation came from a login started again after a cut (`--reconnect`): it hands
 * the login to the remote half waiting at `path`, says so, and lives until that half
 * ends; 0 then, or the fault that it could not.
 *
 * @example Not run as a test: it needs a waiting remote half (see tests/sshd/login_cut_test.ts).
 * ```ts ignore
 * import { handOver } from "./login_rejoin.ts";
 * const handed = await handOver(session.rejoin!, session, channel);
 * ```
 */
export async function handOver(
  path: string,
  session: SessionMessage,
  channel: LoginChannel,
): Promise<0 | Fault> {
  const handed = await handOverLogin(path, fromHex(session.token, TOKEN_LENGTH)!);
  if (handed instanceof Fault) return handed;
  await channel.send({ event: "handed" });
  await handed.untilDone;
  return 0;
}

/**
 * With `--reconnect`: a cut of the login is waited out here, rather than taken for the
 * local half's end; the local half is told where. Null where the place cannot be made
 * (said with -v): then a cut of the login ends the run. The caller closes the place.
 *
 * @example Not run as a test: it needs a met session (see tests/sshd/login_cut_test.ts).
 * ```ts ignore
 * import { armLoginRejoin } from "./login_rejoin.ts";
 * const place = armLoginRejoin(session, channel, log, tree);
 * place?.close();
 * ```
 */
export function armLoginRejoin(
  session: SessionMessage,
  channel: LoginChannel,
  log: StepLog,
  tree: ProcessTree,
): RejoinPlace | null {
  const seconds = session.settings.reconnect;
  if (!seconds || !libc()) return null;
  const place = RejoinPlace.open(fromHex(session.token, TOKEN_LENGTH)!, log);
  if (typeof place === "string") {
    log.step(`a cut of the login will end the run: ${place}`);
    return null;
  }
  channel.rejoinWith((why, signal) => place.nextLogin(why, seconds, signal), {
    speaksFirst: false,
  });
  // Its parent (the login) may go while this half waits for the next one; killed outright,
  // it leaves no socket behind.
  tree.outliveParent();
  tree.removeIfKilled(place.dir);
  channel.send({ event: "rejoin-at", path: place.path });
  return place;
}
