/**
 * Where a remote half waits for its login to be joined again (`--reconnect`): a Unix
 * socket of its own, in a directory only its user can enter, on which the remote
 * invocation of a login run again proves the run's token and hands over its stdin,
 * stdout and stderr (SCM_RIGHTS). Three proofs stand between another process and the
 * waiting half: the directory (0700), the peer's user id as the kernel recorded it, and
 * an HMAC of a fresh challenge under the token.
 *
 * @module
 */
import type { StepLog } from "../base/log.ts";
import { REAL_CLOCK } from "../base/clock.ts";
import { messageOf } from "../base/message_of.ts";
import { type Fault, FAULTS } from "../base/faults.ts";
import type { LoginCut, LoginStreams } from "../login/login_channel.ts";
import { constantTimeEqual, tokenMac } from "../net/handshake.ts";
import { readableOfFd, writableOfFd } from "../platform/fd_streams.ts";
import { closeFd, openDevNull, writeToPipe } from "../platform/file_descriptors.ts";
import {
  acceptUnix,
  connectUnix,
  duplicateOnto,
  listenUnix,
  peerUid,
  receiveWithFds,
  sendWithFds,
} from "../platform/unix_sockets.ts";

/** Points `fd` at /dev/null. */
function onDevNull(fd: number): void {
  const devNull = openDevNull();
  duplicateOnto(devNull, fd);
  closeFd(devNull);
}

/** What the proof signs besides the challenge: it proves nothing anywhere else. */
const PROOF_LABEL = new TextEncoder().encode("socketpipe login rejoin\n");
const CHALLENGE_BYTES = 32;
const PROOF_BYTES = 32;
/** How long a process that connected has to prove itself, in milliseconds. */
const PROOF_MS = 10_000;
/** The byte that says the login was taken. */
const TAKEN = 1;

async function proofOf(token: Uint8Array, challenge: Uint8Array): Promise<Uint8Array> {
  const message = new Uint8Array(PROOF_LABEL.length + challenge.length);
  message.set(PROOF_LABEL);
  message.set(challenge, PROOF_LABEL.length);
  return await tokenMac(token, message);
}

/** Whether `milliseconds` have passed, or `signal` was aborted. */
function stoppedAfter(milliseconds: number, signal?: AbortSignal): () => boolean {
  const until = REAL_CLOCK.now() + milliseconds;
  return () => signal?.aborted === true || REAL_CLOCK.now() >= until;
}

/**
 * Where a remote half waits for its login to be joined again: a listening socket in a
 * new 0700 directory. {@link close} removes both.
 *
 * @example Not run as a test: it waits for a remote invocation (see tests/sshd/login_cut_test.ts).
 * ```ts ignore
 * import { RejoinPlace } from "./rejoin_place.ts";
 * const place = RejoinPlace.open(token, log);
 * if (typeof place !== "string") {
 *   const streams = await place.nextLogin("closed", 60, signal);
 *   place.close();
 * }
 * ```
 */
export class RejoinPlace {
  /** The socket's path, for the local half's session line. */
  readonly path: string;
  /** The directory the socket is in, only this user's. */
  readonly dir: string;
  readonly #listening: number;
  readonly #token: Uint8Array;
  readonly #log: StepLog;
  /** The connection of the invocation that handed the current login: it lives while it is open. */
  #handedBy: number | null = null;
  /** The current login's stdin and stdout, received (never 0 or 1). */
  #received: number[] = [];

  private constructor(dir: string, listening: number, token: Uint8Array, log: StepLog) {
    this.dir = dir;
    this.path = `${dir}/login`;
    this.#listening = listening;
    this.#token = token;
    this.#log = log;
  }

  /** Opens the place; a line saying why not where it cannot be made. */
  static open(token: Uint8Array, log: StepLog): RejoinPlace | string {
    let dir: string;
    try {
      dir = Deno.makeTempDirSync({ prefix: "socketpipe-rejoin-" });
      Deno.chmodSync(dir, 0o700);
    } catch (error) {
      return `no directory for the socket: ${messageOf(error)}`;
    }
    try {
      return new RejoinPlace(dir, listenUnix(`${dir}/login`), token, log);
    } catch (error) {
      Deno.removeSync(dir, { recursive: true });
      return messageOf(error);
    }
  }

  /**
   * Waits up to `seconds` for a login joined again: the first connection on the socket
   * that comes from this user and proves the token hands over its stdin, stdout and
   * stderr; this process's stderr becomes that login's. Its streams, or null once the
   * bound passed or `signal` was aborted. Every other connection is refused (and said
   * with -v), and the wait goes on.
   */
  async nextLogin(
    why: LoginCut,
    seconds: number,
    signal: AbortSignal,
  ): Promise<LoginStreams | null> {
    this.#log.step(
      `login ${why === "silent" ? "silent" : "cut"}: waiting ${seconds} s for it again`,
    );
    const stopped = stoppedAfter(seconds * 1000, signal);
    for (;;) {
      const fd = await acceptUnix(this.#listening, stopped);
      if (fd === null) return null;
      const refused = await this.#take(fd, stopped).catch((error) => messageOf(error));
      if (typeof refused !== "string") return refused;
      closeFd(fd);
      this.#log.step(`refused a login joining again: ${refused}`);
    }
  }

  /** The login that `fd`'s peer hands over once proven; why not, as a line. */
  async #take(fd: number, stopped: () => boolean): Promise<LoginStreams | string> {
    const uid = peerUid(fd);
    if (uid !== Deno.uid()) return `it came from user ${uid}, not this one`;
    const challenge = crypto.getRandomValues(new Uint8Array(CHALLENGE_BYTES));
    await writeToPipe(fd, challenge);
    const late = stoppedAfter(PROOF_MS);
    const answer = await receiveWithFds(fd, PROOF_BYTES, () => stopped() || late());
    if (!answer) return "it did not prove the run's token";
    const [stdin, stdout, stderr, ...more] = answer.fds;
    const proven = constantTimeEqual(answer.bytes, await proofOf(this.#token, challenge));
    if (!proven || stderr === undefined || more.length) {
      for (const passed of answer.fds) closeFd(passed);
      return proven
        ? "it did not pass stdin, stdout and stderr"
        : "its proof of the token is wrong";
    }
    await writeToPipe(fd, new Uint8Array([TAKEN]));
    // The invocation that handed the cut login may go; this one stays while this half runs.
    if (this.#handedBy !== null) closeFd(this.#handedBy);
    for (const old of this.#received) closeFd(old);
    // The first login's stdin and stdout let go of (no reader is left on them), so that
    // nothing of its session waits on this process.
    if (!this.#received.length) { for (const fd of [0, 1]) onDevNull(fd); }
    this.#handedBy = fd;
    this.#received = [stdin, stdout];
    duplicateOnto(stderr, 2);
    closeFd(stderr);
    return { readable: readableOfFd(stdin), writable: writableOfFd(stdout) };
  }

  /** Closes the socket and removes its directory; the last invocation that handed a login leaves. */
  close(): void {
    for (const fd of [this.#listening, ...(this.#handedBy === null ? [] : [this.#handedBy])]) {
      closeFd(fd);
    }
    this.#handedBy = null;
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch {
      // Gone already.
    }
  }
}

/**
 * The remote invocation of a login started again: proves the run's token to the remote
 * half waiting at `path`, and hands it this process's stdin, stdout and stderr. Resolves
 * once it was taken, with a wait that resolves when that half ends (this process must
 * live until then: sshd stops passing the login's stdin once it ends); the fault that it
 * could not otherwise.
 *
 * @example Not run as a test: it needs a waiting remote half.
 * ```ts ignore
 * import { handOverLogin } from "./rejoin_place.ts";
 * const handed = await handOverLogin(session.rejoin, token);
 * if (!(handed instanceof Fault)) await handed.untilDone;
 * ```
 */
export async function handOverLogin(
  path: string,
  token: Uint8Array,
): Promise<{ untilDone: Promise<void> } | Fault> {
  let fd: number;
  try {
    fd = connectUnix(path);
  } catch (error) {
    return FAULTS.rejoinRefused.of(
      `the remote half waiting at ${path} cannot be reached: ${messageOf(error)}`,
    );
  }
  try {
    // Only this user's own half gets the login (and a proof made with the token).
    const uid = peerUid(fd);
    if (uid !== Deno.uid()) throw new Error(`its socket is user ${uid}'s, not this user's`);
    const late = stoppedAfter(PROOF_MS);
    const challenge = await receiveWithFds(fd, CHALLENGE_BYTES, late);
    for (const passed of challenge?.fds ?? []) closeFd(passed);
    if (!challenge) throw new Error("it asked for no proof");
    sendWithFds(fd, await proofOf(token, challenge.bytes), [0, 1, 2]);
    const taken = await receiveWithFds(fd, 1, late);
    if (taken?.bytes[0] !== TAKEN) throw new Error("it did not take the login");
  } catch (error) {
    closeFd(fd);
    return FAULTS.rejoinRefused.of(
      `the remote half waiting at ${path} refused the login: ${messageOf(error)}`,
    );
  }
  const untilDone = receiveWithFds(fd, 1, () => false).catch(() => null).then(() => closeFd(fd));
  return { untilDone };
}
