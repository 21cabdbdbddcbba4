/**
 * The frames of a stream that survives cuts of its data connection (`--reconnect`). Each
 * direction's bytes travel in DATA frames, with frames of the other kinds between them:
 * the receiver confirms the stream position it has handed on (ACK), the sender marks its
 * end (END), and the receiver confirms that too (ACK_END). A sender keeps what its peer has
 * not confirmed in a replay window (a full window holds the producer back, as a full pipe
 * would); after a cut both halves meet again, say where their streams stand
 * (`net/rejoin.ts`), and each sender sends again from the position its peer has: no byte
 * lost, none twice. With `--encrypt` the frames are sealed in records like any data, so the
 * confirmations are as authenticated as the bytes. `resumable_sender.ts` writes them,
 * `resumable_receiver.ts` reads them.
 *
 * A frame is a 9-byte header (its kind, then a 64-bit big-endian length or stream
 * position), and, for DATA, the data.
 *
 * @module
 */

/** The kinds of frame. */
export const DATA = 1;
export const ACK = 2;
export const END = 3;
export const ACK_END = 4;
/** A frame's header: its kind, and its length (DATA) or a stream position. */
export const HEADER = 9;
/** The most data one frame carries. */
export const FRAME_DATA_MAX = 256 * 1024;
/** How often an idle sending loop looks at what there is to confirm. */
export const IDLE_MS = 50;
/** How long a loop whose streams are both whole waits for the peer to close its side. */
export const FIN_WAIT_MS = 2000;

/** The replay window when `--buffer` names none. */
export const DEFAULT_REPLAY_WINDOW = 16 * 1024 * 1024;

/** How one connection's run of a loop ended. */
export type LoopEnd =
  | { done: true }
  /** The connection failed (or the main thread saw it fail): the loop waits for the next. */
  | { cut: string }
  /** The run cannot go on: the line. */
  | { failure: string };

/**
 * Writes a frame's header into `into`: its kind and its length or position.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { END, readValue, writeHeader } from "./resumable_frames.ts";
 * const header = new Uint8Array(9);
 * writeHeader(header, END, 2 ** 40 + 5);
 * assert.deepEqual([header[0], readValue(header)], [END, 2 ** 40 + 5]);
 * ```
 */
export function writeHeader(into: Uint8Array, kind: number, value: number): void {
  into[0] = kind;
  const view = new DataView(into.buffer, into.byteOffset, HEADER);
  view.setUint32(1, Math.floor(value / 0x100000000));
  view.setUint32(5, value >>> 0);
}

/** The length or position a frame's header carries (see {@link writeHeader}). */
export function readValue(header: Uint8Array): number {
  const view = new DataView(header.buffer, header.byteOffset, HEADER);
  return view.getUint32(1) * 0x100000000 + view.getUint32(5);
}

/**
 * Splits a connection's plaintext into frames, across reads; one per connection.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FrameReader } from "./resumable_frames.ts";
 * const seen: string[] = [];
 * const reader = new FrameReader();
 * const frames = [1, 0, 0, 0, 0, 0, 0, 0, 2, 8, 9, 2, 0, 0, 0, 0, 0, 0, 0, 2];
 * reader.take(new Uint8Array(frames.slice(0, 10)), (kind, value) => (seen.push(`${kind}:${value}`), null));
 * reader.take(new Uint8Array(frames.slice(10)), (kind, value) => (seen.push(`${kind}:${value}`), null));
 * assert.deepEqual(seen, ["1:1", "1:1", "2:2"]); // the data in the pieces it came in, then an ACK
 * ```
 */
export class FrameReader {
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
