import type { Moved } from "../progress/progress.ts";
import { settledWithin } from "../base/settled_within.ts";
import type {
  ByteCounts,
  DataPath,
  LocalTransfer,
  RemoteTransfer,
  RunningCommand,
  TransferResult,
} from "./data_path.ts";
import { messageOf } from "../base/message_of.ts";
import { HANDSHAKE_LENGTH } from "../net/handshake.ts";
import { detachFromEventLoops, socketFdOf } from "../platform/deno_internals.ts";
import {
  closeFd,
  makePipe,
  openDevNull,
  readSome,
  receiveSome,
  setBlocking,
  shutdownBoth,
  shutdownWrite,
  unacknowledgedBytes,
  unreadBytes,
} from "../platform/file_descriptors.ts";
import type { ProcessTree } from "../process/process_tree.ts";
import { libc, libcUnavailableReason } from "../platform/libc.ts";
import { relayToStderr, released, startRole } from "./roles.ts";
import {
  spawnFailure,
  type SpawnFds,
  spawnWithFds,
  waitForExit,
} from "../platform/spawn_with_fds.ts";
import { acknowledgeNow, takeSocketError, tcpInfo } from "../platform/tcp_socket_options.ts";

/** TCP states in which the peer's FIN has arrived. */
const PEER_FIN_STATES = new Set([6, 7, 8, 9, 11]); // TIME-WAIT, CLOSE, CLOSE-WAIT, LAST-ACK, CLOSING
/** TCP states in which our FIN has been acknowledged. */
const OUR_FIN_ACKED_STATES = new Set([5, 6, 7]); // FIN-WAIT-2, TIME-WAIT, CLOSE
/** How long to wait for the kernel to settle (acknowledgements in flight) before counting. */
const SETTLE_MS = 2000;
const DRAIN_CHUNK = 256 * 1024;

/**
 * The zero-copy data path (Linux): the commands get the data socket itself as their
 * stdin and stdout, through posix_spawnp and dup2, as in the C original, so socketpipe
 * never touches a data byte. Byte counts come from the kernel (TCP_INFO). When a
 * command stops reading, the other half shuts the socket's sending side, so the command
 * writing to it gets SIGPIPE on its next write, as in a pipe; afterwards the half whose
 * command ended drains what is still arriving, so the peer is never stalled or reset.
 *
 * @example Not run as a test: it needs a data connection and starts commands.
 * ```ts ignore
 * import { zeroCopyPath } from "./zero_copy_path.ts";
 * declare const conn: Deno.TcpConn;
 * const transfer = await zeroCopyPath.startRemote(conn, ["dd", "of=/dev/null"], { input: true, output: false });
 * console.log((await transfer.finished).counts.received);
 * ```
 */
export const zeroCopyPath: DataPath = {
  name: "zero-copy",
  because: "the commands get the socket itself",

  unavailable(): string | null {
    if (!libc()) return libcUnavailableReason() ?? "libc unavailable";
    if (Deno.permissions.querySync({ name: "read", path: "/proc/self/fd" }).state !== "granted") {
      return "reading /proc/self/fd is not permitted (run with --allow-read or -A for zero-copy)";
    }
    return null;
  },

  async startLocal(conn, commands, tree): Promise<LocalTransfer> {
    const socket = await DataSocket.open(conn, HANDSHAKE_LENGTH);
    const holds = new Set([socket.file]);
    // Both local commands hold the one socket: each also gets a marker of its role, so
    // that an orphan whose environment no longer names it still tells whose it is.
    const markers = commands.input && commands.output ? roleMarkers(tree) : null;
    const input = commands.input
      ? startCommand(commands.input, "input", {
        stdin: 0,
        stdout: socket.fd,
        stderr: 2,
        extra: markers ? [[markers.input, ROLE_MARKER_FD]] : [],
      }, tree)
      : undefined;
    const output = commands.output
      ? startCommand(commands.output, "output", {
        stdin: socket.fd,
        stdout: 1,
        stderr: 2,
        extra: markers ? [[markers.output, ROLE_MARKER_FD]] : [],
      }, tree)
      : undefined;
    // A direction ends when every process holding the socket for it has let go, however
    // many background children the command left: as a pipe's end does.
    const inputReleased = input && released(input, tree, holds);
    const outputReleased = output && released(output, tree, holds);
    if (inputReleased) inputReleased.then(() => socket.stopSending());
    else socket.stopSending();

    let reportConsumerGone = () => {};
    const consumerGone = new Promise<void>((resolve) => reportConsumerGone = resolve);
    outputReleased?.then(() => {
      if (!socket.atEndOfStream()) reportConsumerGone();
    });
    const finished = (async () => {
      await Promise.all([inputReleased, outputReleased]);
      markers?.close();
      return await socket.finish();
    })();
    return {
      input,
      output,
      stopSending: () => socket.stopSending(),
      abort: () => socket.abort(),
      consumerGone,
      finished,
      moved: () => socket.moved(),
    };
  },

  async startRemote(conn, command, wiring, tree): Promise<RemoteTransfer> {
    const socket = await DataSocket.open(conn, HANDSHAKE_LENGTH);
    const devNull = wiring.input && wiring.output ? -1 : openDevNull();
    // The command's stderr comes through this half rather than straight from the login
    // channel: if this half dies, the login channel then closes, so the local half
    // learns of it even while the command, holding the socket, lives on.
    const [stderrIn, stderrOut] = makePipe();
    const running = startCommand(command, "remote", {
      stdin: wiring.input ? socket.fd : devNull,
      stdout: wiring.output ? socket.fd : devNull,
      stderr: stderrOut,
    }, tree);
    closeFd(stderrOut);
    if (devNull >= 0) closeFd(devNull);
    const seen = { reopenedByName: false };
    const stderrRelayed = relayToStderr(chunksOf(stderrIn), lookForReopening(seen));
    if (!wiring.output) socket.stopSending();
    // The command is done with the socket when neither it nor anything it started holds
    // it: its output has then ended, and if the input has not, it stopped reading.
    const done = released(running, tree, new Set([socket.file])).then(() => {
      socket.stopSending();
      return wiring.input && !socket.atEndOfStream();
    });
    const finished = done.then(async () => {
      await settledWithin(stderrRelayed, 1000); // a background child may keep stderr open
      return socket.finish();
    });
    return {
      command: running,
      stopSending: () => socket.stopSending(),
      abort: () => socket.abort(),
      consumerGone: done.then((early) => early ? undefined : new Promise<void>(() => {})),
      finished,
      moved: () => socket.moved(),
      reopenedByName: () => seen.reopenedByName,
    };
  },
};

/**
 * The fd at which a local command gets its role's marker: above what a POSIX shell can
 * redirect (0–9), below any common descriptor limit.
 */
const ROLE_MARKER_FD = 63;

/**
 * A pipe per local role, whose read end its command inherits at {@link ROLE_MARKER_FD}
 * (this half's copies are close-on-exec), recorded in `tree` as that role's marker.
 */
function roleMarkers(tree: ProcessTree) {
  const [input, inputOther] = makePipe();
  const [output, outputOther] = makePipe();
  tree.markRole("input", Deno.readLinkSync(`/proc/self/fd/${input}`));
  tree.markRole("output", Deno.readLinkSync(`/proc/self/fd/${output}`));
  return {
    input,
    output,
    close() {
      for (const fd of [input, inputOther, output, outputOther]) closeFd(fd);
    },
  };
}

function startCommand(
  argv: readonly string[],
  role: string,
  fds: SpawnFds,
  tree: ProcessTree,
): RunningCommand {
  return startRole(argv, role, tree, (ownGroup) => {
    let pid: number;
    try {
      pid = spawnWithFds(argv, fds, tree.environment(role), ownGroup);
    } catch (error) {
      throw spawnFailure(error);
    }
    return { pid, status: waitForExit(pid) };
  });
}

/** The data socket as the zero-copy path uses it: its fd, and the kernel's counts. */
class DataSocket {
  #sendingStopped = false;
  /** Whether our FIN was queued: it then counts as one unacknowledged byte until acked. */
  #finQueued = false;
  #closed = false;
  #final = { sent: 0, received: 0 };

  private constructor(
    readonly conn: Deno.TcpConn,
    readonly fd: number,
    /** The socket as `/proc/<pid>/fd` names it in every process that holds it. */
    readonly file: string,
    readonly handshakeReceived: number,
    readonly ackedAtStart: number,
  ) {}

  /**
   * Takes over the connection's socket after the handshake. `handshakeReceived` is how
   * many handshake bytes this half read; the acknowledged count is measured once what
   * this half sent of the handshake has been acknowledged.
   */
  static async open(conn: Deno.TcpConn, handshakeReceived: number): Promise<DataSocket> {
    // Deno keeps the connection (closing it would shut the socket's sending side), but
    // no longer watches it: otherwise every arriving segment wakes Deno's event loop
    // for nothing, costing CPU on a path meant to cost none.
    const fd = socketFdOf(conn);
    detachFromEventLoops(fd);
    setBlocking(fd);
    acknowledgeNow(fd); // the peer's wait below ends when our acknowledgement arrives
    await waitUntil(() => tcpInfo(fd).unacked === 0, SETTLE_MS);
    const file = Deno.readLinkSync(`/proc/self/fd/${fd}`);
    return new DataSocket(conn, fd, file, handshakeReceived, tcpInfo(fd).bytesAcked);
  }

  /** Shuts the sending side (once). */
  stopSending(): void {
    if (this.#sendingStopped) return;
    this.#sendingStopped = true;
    this.#finQueued = shutdownWrite(this.fd);
  }

  /** Ends the connection both ways; `finish` still closes the fd (it stays ours until then). */
  abort(): void {
    this.#sendingStopped = true;
    shutdownBoth(this.fd);
  }

  /** The bytes acknowledged by the peer and received from it so far (until closed). */
  moved(): Moved {
    if (this.#closed) return { ...this.#final };
    const info = tcpInfo(this.fd);
    // A FIN takes one sequence number, which the kernel counts as a byte.
    const finAcked = OUR_FIN_ACKED_STATES.has(info.state) ? 1 : 0;
    const finReceived = PEER_FIN_STATES.has(info.state) ? 1 : 0;
    return {
      sent: Math.max(0, info.bytesAcked - this.ackedAtStart - finAcked),
      received: Math.max(0, info.bytesReceived - this.handshakeReceived - finReceived),
    };
  }

  /** Whether everything the peer sent has arrived and been read. */
  atEndOfStream(): boolean {
    return PEER_FIN_STATES.has(tcpInfo(this.fd).state) && unreadBytes(this.fd) === 0;
  }

  /**
   * The data bytes written that the peer never acknowledged, once the connection has
   * settled: waits while the count still falls (a slow link draining) and until the peer
   * acknowledged our FIN or the connection ended; a FIN still in flight is not data.
   */
  async #unacknowledgedAtEnd(): Promise<number> {
    const settled = () => OUR_FIN_ACKED_STATES.has(tcpInfo(this.fd).state);
    for (let before = Infinity;;) {
      await waitUntil(settled, SETTLE_MS);
      const now = unacknowledgedBytes(this.fd);
      if (settled() || now === 0 || now >= before) {
        return Math.max(0, now - (this.#finQueued ? 1 : 0));
      }
      before = now;
    }
  }

  /** Drains what is still arriving, then counts from the kernel, and closes. */
  async finish(): Promise<TransferResult> {
    this.stopSending();
    let drained = 0;
    let error: string | null = null;
    const buffer = new Uint8Array(DRAIN_CHUNK);
    try {
      for (let count; (count = await receiveSome(this.fd, buffer)) > 0;) drained += count;
    } catch (failure) {
      error = `receiving failed: ${messageOf(failure)}`;
    }
    const lost = await this.#unacknowledgedAtEnd();
    if (lost > 0 && error === null) {
      // The commands hold the socket: one of them may have read the connection's error
      // (and taken it for an end of file) before this half could. The kernel's count of
      // what was never acknowledged tells a cut stream from one that ended whole.
      error = `sending failed: ${lost} bytes written were never acknowledged: ` +
        (takeSocketError(this.fd) ?? "the connection timed out or was reset");
    }
    const info = tcpInfo(this.fd);
    const finReceived = error === null ? 1 : 0;
    const finAcked = OUR_FIN_ACKED_STATES.has(info.state) ? 1 : 0;
    const received = Math.max(0, info.bytesReceived - this.handshakeReceived - finReceived);
    const counts: ByteCounts = {
      sent: Math.max(0, info.bytesAcked - this.ackedAtStart - finAcked),
      received,
      delivered: received - drained,
    };
    this.#final = { sent: counts.sent, received: counts.received };
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
    return { counts, error };
  }
}

/**
 * What a command prints when it reopened its input or output by name, which the kernel
 * refuses for a socket (ENXIO): `cat: /dev/stdin: No such device or address`.
 */
const REOPENED_BY_NAME =
  /\/(dev\/(stdin|stdout|fd\/\d+)|proc\/self\/fd\/\d+)\S*: No such device or address/;

/**
 * Watches the remote command's stderr for the words that show it reopened its input or
 * output by name (looked for in each chunk, with the end of the one before); sets
 * `seen.reopenedByName` once they appear.
 */
function lookForReopening(seen: { reopenedByName: boolean }): (chunk: Uint8Array) => void {
  let tail = "";
  return (chunk) => {
    if (seen.reopenedByName) return;
    const text = tail + new TextDecoder().decode(chunk);
    seen.reopenedByName = REOPENED_BY_NAME.test(text);
    tail = text.slice(-200);
  };
}

/** What arrives on `fd` (never blocking this thread) until end of file; then closes it. */
async function* chunksOf(fd: number): AsyncGenerator<Uint8Array> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (let count; (count = await readSome(fd, buffer)) > 0;) yield buffer.subarray(0, count);
  } finally {
    closeFd(fd);
  }
}

/** Polls `condition` until it holds or `ms` pass; the kernel gives no event for these. */
async function waitUntil(condition: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
