import { LastLines } from "../base/last_lines.ts";
import { type CommandSink, type CommandSource, NO_READER } from "./command_pipes.ts";
import { delay } from "../base/clock.ts";
import { startPipedCommand } from "./piped_command.ts";
import { shutdownRead } from "../platform/file_descriptors.ts";
import { socketFdOf } from "../platform/deno_internals.ts";
import type {
  ByteCounts,
  DataPath,
  LocalTransfer,
  RemoteTransfer,
  Transfer,
  WireOptions,
} from "./data_path.ts";
import { messageOf } from "../base/message_of.ts";
import { type DataWire, plainWire, sealedWire } from "../net/data_wire.ts";
import { Pacer } from "./pacer.ts";
import { readyUserspaceCipher } from "../net/record_cipher.ts";
import { relayToStderr, released, STDERR_GRACE_MS } from "./roles.ts";
import { settledWithin } from "../base/settled_within.ts";
import { startCopyEngine } from "./copy_engine.ts";

/** The default capacity of a Linux pipe. */
const PIPE_PIECE = 64 * 1024;

/**
 * The portable data path: commands run with pipes (`piped_command.ts`), and socketpipe
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
  kernelPaces: false,

  async startLocal(conn, commands, tree, wire = {}): Promise<LocalTransfer> {
    if (wire.keys) await readyUserspaceCipher();
    const input = commands.input
      ? startPipedCommand(commands.input, "input", {
        stdin: "inherit",
        stdout: "piped",
        stderr: "inherit",
      }, tree)
      : undefined;
    const output = commands.output
      ? startPipedCommand(commands.output, "output", {
        stdin: "piped",
        stdout: "inherit",
        stderr: "inherit",
      }, tree)
      : undefined;
    const transfer = await startCopying(
      conn,
      wire,
      input?.stdout,
      output ? output.stdin ?? NO_READER : undefined,
    );
    return { ...transfer, input: input?.running, output: output?.running };
  },

  async startRemote(conn, command, wiring, tree, wire = {}): Promise<RemoteTransfer> {
    if (wire.keys) await readyUserspaceCipher();
    // The command's stderr comes through this half rather than straight from the login
    // channel: if this half dies, the login channel then closes, so the local half
    // learns of it even while the command lives on.
    const started = startPipedCommand(command, "remote", {
      stdin: wiring.input ? "piped" : "null",
      stdout: wiring.output ? "piped" : "null",
      stderr: "piped",
    }, tree);
    const lastWords = new LastLines();
    const stderrRelayed = started.stderr
      ? relayToStderr(started.stderr, (chunk) => lastWords.add(chunk))
      : Promise.resolve();
    const transfer = await startCopying(
      conn,
      wire,
      wiring.output ? started.stdout : undefined,
      // A command that never started reads nothing, as a pipe with no reader: the sender
      // must learn it at once, not have its stream drained for ever.
      wiring.input ? started.stdin ?? NO_READER : undefined,
    );
    // As a pipe's writer is done only when its last reader is: a background reader that
    // has the input still to read (or is still reading it) keeps the run from its report,
    // after which whatever the command left running is stopped.
    const stdinPipe = started.stdinPipe;
    const finished = transfer.finished.then(async (result) => {
      if (stdinPipe) await released(started.running, tree, new Set([stdinPipe]));
      // The command's last words are relayed, and kept for the report, before it goes.
      await settledWithin(stderrRelayed, STDERR_GRACE_MS);
      return result;
    });
    return {
      ...transfer,
      finished,
      command: started.running,
      lastWords: () => lastWords.lines(),
    };
  },
};

/**
 * Copies `source` into the socket and the socket into `sink`: in the copy engine's
 * workers where they can run, else on this thread (its `-v` line says why).
 */
async function startCopying(
  conn: Deno.TcpConn,
  wire: WireOptions,
  source: CommandSource | undefined,
  sink: CommandSink | undefined,
): Promise<Transfer> {
  const engine = await startCopyEngine({ conn, source, sink }, wire);
  if (typeof engine !== "string") return engine;
  const transfer = copyBothWays(conn, wireOf(conn, wire), source, sink, pacerOf(wire));
  return { ...transfer, copiedBy: `copy engine: the main thread (${engine})` };
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
  source: CommandSource | undefined,
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
  const progress = { waitingOnPeer: false };
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
  source: CommandSource | undefined,
  conn: DataWire,
  counts: ByteCounts,
  stop: AbortSignal,
  pacer?: Pacer,
): Promise<string | null> {
  let failure: string | null = null;
  if (source) {
    const closeSource = () => source.cancel();
    stop.addEventListener("abort", closeSource, { once: true });
    if (stop.aborted) closeSource();
    try {
      for (let chunk; (chunk = await source.read()) !== null;) {
        failure = await send(conn, chunk, counts, stop, pacer);
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

/** Returns the connection's failure as one line, or null. */
async function copyOutOfSocket(
  conn: DataWire,
  sink: CommandSink | undefined,
  counts: ByteCounts,
  reportConsumerGone: () => void,
  progress: { waitingOnPeer: boolean },
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
  await sink?.close();
  return failure;
}
