/**
 * The stream path's copy engine off the main thread: each direction moves in a worker of
 * its own (`engine_worker.ts`), with plain system calls on the descriptors themselves, so
 * both run at once and neither waits on the main thread, which only supervises: the
 * counts, the end of each direction, the peer's stop and the run's abort. Where workers,
 * FFI or OpenSSL cannot be had, or the commands' pipes are Deno's, the stream path copies
 * on the main thread as before, and says why.
 *
 * @module
 */
import { closeFd, makePipe, shutdownBoth, shutdownRead } from "../platform/file_descriptors.ts";
import { libc, libcUnavailableReason } from "../platform/libc.ts";
import { openSslAvailable } from "../platform/libcrypto.ts";
import { detachFromEventLoops, socketFdOf } from "../platform/deno_internals.ts";
import { messageOf } from "../base/message_of.ts";
import { settledWithin } from "../base/settled_within.ts";
import type { WireOptions } from "./data_path.ts";
import type { CommandSink, CommandSource } from "./command_pipes.ts";
import type { Transfer } from "./data_path.ts";
import {
  type Direction,
  ENGINE_WORKER_NAME,
  engineBroke,
  type EngineJob,
  type EngineReport,
  EngineState,
} from "./engine_state.ts";
import "./engine_worker.ts";
import { superviseResumable } from "./resumable_engine.ts";
import { cannotResume } from "./cannot_resume.ts";

/** The `-v` line of the engine, when it runs. */
export const WORKERS_LINE = "copy engine: a worker thread for each direction";

/** How long a worker may take to load before the main thread copies instead. */
const WORKER_START_MS = 10_000;

/** What the engine moves between: the data socket and the command's pipes. */
export interface EngineEnds {
  /** The data connection. */
  conn: Deno.TcpConn;
  /** The producer's stdout, if this half sends. */
  source?: CommandSource;
  /** The consumer's stdin; absent where the stream is read and dropped. */
  sink?: CommandSink;
}

/**
 * Starts the engine on `ends`; resolves with its transfer, or with why it cannot run here
 * (the caller then copies on the main thread, and says so).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startCopyEngine } from "./copy_engine.ts";
 * import { closeFd, makePipe, writeToPipe } from "../platform/file_descriptors.ts";
 * import { pipeSource } from "./command_pipes.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * const peer = await listener.accept();
 * const [readEnd, writeEnd] = makePipe();
 * await writeToPipe(writeEnd, new Uint8Array(60_000).fill(1));
 * closeFd(writeEnd);
 * const transfer = await startCopyEngine({ conn, source: pipeSource(readEnd) }, {});
 * assert.ok(typeof transfer !== "string");
 * // Read to its end, which closes the peer: the engine's receiving ends too.
 * const arrived = new Uint8Array(await new Response(peer.readable).arrayBuffer());
 * const { counts, error } = await transfer.finished;
 * assert.deepEqual([arrived.length, counts.sent, error], [60_000, 60_000, null]);
 * listener.close();
 * ```
 */
export async function startCopyEngine(
  ends: EngineEnds,
  wire: WireOptions,
): Promise<Transfer | string> {
  // Under --reconnect both loops run whatever this half has: each says where its stream
  // stands, and confirms the other's. The main thread's loops cannot frame the stream, so
  // a run that cannot have the engine fails rather than falls back.
  const reconnect = wire.reconnect?.rejoin ? wire.reconnect : undefined;
  const without = (why: string) => reconnect ? cannotResume(ends, why) : why;
  const unavailable = engineUnavailable(ends, wire);
  if (typeof unavailable === "string") return without(unavailable);
  const socket = unavailable.socket;
  const directions: Direction[] = ends.source || reconnect ? ["send", "receive"] : ["receive"];
  const workers = await Promise.all(directions.map(startWorker));
  const failed = workers.find((worker) => typeof worker === "string");
  if (failed !== undefined) {
    for (const worker of workers) if (typeof worker !== "string") worker.end();
    return without(failed as string);
  }
  // Nothing of Deno's reads or writes it any more: data arriving must not wake the main
  // thread's event loop at every turn (measured: 0.15 CPU s per GB on the receiving half).
  // Only now: should a worker not load, the copy loops need the socket as Deno has it.
  detachFromEventLoops(socket);
  if (reconnect) {
    const [sender, receiver] = workers as EngineWorker[];
    return superviseResumable({ ...ends, socket, sender, receiver }, wire, reconnect);
  }
  const [sender, receiver] = ends.source
    ? workers as EngineWorker[]
    : [null, workers[0] as EngineWorker];
  return superviseWorkers({ ...ends, socket, sender, receiver }, wire);
}

/** Why the engine cannot run on `ends`, or the socket's descriptor. */
function engineUnavailable(ends: EngineEnds, wire: WireOptions): string | { socket: number } {
  if (typeof Worker === "undefined") return "workers are not available";
  if (!libc()) return libcUnavailableReason() ?? "no native bindings";
  if (wire.keys && !openSslAvailable()) return "OpenSSL cannot be loaded through FFI";
  const pipes = [ends.source, ends.sink].filter((end) => end !== undefined);
  if (pipes.some((end) => end.fd === undefined)) return "the commands' pipes are Deno's";
  try {
    return { socket: socketFdOf(ends.conn) };
  } catch (error) {
    return `the data socket cannot be found: ${messageOf(error)}`;
  }
}

/** How a direction ended: its failure's line, or null; and whether its worker broke. */
export type Ended = Omit<Extract<EngineReport, { event: "done" }>, "event">;

/** What the main thread hears from a worker while it runs its job. */
export interface Hearing {
  /** Receiving: the consumer stopped reading. */
  consumerGone(): void;
  /** Receiving, with `--reconnect`: the peer's end of the stream arrived. */
  receivedEnd?(): void;
  /** Sending, with `--reconnect`: told to stop, it reads the producer's pipe no more. */
  sourceReleased?(): void;
}

/** One direction's worker, loaded and waiting for its job. */
export interface EngineWorker {
  direction: Direction;
  /**
   * Sends the job; resolves with the direction's failure, or null, when it has ended; with
   * `--reconnect`, with the cause when its connection was cut (it then waits for the next job).
   */
  run(job: Omit<EngineJob, "direction" | "wake">, hear: Hearing): Promise<Ended | { cut: string }>;
  /**
   * Wakes the worker from a wait on a command's pipe, or a pause, to look at its stop flag:
   * once (the loops without `--reconnect` never read the wake), or `again` (they do).
   */
  wake(again?: boolean): void;
  /** The write end of its wake pipe: another worker may wake it too (`EngineJob.poke`). */
  readonly wakeFd: number;
  /** Ends the worker (once its direction has ended, or it never began). */
  end(): void;
}

/** Starts a worker for `direction`; resolves once it is loaded, or with why it is not. */
export async function startWorker(direction: Direction): Promise<EngineWorker | string> {
  let worker: Worker;
  try {
    worker = new Worker(engineModule(), { type: "module", name: ENGINE_WORKER_NAME });
  } catch (error) {
    return `a worker cannot start: ${messageOf(error)}`;
  }
  let onReport = (_report: EngineReport) => {};
  let onError = (_message: string) => {};
  worker.onmessage = (event: MessageEvent<EngineReport>) => onReport(event.data);
  worker.onerror = (event) => {
    // Told here, as the direction's failure, rather than ending the whole process.
    event.preventDefault();
    onError(event.message);
  };
  const loaded = new Promise<string | null>((resolve) => {
    onReport = (report) => report.event === "ready" && resolve(null);
    onError = (message) => resolve(`a worker cannot start: ${message}`);
  });
  const failedToLoad = await settledWithin(loaded, WORKER_START_MS)
    ? await loaded
    : `a worker did not start within ${WORKER_START_MS / 1000} s`;
  if (failedToLoad) {
    worker.terminate();
    return failedToLoad;
  }
  const [wakeEnd, wakeWrite] = makePipe();
  let woken = false;
  return {
    direction,
    wakeFd: wakeWrite,
    run(job, hear) {
      return new Promise((resolve) => {
        onReport = (report) => {
          if (report.event === "consumer-gone") hear.consumerGone();
          if (report.event === "received-end") hear.receivedEnd?.();
          if (report.event === "source-released") hear.sourceReleased?.();
          if (report.event === "cut") resolve({ cut: report.why });
          if (report.event === "done") resolve(report);
        };
        onError = (message) => resolve({ failure: engineBroke(direction, message), crashed: true });
        worker.postMessage({ ...job, direction, wake: wakeEnd } satisfies EngineJob);
      });
    },
    wake(again = false) {
      // One byte, once: the worker never reads it, so every wait after it returns at once.
      if (!woken || again) libc()?.write(wakeWrite, new Uint8Array(1), 1n);
      woken = true;
    },
    end() {
      worker.terminate();
      closeFd(wakeEnd);
      closeFd(wakeWrite);
    },
  };
}

/** The worker's module: this file's sibling, or, bundled, the bundle itself. */
function engineModule(): URL {
  const here = new URL(import.meta.url);
  return here.pathname.endsWith(".ts") ? new URL("./engine_worker.ts", here) : here;
}

/**
 * The transfer of running workers: the main thread tells them to stop, reads their counts,
 * and, once both directions have ended, closes the commands' pipes and the connection. A
 * worker that broke stops the other one too: the run then fails with its line.
 */
function superviseWorkers(
  ends: EngineEnds & { socket: number; sender: EngineWorker | null; receiver: EngineWorker },
  wire: WireOptions,
): Transfer {
  const { socket, sender, receiver, source, sink } = ends;
  const state = new EngineState();
  let aborted = false;
  let crashed: string | null = null;
  const stopBoth = () => {
    state.stop("send");
    state.stop("receive");
    sender?.wake();
    receiver.wake();
    shutdownBoth(socket);
  };
  const whenBroken = (ended: Ended | { cut: string }) => {
    // Without --reconnect a loop never waits for another connection.
    const { failure, crashed: broke } = "cut" in ended
      ? { failure: ended.cut, crashed: false }
      : ended;
    if (broke && crashed === null) {
      crashed = failure;
      stopBoth();
    }
    return failure;
  };
  let reportConsumerGone = () => {};
  const consumerGone = new Promise<void>((resolve) => reportConsumerGone = resolve);
  const sending = (sender
    ? sender.run(
      { socket, pipe: source!.fd!, keys: wire.keys?.send, limit: wire.limit, shared: state.buffer },
      { consumerGone: () => {} },
    ).then(whenBroken)
    : closeWriteOf(ends.conn)).finally(() => source?.cancel());
  const receiving = receiver.run(
    { socket, pipe: sink ? sink.fd! : null, keys: wire.keys?.receive, shared: state.buffer },
    { consumerGone: reportConsumerGone },
  ).then(whenBroken).finally(() => sink?.close());
  const finished = Promise.all([sending, receiving]).then(([sendError, receiveError]) => {
    sender?.end();
    receiver.end();
    ends.conn.close();
    const counts = {
      sent: state.count("sent"),
      received: state.count("received"),
      delivered: state.count("delivered"),
    };
    return { counts, error: aborted ? null : crashed ?? sendError ?? receiveError };
  });
  return {
    stopSending: () => {
      state.stop("send");
      sender?.wake();
    },
    waitingOnPeer: () => state.waitingOnPeer(),
    // The socket has taken every byte once its sending side closed without a failure.
    allSent: sending.then((failure) =>
      failure || aborted ? new Promise<number>(() => {}) : state.count("sent")
    ),
    endReceiving: () => void shutdownRead(socket),
    abort: () => {
      aborted = true;
      stopBoth();
    },
    consumerGone,
    finished,
    moved: () => ({ sent: state.count("sent"), received: state.count("received") }),
    copiedBy: WORKERS_LINE,
  };
}

/** Half-closes a connection this half sends nothing on; returns the failure's line, or null. */
async function closeWriteOf(conn: Deno.TcpConn): Promise<string | null> {
  try {
    await conn.closeWrite();
    return null;
  } catch (error) {
    return `closing the sending side failed: ${messageOf(error)}`;
  }
}
