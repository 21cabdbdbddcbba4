/**
 * The copy engine's two loops, each run on a worker thread of its own: from a command's
 * pipe into the data socket (sealing records with `--encrypt`, held to `--limit`), and from
 * the socket into a command's pipe (opening records in place). They make plain system
 * calls, which may block the worker's thread and nothing else; the main thread only reads
 * their counts and flags ({@link EngineState}) and wakes them to stop.
 *
 * @module
 */
import { Errno } from "../platform/libc.ts";
import { messageOf } from "../base/message_of.ts";
import { RECORD_DATA_MAX, RecordOpener, RecordSealer, sealedLength } from "../net/records.ts";
import { Pacer } from "./pacer.ts";
import type { EngineJob, EngineState } from "./engine_state.ts";

/** The system calls the loops make: libc's (`engine_worker.ts`), or a test's. */
export interface EngineIo {
  /** read(2): the count, 0 at end of file, or minus the errno. */
  read(fd: number, into: Uint8Array): number;
  /** write(2): the count, or minus the errno. */
  write(fd: number, from: Uint8Array): number;
  /**
   * Waits until `fd` is ready to `what` (or has failed), `wake` is readable, or
   * `timeoutMs` has passed (-1: no limit), or, if given, `writable` can be written. A
   * negative `fd`, `wake` or `writable` is not waited on.
   */
  wait(
    fd: number,
    what: "read" | "write",
    wake: number,
    timeoutMs: number,
    writable?: number,
  ): void;
  /** shutdown(2) of the sending side: 0, or minus the errno. */
  shutdownWrite(fd: number): number;
  /** How many bytes are in a pipe, unread (FIONREAD). */
  unread(fd: number): number;
  /** The system's words for an errno, in lower case. */
  describe(errno: number): string;
}

/** Bytes read at a time: a pipe grown past its default gives up to this much at once. */
export const READ_SIZE = 256 * 1024;

/**
 * Copies the producer's pipe into the socket until its end of file, a failure, or the
 * main thread's stop; then half-closes the socket, so the peer reads the end of the
 * stream. A piece already begun is written whole (a cut record would read as tampering).
 * Returns the failure's line, or null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EngineState } from "./engine_state.ts";
 * import { type EngineIo, sendFromPipe } from "./engine_loops.ts";
 * const written: number[] = [];
 * let reads = 0;
 * const io = {
 *   read: (_fd: number, into: Uint8Array) => reads++ ? 0 : into.fill(7, 0, 3) && 3,
 *   write: (_fd: number, from: Uint8Array) => (written.push(from.length), from.length),
 *   wait: () => {}, shutdownWrite: () => 0, unread: () => 0, describe: String,
 * } as EngineIo;
 * const state = new EngineState();
 * const job = { direction: "send", socket: 5, pipe: 6, wake: 7, shared: state.buffer } as const;
 * assert.equal(sendFromPipe(job, io, state), null);
 * assert.deepEqual(written, [3]);
 * assert.equal(state.count("sent"), 3);
 * ```
 */
export function sendFromPipe(job: EngineJob, io: EngineIo, state: EngineState): string | null {
  const { socket, pipe, wake } = job;
  const pacer = job.limit ? new Pacer(job.limit) : null;
  const sealer = job.keys ? new RecordSealer(job.keys) : null;
  const piece = pacer?.pieceSize() ?? READ_SIZE;
  const buffer = new Uint8Array(piece);
  const sealed = new Uint8Array(sealer ? sealedLength(piece) : 0);
  const stopped = () => state.stopped("send");
  while (pipe !== null && pipe >= 0 && !stopped()) {
    const count = io.read(pipe, buffer);
    if (count === -Errno.EAGAIN) io.wait(pipe, "read", wake, -1);
    if (count === -Errno.EAGAIN || count === -Errno.EINTR) continue;
    // The end of the producer's output, or its pipe failed: its status tells why.
    if (count <= 0) break;
    const data = buffer.subarray(0, count);
    const failed = writeAll(
      io,
      socket,
      sealer ? sealed.subarray(0, sealer.sealInto(data, sealed)) : data,
    );
    if (failed) return `sending failed after ${state.count("sent")} bytes: ${io.describe(failed)}`;
    state.add("sent", count);
    const wait = pacer?.waitAfter(count) ?? 0;
    if (wait > 0) io.wait(-1, "read", wake, Math.ceil(wait));
  }
  const closed = io.shutdownWrite(socket);
  return closed < 0 ? `closing the sending side failed: ${io.describe(-closed)}` : null;
}

/**
 * Writes all of `bytes` to the socket, waiting while it is full; returns 0, or the errno
 * of the failure. Not woken by a stop: the peer is reading (or the run aborts, which shuts
 * the socket, and the write fails).
 */
export function writeAll(io: EngineIo, socket: number, bytes: Uint8Array): number {
  for (let at = 0; at < bytes.length;) {
    const count = io.write(socket, bytes.subarray(at));
    if (count >= 0) at += count;
    else if (count === -Errno.EAGAIN) io.wait(socket, "write", -1, -1);
    else if (count !== -Errno.EINTR) return -count;
  }
  return 0;
}

/**
 * Copies the socket into the consumer's pipe until the peer's end of the stream (or the
 * main thread's shutdown of the receiving side), a failure, or the main thread's stop. A
 * consumer that stops reading is reported through `consumerGone` once, and the stream is
 * still read to its end, so the peer is never reset mid-stream. With keys, each record is
 * opened where it was read; one that fails is a failure, and none of its bytes is handed
 * over. Returns the failure's line, or null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EngineState } from "./engine_state.ts";
 * import { type EngineIo, receiveIntoPipe } from "./engine_loops.ts";
 * const arriving = [new Uint8Array([1, 2]), new Uint8Array(0)];
 * const delivered: number[] = [];
 * const io = {
 *   read: (_fd: number, into: Uint8Array) => (into.set(arriving[0]), arriving.shift()!.length),
 *   write: (_fd: number, from: Uint8Array) => (delivered.push(...from), from.length),
 *   wait: () => {}, shutdownWrite: () => 0, unread: () => 0, describe: String,
 * } as EngineIo;
 * const state = new EngineState();
 * const job = { direction: "receive", socket: 5, pipe: 6, wake: 7, shared: state.buffer } as const;
 * assert.equal(receiveIntoPipe(job, io, state, () => {}), null);
 * assert.deepEqual(delivered, [1, 2]);
 * assert.equal(state.count("delivered"), 2);
 * ```
 */
export function receiveIntoPipe(
  job: EngineJob,
  io: EngineIo,
  state: EngineState,
  consumerGone: () => void,
): string | null {
  const opener = job.keys ? new RecordOpener(job.keys) : null;
  const raw = new Uint8Array(READ_SIZE + (opener ? sealedLength(RECORD_DATA_MAX) : 0));
  const failed = (why: string) => `receiving failed after ${state.count("received")} bytes: ${why}`;
  let sink = job.pipe;
  let filled = 0;
  for (;;) {
    if (state.stopped("receive")) return null;
    state.setWaitingOnPeer(true);
    const count = io.read(job.socket, raw.subarray(filled));
    if (count === -Errno.EAGAIN) io.wait(job.socket, "read", job.wake, -1);
    if (count === -Errno.EAGAIN || count === -Errno.EINTR) continue;
    state.setWaitingOnPeer(false);
    if (count < 0) return failed(io.describe(-count));
    if (count === 0) return filled > 0 ? failed("the stream ended inside a record") : null;
    filled += count;
    let opened = { data: filled, used: filled };
    try {
      if (opener) opened = opener.openInPlace(raw.subarray(0, filled));
    } catch (error) {
      return failed(messageOf(error));
    }
    state.add("received", opened.data);
    if (sink !== null && opened.data > 0) {
      sink = deliver(io, sink, raw.subarray(0, opened.data), { job, state, consumerGone });
    }
    raw.copyWithin(0, opened.used, filled);
    filled -= opened.used;
  }
}

/**
 * Writes `bytes` into the consumer's pipe; returns the pipe, or null once the consumer has
 * stopped reading (what it read is then what its pipe took, less what is still there).
 */
export function deliver(
  io: EngineIo,
  sink: number,
  bytes: Uint8Array,
  on: { job: EngineJob; state: EngineState; consumerGone: () => void },
): number | null {
  // A consumer that could not start reads nothing, as a pipe with no reader.
  for (let at = 0; at < bytes.length && sink >= 0;) {
    const count = io.write(sink, bytes.subarray(at));
    if (count >= 0) {
      at += count;
      on.state.add("delivered", count);
    } else if (count === -Errno.EAGAIN) {
      io.wait(sink, "write", on.job.wake, -1);
      if (on.state.stopped("receive")) return sink;
    } else if (count !== -Errno.EINTR) {
      on.state.add("delivered", -io.unread(sink));
      break;
    }
    if (at === bytes.length) return sink;
  }
  on.consumerGone();
  return null;
}
