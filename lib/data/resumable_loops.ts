/**
 * The copy engine's loops under `--reconnect`: the stream survives cuts of its data
 * connection. Each direction's bytes travel in frames, with frames of the other kind
 * between them: the receiver confirms the stream position it has taken (ACK), the sender
 * marks its end (END), and the receiver confirms that too (ACK_END). A sender keeps what
 * its peer has not confirmed in a replay window (a full window holds the producer back, as
 * a full pipe would); after a cut, both halves meet again, say where their streams stand
 * (`net/rejoin.ts`), and each sender sends again from the position its peer has: no byte
 * lost, none twice. With `--encrypt` the frames are sealed in records like any data, so
 * the confirmations are as authenticated as the bytes.
 *
 * One thread writes the socket (the sending loop, which also sends the confirmations of
 * the stream it receives) and one reads it (the receiving loop, which also takes the
 * peer's confirmations): no frame is ever interleaved with another.
 *
 * @module
 */
import { Errno } from "../platform/libc.ts";
import { messageOf } from "../base/message_of.ts";
import { RecordOpener, RecordSealer, sealedLength } from "../net/records.ts";
import { Pacer } from "./pacer.ts";
import type { EngineJob, EngineState } from "./engine_state.ts";
import { type EngineIo, writeAll } from "./engine_loops.ts";

/** The kinds of frame. */
const DATA = 1;
const ACK = 2;
const END = 3;
const ACK_END = 4;
/** A frame's header: its kind, and its length (DATA) or a stream position. */
const HEADER = 9;
/** The most data one frame carries. */
const FRAME_DATA_MAX = 256 * 1024;
/** How often an idle sending loop looks at what there is to confirm. */
const IDLE_MS = 50;

/** The replay window when `--buffer` names none. */
export const DEFAULT_REPLAY_WINDOW = 16 * 1024 * 1024;

/** How one connection's run of a loop ended. */
export type LoopEnd =
  | { done: true }
  /** The connection failed (or the main thread saw it fail): the loop waits for the next. */
  | { cut: string }
  /** The run cannot go on: the line. */
  | { failure: string };

function writeHeader(into: Uint8Array, kind: number, value: number): void {
  into[0] = kind;
  const view = new DataView(into.buffer, into.byteOffset, HEADER);
  view.setUint32(1, Math.floor(value / 0x100000000));
  view.setUint32(5, value >>> 0);
}

function readValue(header: Uint8Array): number {
  const view = new DataView(header.buffer, header.byteOffset, HEADER);
  return view.getUint32(1) * 0x100000000 + view.getUint32(5);
}

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
 * import { ResumableSender } from "./resumable_loops.ts";
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
 * // DATA (3 bytes), END at 3, ACK_END at 0: three frames.
 * assert.deepEqual(wire.slice(0, 10), [1, 0, 0, 0, 0, 0, 0, 0, 3, 7]);
 * assert.deepEqual(wire.slice(12, 21), [3, 0, 0, 0, 0, 0, 0, 0, 3]);
 * assert.equal(wire[21], 4);
 * ```
 */
export class ResumableSender {
  readonly #ring: Uint8Array;
  readonly #frame = new Uint8Array(HEADER + FRAME_DATA_MAX);
  readonly #pacer: Pacer | null;
  readonly #drained = new Uint8Array(64);
  #cursor = 0;
  #producerEnded: boolean;

  /** `job`: the first connection's job (its window, rate and pipe). */
  constructor(job: EngineJob) {
    this.#ring = new Uint8Array(job.resumable!.window);
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
    const put = (length: number): number => {
      const frame = this.#frame.subarray(0, length);
      return writeAll(
        io,
        job.socket,
        sealer ? sealed.subarray(0, sealer.sealInto(frame, sealed)) : frame,
      );
    };
    /** Sends a frame of no data: a confirmation or the end. */
    const mark = (
      kind: number,
      value: number,
    ) => (writeHeader(this.#frame, kind, value), put(HEADER));
    const window = this.#ring.length;
    // The peer knows where this half stands from the meeting: confirmed from there on.
    let acked = state.count("handed");
    let endSent = false;
    let endAcked = false;
    for (;;) {
      if (state.marked("cut")) return { cut: "the connection was cut" };
      const received = state.count("handed");
      const stopped = state.stopped("send");
      let moved = false;
      // The peer's sender waits for room in its window: confirm before it runs out.
      if (state.marked("receivedEnd") && received === state.count("received") && !endAcked) {
        const failed = mark(ACK_END, received);
        if (failed) return { cut: io.describe(failed) };
        endAcked = true;
        acked = received;
        moved = true;
      } else if (received >= acked + Math.max(1, window / 8)) {
        const failed = mark(ACK, received);
        if (failed) return { cut: io.describe(failed) };
        acked = received;
        moved = true;
      }
      const taken = state.count("taken");
      if (!stopped && this.#cursor < taken) {
        const sent = this.#sendData(taken, put, state, io);
        if (typeof sent === "string") return { cut: sent };
        const wait = this.#pacer?.waitAfter(sent) ?? 0;
        if (wait > 0) io.wait(-1, "read", job.wake, Math.ceil(wait));
        continue;
      }
      let pipeEmpty = false;
      if (!stopped && !this.#producerEnded && taken - state.count("confirmed") < window) {
        const count = this.#takeFromProducer(job.pipe!, taken, state.count("confirmed"), io);
        if (count === -Errno.EAGAIN) pipeEmpty = true;
        else if (count <= 0 && count !== -Errno.EINTR) this.#producerEnded = true;
        else if (count > 0) state.add("taken", count);
        if (count > 0) continue;
      }
      if ((this.#producerEnded || stopped) && !endSent && (stopped || this.#cursor >= taken)) {
        const failed = mark(END, this.#cursor);
        if (failed) return { cut: io.describe(failed) };
        endSent = true;
        moved = true;
        if (stopped) state.mark("sendingDone"); // its reader is gone: nothing to confirm
      }
      if (state.marked("sendingDone") && state.marked("receivedEnd") && endAcked) {
        io.shutdownWrite(job.socket);
        return { done: true };
      }
      if (moved) continue;
      // Nothing else to send: confirm what has come since, however little (its sender's
      // window may be full and waiting for just this).
      if (state.count("handed") > acked) {
        acked = state.count("handed");
        const failed = mark(ACK, acked);
        if (failed) return { cut: io.describe(failed) };
      }
      const timeout = IDLE_MS;
      io.wait(pipeEmpty ? job.pipe! : -1, "read", job.wake, timeout);
      // A wake is news once: the flags it announced are read on the next turn.
      io.read(job.wake, this.#drained);
    }
  }

  /** Sends one DATA frame from the window; its length, or the cause of the cut. */
  #sendData(
    taken: number,
    put: (length: number) => number,
    state: EngineState,
    io: EngineIo,
  ): number | string {
    const window = this.#ring.length;
    const at = this.#cursor % window;
    const piece = this.#pacer?.pieceSize() ?? FRAME_DATA_MAX;
    const length = Math.min(taken - this.#cursor, FRAME_DATA_MAX, piece, window - at);
    writeHeader(this.#frame, DATA, length);
    this.#frame.set(this.#ring.subarray(at, at + length), HEADER);
    const failed = put(HEADER + length);
    if (failed) return io.describe(failed);
    const furthest = state.count("sent");
    const end = this.#cursor + length;
    if (this.#cursor < furthest) state.add("replayed", Math.min(end, furthest) - this.#cursor);
    if (end > furthest) state.set("sent", end);
    this.#cursor = end;
    return length;
  }

  /** Reads the producer's pipe into the window's free room; read(2)'s result. */
  #takeFromProducer(pipe: number, taken: number, confirmed: number, io: EngineIo): number {
    const window = this.#ring.length;
    const at = taken % window;
    const room = Math.min(window - (taken - confirmed), window - at);
    return io.read(pipe, this.#ring.subarray(at, at + room));
  }
}

/**
 * The receiving side of a resumable stream: the peer's frames into the consumer's pipe,
 * and the peer's confirmations of the stream this half sends. What arrives is taken into a
 * window of its own at once, and handed to the consumer as it reads: the socket is always
 * read, so the confirmations behind the data always come through (a consumer that waits
 * for its own output to be sent, as `cat` does, would otherwise hold both streams). The
 * peer sends at most a window beyond what this half has handed on. It outlives its
 * connections.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EngineState } from "./engine_state.ts";
 * import type { EngineIo } from "./engine_loops.ts";
 * import { ResumableReceiver } from "./resumable_loops.ts";
 * const frames = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 2, 8, 9, 3, 0, 0, 0, 0, 0, 0, 0, 2]);
 * const arriving = [frames, new Uint8Array(0)];
 * const delivered: number[] = [];
 * const io = {
 *   read: (_fd: number, into: Uint8Array) => (into.set(arriving[0]), arriving.shift()!.length),
 *   write: (_fd: number, from: Uint8Array) => (delivered.push(...from), from.length),
 *   wait: () => {}, shutdownWrite: () => 0, unread: () => 0, describe: String,
 * } as EngineIo;
 * const state = new EngineState();
 * const resumable = { window: 1024, from: 0, peerGotEnd: false };
 * const job = { direction: "receive", socket: 5, pipe: 6, wake: 7, shared: state.buffer, resumable } as const;
 * const ends: string[] = [];
 * const receiver = new ResumableReceiver(job, { consumerGone: () => {}, receivedEnd: () => ends.push("end") });
 * // Its peer's end came, but this half's own end is not confirmed: the close is a cut.
 * assert.deepEqual(receiver.run(job, io, state), { cut: "the connection closed" });
 * assert.deepEqual([delivered, ends, state.count("received"), state.count("handed")], [[8, 9], ["end"], 2, 2]);
 * ```
 */
export class ResumableReceiver {
  readonly #ring: Uint8Array;
  #sink: number | null;
  /** Stream positions: taken into the window, and handed on from it. */
  #received = 0;
  #handed = 0;
  #endTold = false;

  /** `job`: the first connection's job; `tell`: what the main thread hears. */
  constructor(job: EngineJob, readonly tell: { consumerGone(): void; receivedEnd(): void }) {
    this.#sink = job.pipe;
    this.#ring = new Uint8Array(job.resumable!.window);
  }

  /** Receives on `job.socket` until the run is done, cut or failed. */
  run(job: EngineJob, io: EngineIo, state: EngineState): LoopEnd {
    const opener = job.keys ? new RecordOpener(job.keys) : null;
    const raw = new Uint8Array(FRAME_DATA_MAX + (opener ? sealedLength(FRAME_DATA_MAX) : 0));
    const frames = new FrameReader();
    let filled = 0;
    for (;;) {
      this.#handOn(io, state);
      const whole = state.marked("receivedEnd") && this.#handed === this.#received;
      if (whole && !this.#endTold) {
        this.#endTold = true;
        this.tell.receivedEnd();
      }
      if (whole && state.marked("sendingDone")) return { done: true };
      if (state.marked("cut")) return { cut: "the connection was cut" };
      state.setWaitingOnPeer(this.#handed === this.#received);
      const count = io.read(job.socket, raw.subarray(filled));
      if (count === -Errno.EAGAIN) {
        const handing = this.#handed < this.#received && this.#sink !== null && this.#sink >= 0;
        io.wait(job.socket, "read", job.wake, handing ? 1 : IDLE_MS, handing ? this.#sink! : -1);
      }
      if (count === -Errno.EAGAIN || count === -Errno.EINTR) continue;
      if (count < 0) return { cut: io.describe(-count) };
      if (count === 0) {
        const done = whole && state.marked("sendingDone");
        return done ? { done: true } : { cut: "the connection closed" };
      }
      filled += count;
      let opened = { data: filled, used: filled };
      try {
        if (opener) opened = opener.openInPlace(raw.subarray(0, filled));
      } catch (error) {
        return { failure: this.#failed(messageOf(error)) };
      }
      const failure = frames.take(
        raw.subarray(0, opened.data),
        (kind, value, data) => this.#onFrame(kind, value, data, state),
      );
      if (failure) return { failure: this.#failed(failure) };
      raw.copyWithin(0, opened.used, filled);
      filled -= opened.used;
    }
  }

  #failed(why: string): string {
    return `receiving failed after ${this.#received} bytes: ${why}`;
  }

  /** Hands the consumer what it takes now of the window, without waiting for it. */
  #handOn(io: EngineIo, state: EngineState): void {
    const window = this.#ring.length;
    while (this.#handed < this.#received) {
      const at = this.#handed % window;
      const length = Math.min(this.#received - this.#handed, window - at);
      let taken = length;
      if (this.#sink !== null && this.#sink >= 0) {
        const count = io.write(this.#sink, this.#ring.subarray(at, at + length));
        if (count === -Errno.EAGAIN || count === -Errno.EINTR) return;
        if (count >= 0) {
          taken = count;
          state.add("delivered", count);
        } else {
          // It stopped reading: what it read is what its pipe took, less what is still there.
          state.add("delivered", -io.unread(this.#sink));
          this.#sink = null;
          this.tell.consumerGone();
        }
      } else if (this.#sink !== null) {
        // A consumer that could not start reads nothing, as a pipe with no reader.
        this.#sink = null;
        this.tell.consumerGone();
      }
      this.#handed += taken;
      state.set("handed", this.#handed);
    }
  }

  /** Acts on one frame (or a piece of a DATA frame's data); returns why it is wrong, or null. */
  #onFrame(
    kind: number,
    value: number,
    data: Uint8Array | null,
    state: EngineState,
  ): string | null {
    if (kind === DATA) {
      if (state.marked("receivedEnd")) return "data came after the end of the stream";
      if (!data) return null;
      const window = this.#ring.length;
      if (this.#received + data.length - this.#handed > window) {
        return "the peer sent more than the window it was given";
      }
      for (let from = 0; from < data.length;) {
        const at = (this.#received + from) % window;
        const length = Math.min(data.length - from, window - at);
        this.#ring.set(data.subarray(from, from + length), at);
        from += length;
      }
      this.#received += data.length;
      state.set("received", this.#received);
      return null;
    }
    if (kind === ACK || kind === ACK_END) {
      const sent = state.count("sent");
      if (value > sent || (kind === ACK_END && value !== state.count("taken"))) {
        return `the peer confirmed ${value} bytes of the ${sent} sent`;
      }
      if (value > state.count("confirmed")) state.set("confirmed", value);
      if (kind === ACK_END) state.mark("sendingDone");
      return null;
    }
    if (kind === END) {
      if (value !== this.#received) {
        return `the peer ended its stream at ${value} bytes, ${this.#received} came`;
      }
      state.mark("receivedEnd");
      return null;
    }
    return `a frame of unknown kind ${kind}`;
  }
}

/** Splits a connection's plaintext into frames, across reads; one per connection. */
class FrameReader {
  readonly #header = new Uint8Array(HEADER);
  #headerFilled = 0;
  #dataLeft = 0;

  /**
   * Hands `onFrame` each frame in `bytes` (a DATA frame's data in the pieces it arrives
   * in, each with the frame's length); the first failure it returns ends the reading.
   */
  take(
    bytes: Uint8Array,
    onFrame: (kind: number, value: number, data: Uint8Array | null) => string | null,
  ): string | null {
    for (let at = 0; at < bytes.length;) {
      if (this.#dataLeft > 0) {
        const piece = bytes.subarray(at, at + this.#dataLeft);
        at += piece.length;
        this.#dataLeft -= piece.length;
        const failure = onFrame(DATA, piece.length, piece);
        if (failure) return failure;
        continue;
      }
      const piece = bytes.subarray(at, at + HEADER - this.#headerFilled);
      this.#header.set(piece, this.#headerFilled);
      this.#headerFilled += piece.length;
      at += piece.length;
      if (this.#headerFilled < HEADER) break;
      this.#headerFilled = 0;
      const kind = this.#header[0];
      const value = readValue(this.#header);
      if (kind === DATA) {
        if (value === 0 || value > FRAME_DATA_MAX) return `a data frame of ${value} bytes`;
        this.#dataLeft = value;
        continue;
      }
      const failure = onFrame(kind, value, null);
      if (failure) return failure;
    }
    return null;
  }
}
