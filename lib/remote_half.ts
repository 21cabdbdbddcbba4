import type { CommandStatus } from "./command_status.ts";
import { chooseDataPath } from "./choose_data_path.ts";
import { connectBack, formatAddress } from "./connect_back.ts";
import { type ControlMessage, ControlSender, readControlMessages } from "./control_channel.ts";
import type { DataPath } from "./data_path.ts";
import { messageOf } from "./errors.ts";
import { Heartbeat } from "./heartbeat.ts";
import { StepLog } from "./log.ts";
import { applyPeerTimeout } from "./peer_timeout.ts";
import { sessionFromMessage } from "./session.ts";
import { stopCommand } from "./stop_command.ts";
import { PROTOCOL_VERSION, VERSION } from "./version.ts";

/** Where the remote half talks to the local half, and how it moves data. */
export interface RemoteHalfOptions {
  /**
   * Print each step on stderr (which the login command carries back).
   * @default {false}
   */
  verbose?: boolean;
  /**
   * The login channel from the local half.
   * @default {Deno.stdin.readable}
   */
  controlIn?: ReadableStream<Uint8Array>;
  /**
   * The login channel to the local half.
   * @default {Deno.stdout.writable}
   */
  controlOut?: WritableStream<Uint8Array>;
  /**
   * `$SSH_CLIENT` as sshd set it for this session.
   * @default {Deno.env.get("SSH_CLIENT")}
   */
  sshClient?: string | null;
  /**
   * How the command gets the data.
   * @default {the zero-copy path where it can run, else the stream path}
   */
  dataPath?: DataPath;
}

/**
 * Runs the remote half (`socketpipe -s -- command…`): reads the session line from the
 * login channel, connects back to the local half, runs `command` on the data connection
 * and reports how it ended. If the login channel closes first, the local half is gone:
 * the command is stopped, so nothing is left running. Resolves with the exit status.
 *
 * @example
 * ```ts
 * import { serveRemoteHalf } from "./remote_half.ts";
 * Deno.exit(await serveRemoteHalf(["dd", "of=/dev/null"]));
 * ```
 */
export async function serveRemoteHalf(
  command: readonly string[],
  options: RemoteHalfOptions = {},
): Promise<number> {
  const log = new StepLog(options.verbose ?? false, "socketpipe -s");
  const control = new ControlSender(options.controlOut ?? Deno.stdout.writable);
  let heard = () => {};
  const messages = readControlMessages(options.controlIn ?? Deno.stdin.readable, {
    onNoise: (line) => {
      heard();
      log.always(`login channel: ${line}`);
    },
  });
  const fail = async (step: string, message: string) => {
    log.always(`${step}: ${message}`);
    await control.trySend({ event: "error", step, message });
    return 2;
  };

  await control.trySend({ event: "hello", version: PROTOCOL_VERSION, program: VERSION });
  const first = await messages.next();
  if (first.done) return fail("session", "login channel closed before the session line");
  const session = sessionFromMessage(first.value);
  if (typeof session === "string") return fail("session", session);

  let conn: Deno.TcpConn;
  try {
    conn = await connectBack({
      ...session,
      sshClient: options.sshClient !== undefined ? options.sshClient : Deno.env.get("SSH_CLIENT"),
      onAttempt: (address) => log.step(`connecting to ${formatAddress(address, session.port)}`),
    });
  } catch (error) {
    return fail("connect", `${messageOf(error)}; name a reachable address with -h`);
  }
  log.step(`connected to ${formatAddress(conn.remoteAddr.hostname, conn.remoteAddr.port)}`);

  const notBounded = applyPeerTimeout(conn, session.peerTimeout);
  if (notBounded) log.step(`no dead-peer bound: ${notBounded}`);
  const chosen = options.dataPath
    ? { path: options.dataPath, why: "chosen by the caller" }
    : chooseDataPath(session.copy);
  log.step(`data path: ${chosen.path.name} (${chosen.why})`);
  const transfer = await chosen.path.startRemote(conn, command, session);
  let cutOff = false;
  const silence = Promise.withResolvers<void>();
  const heartbeat = new Heartbeat(control, session.peerTimeout, () => silence.resolve());
  heard = () => heartbeat.heard();
  const channelClosed = (async () => {
    for await (const message of messages as AsyncIterable<ControlMessage>) {
      heard();
      if (message.event === "consumer-gone") {
        cutOff = true;
        transfer.stopSending();
      }
    }
  })();
  // The local half is gone when the login channel closes, or falls silent (a cut link or
  // a crashed host, which sshd may not notice for many minutes).
  const localHalfGone = Promise.race([channelClosed, silence.promise]);
  transfer.consumerGone.then(() => control.trySend({ event: "consumer-gone" }));

  const ended = await Promise.race([transfer.command.status, localHalfGone.then(() => null)]);
  if (!ended) {
    heartbeat.stop();
    await stopCommand(transfer.command);
    transfer.abort();
    log.always(
      "the local half is gone (login channel closed or silent); stopped the remote command",
    );
    return 2;
  }
  await control.trySend({
    event: "ended",
    ...statusFields(ended),
    stoppedEarly: transfer.consumerStoppedEarly(),
  });
  const result = await Promise.race([transfer.finished, localHalfGone.then(() => null)]);
  heartbeat.stop();
  if (!result) {
    transfer.abort();
    log.always(
      "the local half is gone (login channel closed or silent) before the end of the stream",
    );
    return 2;
  }
  log.step(`remote command ended; ${result.counts.received} bytes in, ${result.counts.sent} out`);
  const reported = await control.trySend({
    event: "exit",
    ...statusFields(ended),
    cutOff,
    bytesIn: result.counts.received,
    bytesDelivered: result.counts.delivered,
    bytesOut: result.counts.sent,
    error: result.error,
  });
  await control.close();
  return reported ? 0 : 2;
}

function statusFields(status: CommandStatus) {
  return { code: status.status, signal: status.signal, failedToStart: status.failedToStart };
}
