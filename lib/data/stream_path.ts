import { statusOfChild } from "../base/command_status.ts";
import { LastLines } from "../base/last_lines.ts";
import { type CommandSink, commandSink, NO_READER } from "./command_sink.ts";
import { exactInvocation } from "../platform/exact_spawn.ts";
import { shutdownRead } from "../platform/file_descriptors.ts";
import { socketFdOf } from "../platform/deno_internals.ts";
import { keepInheritedIgnores } from "../platform/inherited_signals.ts";
import type {
  ByteCounts,
  DataPath,
  LocalTransfer,
  RemoteTransfer,
  RunningCommand,
  Transfer,
  WireOptions,
} from "./data_path.ts";
import { messageOf } from "../base/message_of.ts";
import { type DataWire, plainWire, sealedWire } from "../net/data_wire.ts";
import { Pacer } from "./pacer.ts";
import { readyUserspaceCipher } from "../net/records.ts";
import type { ProcessTree } from "../process/process_tree.ts";
import { relayToStderr, released, startRole } from "./roles.ts";

/** The default capacity of a Linux pipe. */
const PIPE_PIECE = 64 * 1024;

/**
 * The portable data path: commands run under `Deno.Command` with pipes, and socketpipe
 * copies between the pipes and the socket with backpressure (one chunk in flight per
 * direction, so memory stays bounded whatever the stream's size or speed).
 *
 * @example Not run as a test: it needs a data connection and starts commands.
 * ```ts ignore
 * import { streamPath } from "./stream_path.ts";
 * declare const conn: Deno.TcpConn;
 * const transfer = await streamPath.startRemote(conn, ["gzip", "-c"], { input: true, output: true });
 * console.log(await transfer.command.status);
 * ```
 */
export const streamPath: DataPath = {
  name: "stream",
  because: "no other path can run here",
  askedBy: "--copy",

  unavailable: () => null,
  unsealable: () => null,
  engine: "userspace",

  pacedBy: "the copy loop",

  async startLocal(conn, commands, tree, wire = {}): Promise<LocalTransfer> {
    if (wire.keys) await readyUserspaceCipher();
    const input = commands.input
      ? startCommand(commands.input, "input", {
        stdin: "inherit",
        stdout: "piped",
        stderr: "inherit",
      }, tree)
      : undefined;
    const output = commands.output
      ? startCommand(commands.output, "output", {
        stdin: "piped",
        stdout: "inherit",
        stderr: "inherit",
      }, tree)
      : undefined;
    const transfer = copyBothWays(
      conn,
      wireOf(conn, wire),
      input?.child?.stdout,
      output?.child ? commandSink(output.child.stdin, output.stdinPipe?.fd ?? null) : undefined,
      pacerOf(wire),
    );
    return { ...transfer, input: input?.running, output: output?.running };
  },

  async startRemote(conn, command, wiring, tree, wire = {}): Promise<RemoteTransfer> {
    if (wire.keys) await readyUserspaceCipher();
    // The command's stderr comes through this half rather than straight from the login
    // channel: if this half dies, the login channel then closes, so the local half
    // learns of it even while the command lives on.
    const started = startCommand(command, "remote", {
      stdin: wiring.input ? "piped" : "null",
      stdout: wiring.output ? "piped" : "null",
      stderr: "piped",
    }, tree);
    const { child, stdinPipe } = started;
    const lastWords = new LastLines();
    if (child) relayToStderr(child.stderr, (chunk) => lastWords.add(chunk));
    const transfer = copyBothWays(
      conn,
      wireOf(conn, wire),
      wiring.output ? child?.stdout : undefined,
      // A command that never started reads nothing, as a pipe with no reader: the sender
      // must learn it at once, not have its stream drained for ever.
      wiring.input
        ? child ? commandSink(child.stdin, stdinPipe?.fd ?? null) : NO_READER
        : undefined,
      pacerOf(wire),
    );
    // As a pipe's writer is done only when its last reader is: a background reader that
    // has the input still to read (or is still reading it) keeps the run from its report,
    // after which whatever the command left running is stopped.
    const finished = !stdinPipe ? transfer.finished : transfer.finished.then(
      async (result) => {
        await released(started.running, tree, new Set([stdinPipe.name]));
        return result;
      },
    );
    return {
      ...transfer,
      finished,
      command: started.running,
      lastWords: () => lastWords.lines(),
    };
  },
};

type Stdio = Pick<Deno.CommandOptions, "stdin" | "stdout" | "stderr">;

/**
 * Starts a command with Deno. With its stdin piped, `stdinPipe` is the pipe this process
 * newly holds for writing (the command's stdin): its name in `/proc/self/fd` and its fd.
 */
function startCommand(
  argv: readonly string[],
  role: string,
  stdio: Stdio,
  tree: ProcessTree,
): {
  running: RunningCommand;
  child: Deno.ChildProcess | null;
  stdinPipe: { name: string; fd: number } | null;
} {
  let child: Deno.ChildProcess | null = null;
  const before = stdio.stdin === "piped" ? pipesOpenForWriting() : null;
  const running = startRole(argv, role, tree, (ownGroup) => {
    // A group of its own is a new session, for Deno.
    const [program, args] = exactInvocation(argv);
    keepInheritedIgnores(); // inherited by the command, as a shell's commands inherit them
    child = new Deno.Command(program, {
      args,
      ...stdio,
      env: tree.environment(role),
      detached: ownGroup,
    }).spawn();
    return { pid: child.pid, status: statusOfChild(child) };
  });
  if (!before || !child) return { running, child, stdinPipe: null };
  // The command's stdin is the one pipe this process newly holds for writing.
  const added = [...pipesOpenForWriting()].filter(([name]) => !before.has(name));
  const stdinPipe = added.length === 1 ? { name: added[0][0], fd: added[0][1] } : null;
  return { running, child, stdinPipe };
}

/** The connection as the copy loops use it: sealed in records when the run is encrypted. */
function wireOf(conn: Deno.TcpConn, wire: WireOptions): DataWire {
  return wire.keys ? sealedWire(conn, wire.keys) : plainWire(conn);
}

/** What holds the sending loop to `--limit`, if there is one. */
function pacerOf(wire: WireOptions): Pacer | undefined {
  return wire.limit ? new Pacer(wire.limit) : undefined;
}

/** Copies `source` into the socket and the socket into `sink`, each on its own. */
function copyBothWays(
  socket: Deno.TcpConn,
  conn: DataWire,
  source: ReadableStream<Uint8Array> | undefined,
  sink: CommandSink | undefined,
  pacer?: Pacer,
): Transfer {
  const counts: ByteCounts = { sent: 0, received: 0, delivered: 0 };
  const stop = new AbortController();
  // Once the run stops the transfer, the failures that follow are its own doing (the
  // connection it closed), not news about the connection: they are not reported.
  const aborted = new AbortController();
  let reportConsumerGone = () => {};
  const consumerGone = new Promise<void>((resolve) => reportConsumerGone = resolve);
  const sending = copyIntoSocket(source, conn, counts, stop.signal, pacer);
  const progress = { endOfStream: false, waitingOnPeer: false };
  const receiving = copyOutOfSocket(conn, sink, counts, reportConsumerGone, progress);
  const finished = Promise.all([sending, receiving]).then(([sendError, receiveError]) => {
    conn.close();
    return { counts, error: aborted.signal.aborted ? null : sendError ?? receiveError };
  });
  return {
    stopSending: () => stop.abort(),
    waitingOnPeer: () => progress.waitingOnPeer,
    // The socket has taken every byte once its sending side closed without a failure.
    allSent: sending.then((failure) =>
      failure || aborted.signal.aborted ? new Promise<number>(() => {}) : counts.sent
    ),
    endReceiving: () => {
      // The copy loop then reads what has arrived, and end of file. Without FFI, or with
      // Deno's internals not as verified, nothing is done: closing the connection would
      // fail the read, and the run would end on the FIN or the dead-peer bound as before.
      try {
        shutdownRead(socketFdOf(socket));
      } catch {
        // As said.
      }
    },
    abort: () => {
      aborted.abort();
      stop.abort();
      conn.close();
    },
    consumerGone,
    finished,
    moved: () => ({ sent: counts.sent, received: counts.received }),
  };
}

/** Returns the connection's failure as one line, or null. */
async function copyIntoSocket(
  source: ReadableStream<Uint8Array> | undefined,
  conn: DataWire,
  counts: ByteCounts,
  stop: AbortSignal,
  pacer?: Pacer,
): Promise<string | null> {
  let failure: string | null = null;
  if (source) {
    const reader = source.getReader();
    const closeSource = () => reader.cancel().catch(() => {});
    stop.addEventListener("abort", closeSource, { once: true });
    if (stop.aborted) closeSource();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        failure = await send(conn, value, counts, stop, pacer);
        if (failure) {
          closeSource();
          break;
        }
      }
    } catch {
      // The producer's pipe failed: its status tells why.
    } finally {
      stop.removeEventListener("abort", closeSource);
    }
  }
  if (!failure) {
    try {
      await conn.closeWrite();
    } catch (error) {
      // A connection already closed (the run stopping it) has no sending side to close.
      if (!(error instanceof Deno.errors.BadResource)) {
        failure = `closing the sending side failed: ${messageOf(error)}`;
      }
    }
  }
  return failure;
}

/** Sends `bytes`, in pieces held to the pacer's rate if there is one; returns the failure line. */
async function send(
  conn: DataWire,
  bytes: Uint8Array,
  counts: ByteCounts,
  stop: AbortSignal,
  pacer: Pacer | undefined,
): Promise<string | null> {
  const piece = pacer?.pieceSize() ?? bytes.length;
  for (let at = 0; at < bytes.length && !stop.aborted; at += piece) {
    const part = bytes.subarray(at, at + piece);
    try {
      await conn.write(part);
    } catch (error) {
      return `sending failed after ${counts.sent} bytes: ${messageOf(error)}`;
    }
    counts.sent += part.length;
    const wait = pacer?.waitAfter(part.length) ?? 0;
    if (wait > 0) await delay(wait, stop);
  }
  return null;
}

/** Resolves after `ms`, or at once when `stop` aborts. */
function delay(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      stop.removeEventListener("abort", done);
      resolve();
    }
    stop.addEventListener("abort", done, { once: true });
  });
}

/** Returns the connection's failure as one line, or null. */
async function copyOutOfSocket(
  conn: DataWire,
  sink: CommandSink | undefined,
  counts: ByteCounts,
  reportConsumerGone: () => void,
  progress: { endOfStream: boolean; waitingOnPeer: boolean },
): Promise<string | null> {
  let consumerTakes = sink !== undefined;
  let failure: string | null = null;
  for (;;) {
    let buffer: Uint8Array | null;
    progress.waitingOnPeer = true;
    try {
      buffer = await conn.read();
    } catch (error) {
      failure = `receiving failed after ${counts.received} bytes: ${messageOf(error)}`;
      break;
    } finally {
      progress.waitingOnPeer = false;
    }
    if (buffer === null) break;
    const count = buffer.length;
    counts.received += count;
    if (!consumerTakes) continue; // keep draining, so the peer is never reset mid-stream
    // In pieces no larger than a pipe holds, so that a consumer that stops is known to
    // have been handed what it was counted for, not a whole chunk or nothing.
    for (let at = 0; at < count && consumerTakes; at += PIPE_PIECE) {
      const piece = buffer.subarray(at, Math.min(count, at + PIPE_PIECE));
      const taken = await sink!.write(piece).catch(() => 0);
      counts.delivered += taken;
      if (taken < piece.length) {
        // It stopped reading: what it read is what its pipe took, less what is still there.
        counts.delivered -= sink!.leftUnread();
        consumerTakes = false;
        reportConsumerGone();
      }
    }
  }
  // Set before the consumer can see end of file, so a consumer that ends after reading
  // the whole stream is never taken for one that stopped early.
  progress.endOfStream = failure === null && consumerTakes;
  await sink?.close();
  return failure;
}

/**
 * The pipes this process holds open for writing, as `/proc/self/fd` names them
 * (`pipe:[1234]`), each with its fd; empty where there is no `/proc`.
 */
function pipesOpenForWriting(): Map<string, number> {
  const pipes = new Map<string, number>();
  try {
    for (const entry of Deno.readDirSync("/proc/self/fd")) {
      try {
        const target = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
        if (!target.startsWith("pipe:")) continue;
        const info = Deno.readTextFileSync(`/proc/self/fdinfo/${entry.name}`);
        const flags = info.match(/^flags:\s+([0-7]+)$/m);
        if (flags && (parseInt(flags[1], 8) & 3) === 1) pipes.set(target, Number(entry.name)); // O_WRONLY
      } catch {
        // Closed meanwhile.
      }
    }
  } catch {
    // No /proc: the run ends with the command, as before.
  }
  return pipes;
}
