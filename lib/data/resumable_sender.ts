/**
 * The sending side of a stream that survives cuts (`--reconnect`): the producer's pipe into
 * the socket through a replay window, and the confirmations of the stream this half
 * receives (see `resumable_frames.ts`). One thread writes the socket, so no frame is ever
 * interleaved with another.
 *
 * @module
 */
import { Errno } from "../platform/libc.ts";
import { RecordSealer, sealedLength } from "../net/records.ts";
import { Pacer } from "./pacer.ts";
import { ReplayBlocks } from "./replay_blocks.ts";
import type { EngineJob, EngineState } from "./engine_state.ts";
import { type EngineIo, writeAll } from "./engine_loops.ts";
import {
  ACK,
  ACK_END,
  DATA,
  END,
  FRAME_DATA_MAX,
  HEADER,
  IDLE_MS,
  type LoopEnd,
  writeHeader,
} from "./resumable_frames.ts";

/** How a loop ends when the main thread saw its connection cut. */
const CUT = { cut: "the connection was cut" } as const;

/** Data at least this long is written apart from its header, straight from the window. */
const SEPARATE_WRITE = 128 * 1024;

/**
 * The sending side of a resumable stream: the producer's pipe into the socket, through
 * the replay window; and the confirmations of the stream this half receives. It outlives
 * its connections: {@link run} is called once per connection.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EngineState } from "./engine_state.ts";
 * import type { EngineIo } from "./engine_loops.ts";
 * import { ResumableSender } from "./resumable_sender.ts";
 * const wire: number[] = [];
 * let reads = 0;
 * const io = {
 *   read: (_fd: number, into: Uint8Array) => reads++ ? 0 : (into.fill(7, 0, 3), 3),
 *   write: (_fd: number, from: Uint8Array) => (wire.push(...from), from.length),
 *   wait: () => {}, shutdownWrite: () => 0, unread: () => 0, describe: String,
 * } as EngineIo;
 * const state = new EngineState();
 * const resumable = { window: 1024, from: 0, peerGotEnd: false };
 * const job = { direction: "send", socket: 5, pipe: 6, wake: 7, shared: state.buffer, resumable } as const;
 * // The peer has the stream's end and confirmed it, and sent its own: the loop is done.
 * const sender = new ResumableSender(job);
 * let turns = 0;
 * io.wait = () => {
 *   if (++turns === 1) { state.mark("sendingDone"); state.mark("receivedEnd"); }
 * };
 * assert.deepEqual(sender.run(job, io, state), { done: true });
 * // DATA (3 bytes), END at 3, then, idle, a confirmation of nothing yet, and ACK_END.
 * assert.deepEqual(wire.slice(0, 10), [1, 0, 0, 0, 0, 0, 0, 0, 3, 7]);
 * assert.deepEqual(wire.slice(12, 21), [3, 0, 0, 0, 0, 0, 0, 0, 3]);
 * assert.deepEqual([wire[21], wire[30], wire.length], [2, 4, 39]);
 * ```
 */
export class ResumableSender {
  readonly #window: number;
  readonly #kept: ReplayBlocks;
  readonly #frame = new Uint8Array(HEADER + FRAME_DATA_MAX);
  readonly #pacer: Pacer | null;
  readonly #drained = new Uint8Array(64);
  #cursor = 0;
  /** On the current connection: what this half last confirmed, and whether the end. */
  #acked = 0;
  #endAcked = false;
  #producerEnded: boolean;

  /**
   * `job`: the first connection's job (its window, rate and pipe); `released`: told once,
   * when told to stop, that the producer's pipe is read no more (it may then be closed,
   * so that the producer sees SIGPIPE, as from a pipe whose reader is gone).
   */
  constructor(job: EngineJob, readonly released: () => void = () => {}) {
    this.#window = job.resumable!.window;
    this.#kept = new ReplayBlocks(this.#window, FRAME_DATA_MAX);
    this.#pacer = job.limit ? new Pacer(job.limit) : null;
    this.#producerEnded = job.pipe === null || job.pipe < 0;
  }

  /** Sends on `job.socket` from where the peer's stream stands until done, cut or failed. */
  run(job: EngineJob, io: EngineIo, state: EngineState): LoopEnd {
    const { from, peerGotEnd } = job.resumable!;
    this.#cursor = from;
    if (peerGotEnd) state.mark("sendingDone");
    const sealer = job.keys ? new RecordSealer(job.keys) : null;
    const sealed = new Uint8Array(sealer ? sealedLength(this.#frame.length) : 0);
    // A frame's header, and its data: sealed together, or, in the clear, the data written
    // from the window itself (no copy).
    const put = (length: number, data?: Uint8Array): number => {
      // A large piece goes from the window itself; a small one costs less copied than
      // written on its own.
      if (!sealer && data && data.length >= SEPARATE_WRITE) {
        return writeAll(io, job.socket, this.#frame.subarray(0, length)) ||
          writeAll(io, job.socket, data);
      }
      if (data) this.#frame.set(data, length);
      const frame = this.#frame.subarray(0, length + (data?.length ?? 0));
      if (!sealer) return writeAll(io, job.socket, frame);
      return writeAll(io, job.socket, sealed.subarray(0, sealer.sealInto(frame, sealed)));
    };
    /** Sends a frame of no data: a confirmation or the end. */
    const mark = (
      kind: number,
      value: number,
    ) => (writeHeader(this.#frame, kind, value), put(HEADER));
    const window = this.#window;
    // A confirmation lost in a cut is sent again: the peer's window is freed only by them
    // (the meeting says what this half has taken, not what it has handed on).
    this.#acked = -1;
    this.#endAcked = false;
    let endSent = false;
    for (;;) {
      if (state.marked("cut")) return CUT;
      const stopped = state.stopped("send");
      if (stopped && !this.#producerEnded) {
        this.#producerEnded = true;
        this.released();
      }
      // The peer's sender waits for room in its window: confirm before it runs out.
      const confirmed = this.#confirm(state, mark, false);
      if (confirmed < 0) return { cut: io.describe(-confirmed) };
      let moved = confirmed > 0;
      const taken = state.count("taken");
      if (!stopped && this.#cursor < taken) {
        const sent = this.#sendData(taken, put, state, io);
        if (typeof sent === "string") return { cut: sent };
        const wait = this.#pacer?.waitAfter(sent) ?? 0;
        if (wait > 0 && this.#pause(wait, { job, io, state, mark }) < 0) return CUT;
        continue;
      }
      let pipeEmpty = false;
      const freed = state.count("confirmed");
      if (!stopped && !this.#producerEnded && taken - freed < window) {
        const count = this.#takeFromProducer(job.pipe!, taken, freed, io);
        if (count === -Errno.EAGAIN) pipeEmpty = true;
        else if (count <= 0 && count !== -Errno.EINTR) this.#producerEnded = true;
        else if (count > 0) state.add("taken", count);
        if (count > 0) continue;
      }
      if ((this.#producerEnded || stopped) && !endSent && (stopped || this.#cursor >= taken)) {
        const failed = mark(END, this.#cursor);
        if (failed) return { cut: io.describe(failed) };
        endSent = moved = true;
        if (stopped) state.mark("sendingDone"); // its reader is gone: nothing to confirm
      }
      if (state.marked("sendingDone") && state.marked("receivedEnd") && this.#endAcked) {
        io.shutdownWrite(job.socket);
        return { done: true };
      }
      if (moved) continue;
      // Nothing else to send: confirm what has come since, however little (its sender's
      // window may be full and waiting for just this).
      const idle = this.#confirm(state, mark, true);
      if (idle < 0) return { cut: io.describe(-idle) };
      io.wait(pipeEmpty ? job.pipe! : -1, "read", job.wake, IDLE_MS);
      // A wake is news once: the flags it announced are read on the next turn.
      state.mark("poked", false);
      io.read(job.wake, this.#drained);
    }
  }

  /**
   * Confirms what this half has handed on of the peer's stream: its end once all of it
   * is handed on; else every eighth of the window, or, `idle`, whatever has come since.
   * Returns 1 when it sent a frame, 0 when none was due, minus the errno of a failure.
   */
  #confirm(state: EngineState, mark: (kind: number, value: number) => number, idle: boolean) {
    const handed = state.count("handed");
    const whole = state.marked("receivedEnd") && handed === state.count("received");
    let kind = 0;
    if (whole && !this.#endAcked) kind = ACK_END;
    else if (handed >= this.#acked + Math.max(1, this.#window / 8)) kind = ACK;
    else if (idle && handed > this.#acked) kind = ACK;
    if (!kind) return 0;
    const failed = mark(kind, handed);
    if (failed) return -failed;
    this.#acked = handed;
    if (kind === ACK_END) this.#endAcked = true;
    return 1;
  }

  /**
   * Waits `ms` for `--limit`, to the end however often it is woken (the receiving worker
   * wakes this one for confirmations, which it sends meanwhile); less only for a stop or a
   * cut. Returns -1 on a cut, else 0.
   */
  #pause(
    ms: number,
    on: {
      job: EngineJob;
      io: EngineIo;
      state: EngineState;
      mark: (kind: number, value: number) => number;
    },
  ): number {
    const until = Date.now() + ms;
    for (let left = ms; left > 0; left = until - Date.now()) {
      on.io.wait(-1, "read", on.job.wake, Math.ceil(left));
      on.state.mark("poked", false);
      on.io.read(on.job.wake, this.#drained);
      if (on.state.marked("cut") || on.state.stopped("send")) break;
      if (this.#confirm(on.state, on.mark, false) < 0) return -1;
    }
    return on.state.marked("cut") ? -1 : 0;
  }

  /** Sends one DATA frame from the window; its length, or the cause of the cut. */
  #sendData(
    taken: number,
    put: (length: number, data?: Uint8Array) => number,
    state: EngineState,
    io: EngineIo,
  ): number | string {
    const piece = this.#pacer?.pieceSize() ?? FRAME_DATA_MAX;
    const data = this.#kept.at(this.#cursor, Math.min(taken - this.#cursor, piece));
    const length = data.length;
    writeHeader(this.#frame, DATA, length);
    // Counted before it goes: the peer may take it and confirm it (to the receiving thread)
    // before this thread runs again, and a confirmation past what was sent is refused.
    const furthest = state.count("sent");
    const end = this.#cursor + length;
    if (this.#cursor < furthest) state.add("replayed", Math.min(end, furthest) - this.#cursor);
    if (end > furthest) state.set("sent", end);
    const failed = put(HEADER, data);
    if (failed) return io.describe(failed);
    this.#cursor = end;
    return length;
  }

  /** Reads the producer's pipe into the window's free room; read(2)'s result. */
  #takeFromProducer(pipe: number, taken: number, confirmed: number, io: EngineIo): number {
    this.#kept.release(confirmed);
    return io.read(pipe, this.#kept.room(taken, this.#window - (taken - confirmed)));
  }
}
