/**
 * The receiving side of a stream that survives cuts (`--reconnect`): the peer's frames
 * into the consumer's pipe, and the peer's confirmations of the stream this half sends
 * (see `resumable_frames.ts`). One thread reads the socket.
 *
 * @module
 */
import { Errno } from "../platform/libc.ts";

/** The byte that wakes the sending worker. */
const POKE = new Uint8Array(1);
import { messageOf } from "../base/message_of.ts";
import { RecordOpener, sealedLength } from "../net/records.ts";
import type { EngineJob, EngineState } from "./engine_state.ts";
import type { EngineIo } from "./engine_loops.ts";
import {
  ACK,
  ACK_END,
  DATA,
  END,
  FIN_WAIT_MS,
  FRAME_DATA_MAX,
  FrameReader,
  IDLE_MS,
  type LoopEnd,
} from "./resumable_frames.ts";

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
 * import { ResumableReceiver } from "./resumable_receiver.ts";
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
  /** Where the sender was last woken to confirm. */
  #poked = 0;

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
    let finishing: number | null = null;
    for (;;) {
      this.#handOn(io, state, job.poke ?? -1);
      const whole = state.marked("receivedEnd") && this.#handed === this.#received;
      if (whole && !this.#endTold) {
        this.#endTold = true;
        this.tell.receivedEnd();
      }
      // Both streams are whole: the peer's end of the connection is read before it is
      // closed (closed with bytes unread, it would be reset, and the peer could lose its
      // last confirmation), for a moment at most.
      const finished = whole && state.marked("sendingDone");
      if (finished) finishing ??= Date.now();
      if (finishing !== null && Date.now() - finishing > FIN_WAIT_MS) return { done: true };
      if (state.marked("cut")) return finished ? { done: true } : { cut: "the connection was cut" };
      state.setWaitingOnPeer(this.#handed === this.#received);
      const count = io.read(job.socket, raw.subarray(filled));
      if (count === -Errno.EAGAIN) {
        const handing = this.#handed < this.#received && this.#sink !== null && this.#sink >= 0;
        io.wait(job.socket, "read", job.wake, IDLE_MS, handing ? this.#sink! : -1);
      }
      if (count === -Errno.EAGAIN || count === -Errno.EINTR) continue;
      if (count <= 0 && finished) return { done: true };
      if (count < 0) return { cut: io.describe(-count) };
      if (count === 0) return { cut: "the connection closed" };
      filled += count;
      let opened = { data: filled, used: filled };
      try {
        if (opener) opened = opener.openInPlace(raw.subarray(0, filled));
      } catch (error) {
        return { failure: this.#failed(messageOf(error)) };
      }
      const failure = frames.take(
        raw.subarray(0, opened.data),
        (kind, value, data) =>
          this.#onFrame(kind, value, data, { state, io, poke: job.poke ?? -1 }),
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
  #handOn(io: EngineIo, state: EngineState, poke: number): void {
    const window = this.#ring.length;
    while (this.#handed < this.#received) {
      const at = this.#handed % window;
      const length = Math.min(this.#received - this.#handed, window - at);
      const taken = this.#give(io, state, this.#ring.subarray(at, at + length));
      if (taken === null) return;
      this.#handedOn(taken, { state, io, poke });
    }
  }

  /**
   * Writes what the consumer takes now of `bytes`, without waiting: how much it took (all
   * of it once the consumer is gone: nothing is kept for a reader that will not come), or
   * null when its pipe is full.
   */
  #give(io: EngineIo, state: EngineState, bytes: Uint8Array): number | null {
    if (this.#sink === null) return bytes.length;
    if (this.#sink >= 0) {
      const count = io.write(this.#sink, bytes);
      if (count === -Errno.EAGAIN || count === -Errno.EINTR) return null;
      if (count >= 0) {
        state.add("delivered", count);
        return count;
      }
      // It stopped reading: what it read is what its pipe took, less what is still there.
      state.add("delivered", -io.unread(this.#sink));
    }
    // A consumer that could not start reads nothing, as a pipe with no reader.
    this.#sink = null;
    this.tell.consumerGone();
    return bytes.length;
  }

  /** Counts `count` more bytes handed on, and wakes the sender when a confirmation is due. */
  #handedOn(count: number, on: { state: EngineState; io: EngineIo; poke: number }): void {
    this.#handed += count;
    on.state.set("handed", this.#handed);
    // A confirmation is due: the sender may be waiting on its producer, not on this.
    const due = this.#handed >= this.#poked + this.#ring.length / 8;
    if (on.poke >= 0 && due && on.state.markOnce("poked")) {
      on.io.write(on.poke, POKE);
      this.#poked = this.#handed;
    }
  }

  /** Acts on one frame (or a piece of a DATA frame's data); returns why it is wrong, or null. */
  #onFrame(
    kind: number,
    value: number,
    data: Uint8Array | null,
    on: { state: EngineState; io: EngineIo; poke: number },
  ): string | null {
    const { state } = on;
    if (kind === DATA) {
      if (state.marked("receivedEnd")) return "data came after the end of the stream";
      if (!data) return null;
      const window = this.#ring.length;
      if (this.#received + data.length - this.#handed > window) {
        return "the peer sent more than the window it was given";
      }
      // Nothing waiting for the consumer: it is handed what it takes straight away, and
      // only the rest is kept (copied into the window, which is cold memory).
      const start = this.#received;
      const waiting = this.#handed < start;
      this.#received += data.length;
      state.set("received", this.#received);
      const direct = waiting ? 0 : this.#give(on.io, state, data) ?? 0;
      for (let from = direct; from < data.length;) {
        const at = (start + from) % window;
        const length = Math.min(data.length - from, window - at);
        this.#ring.set(data.subarray(from, from + length), at);
        from += length;
      }
      if (direct) this.#handedOn(direct, on);
      return null;
    }
    if (kind === ACK || kind === ACK_END) {
      const sent = state.count("sent");
      // (The end confirmed may be short of what was taken: sending stopped, its reader gone.)
      if (value > sent) {
        return `the peer confirmed ${value} bytes of the ${sent} sent`;
      }
      if (value > state.count("confirmed")) {
        state.set("confirmed", value);
        // Room in the window: the sender may be waiting for just this.
        if (on.poke >= 0 && state.markOnce("poked")) on.io.write(on.poke, POKE);
      }
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
