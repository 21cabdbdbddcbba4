import { LastLines } from "../base/last_lines.ts";
import { settledWithin } from "../base/settled_within.ts";
import { HANDSHAKE_LENGTH } from "../net/handshake.ts";
import { closeFd, makePipe, openDevNull } from "../platform/file_descriptors.ts";
import { chunksOfPipe } from "./command_pipes.ts";
import { libc, libcUnavailableReason } from "../platform/libc.ts";
import type { ProcessTree } from "../process/process_tree.ts";
import type { DataPath, LocalTransfer, RemoteTransfer, Transfer } from "./data_path.ts";
import { DataSocket } from "./data_socket.ts";
import { kernelTlsUnavailable } from "../platform/kernel_tls.ts";
import { relayToStderr, released, startWithFds, STDERR_GRACE_MS } from "./roles.ts";
import { streamPath } from "./stream_path.ts";

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

  unsealable: kernelTlsUnavailable,
  engine: "kernel",

  pacedBy: "the kernel's pacing of the socket the commands hold (nothing copied)",
  kernelPaces: true,

  async startLocal(conn, commands, tree, wire = {}): Promise<LocalTransfer> {
    const socket = await DataSocket.open(conn, HANDSHAKE_LENGTH, wire);
    if ("sealRefused" in socket) {
      const transfer = await streamPath.startLocal(conn, commands, tree, wire);
      return { ...transfer, ...refusal(socket.sealRefused) };
    }
    const holds = new Set([socket.file]);
    // Both local commands hold the one socket: each also gets a marker of its role, so
    // that an orphan whose environment no longer names it still tells whose it is.
    const markers = commands.input && commands.output ? roleMarkers(tree) : null;
    const input = commands.input
      ? startWithFds(commands.input, "input", {
        stdin: 0,
        stdout: socket.fd,
        stderr: 2,
        extra: markers ? [[markers.input, ROLE_MARKER_FD]] : [],
      }, tree)
      : undefined;
    const output = commands.output
      ? startWithFds(commands.output, "output", {
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
      endReceiving: () => socket.endReceiving(),
      waitingOnPeer: () => socket.allRead(),
      allSent: socket.allSent,
      abort: () => socket.abort(),
      consumerGone,
      finished,
      moved: () => socket.moved(),
    };
  },

  async startRemote(conn, command, wiring, tree, wire = {}): Promise<RemoteTransfer> {
    const socket = await DataSocket.open(conn, HANDSHAKE_LENGTH, wire);
    if ("sealRefused" in socket) {
      const transfer = await streamPath.startRemote(conn, command, wiring, tree, wire);
      return { ...transfer, ...refusal(socket.sealRefused) };
    }
    const devNull = wiring.input && wiring.output ? -1 : openDevNull();
    // The command's stderr comes through this half rather than straight from the login
    // channel: if this half dies, the login channel then closes, so the local half
    // learns of it even while the command, holding the socket, lives on.
    const [stderrIn, stderrOut] = makePipe();
    const running = startWithFds(command, "remote", {
      stdin: wiring.input ? socket.fd : devNull,
      stdout: wiring.output ? socket.fd : devNull,
      stderr: stderrOut,
    }, tree);
    closeFd(stderrOut);
    if (devNull >= 0) closeFd(devNull);
    const seen = { reopenedByName: false };
    const lookForReopeningIn = lookForReopening(seen);
    const lastWords = new LastLines();
    const stderrRelayed = relayToStderr(chunksOfPipe(stderrIn), (chunk) => {
      lookForReopeningIn(chunk);
      lastWords.add(chunk);
    });
    if (!wiring.output) socket.stopSending();
    // The command is done with the socket when neither it nor anything it started holds
    // it: its output has then ended, and if the input has not, it stopped reading.
    const done = released(running, tree, new Set([socket.file])).then(() => {
      socket.stopSending();
      return wiring.input && !socket.atEndOfStream();
    });
    const finished = done.then(async () => {
      await settledWithin(stderrRelayed, STDERR_GRACE_MS);
      return socket.finish();
    });
    return {
      command: running,
      stopSending: () => socket.stopSending(),
      endReceiving: () => socket.endReceiving(),
      waitingOnPeer: () => socket.allRead(),
      allSent: socket.allSent,
      abort: () => socket.abort(),
      consumerGone: done.then((early) => early ? undefined : new Promise<void>(() => {})),
      finished,
      moved: () => socket.moved(),
      reopenedByName: () => seen.reopenedByName,
      lastWords: () => lastWords.lines(),
    };
  },
};

/** Where the kernel refused to seal the socket: the stream path seals it instead. */
function refusal(cause: string): Pick<Transfer, "fellBack"> {
  return {
    fellBack: { path: streamPath, because: `the kernel refused to seal the data socket: ${cause}` },
  };
}

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
