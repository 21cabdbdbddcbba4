/**
 * A sender's replay window (`--reconnect`), kept in blocks: what its peer has not yet
 * confirmed, by stream position. A block whose bytes are all confirmed goes back to a
 * free list and is the next one filled: while little is in flight, the same few blocks
 * are used over and over and stay in the processor's cache, where a ring as large as the
 * window would be written through cold memory all the way round (measured: reading the
 * producer's pipe into a 16 MiB ring cost five times what reading it into a warm buffer
 * did).
 *
 * @module
 */

/**
 * The bytes of a stream from the last whole block confirmed to what was taken, in blocks
 * of `blockSize`: never more than the window and one block.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ReplayBlocks } from "./replay_blocks.ts";
 * const blocks = new ReplayBlocks(8, 4);
 * blocks.room(0, 8).set([1, 2, 3, 4]); // one block's room at most
 * blocks.room(4, 4).set([5, 6]);
 * assert.deepEqual([...blocks.at(2, 8)], [3, 4]); // to the block's end
 * assert.deepEqual([...blocks.at(4, 2)], [5, 6]);
 * blocks.release(4); // the first block is confirmed: it is the next one filled
 * assert.equal(blocks.allocated, 2);
 * blocks.room(8, 4);
 * assert.equal(blocks.allocated, 2);
 * ```
 */
export class ReplayBlocks {
  readonly #size: number;
  /** The live blocks, in stream order: the first covers [first * size, (first + 1) * size). */
  #live: Uint8Array[] = [];
  #first = 0;
  /** Confirmed blocks, to fill again: the last freed first (the warmest). */
  #free: Uint8Array[] = [];
  /** The blocks made so far. */
  allocated = 0;

  /** A window of `window` bytes, in blocks of `blockSize` (at most the window). */
  constructor(window: number, blockSize: number) {
    this.#size = Math.max(1, Math.min(blockSize, window));
  }

  /**
   * Where the bytes at stream position `taken` go: the rest of its block, at most `most`
   * bytes. The caller keeps `taken` at most a window beyond what was confirmed.
   */
  room(taken: number, most: number): Uint8Array {
    const index = Math.floor(taken / this.#size);
    while (this.#first + this.#live.length <= index) this.#live.push(this.#block());
    const at = taken - index * this.#size;
    return this.#blockOf(index).subarray(at, at + Math.min(this.#size - at, most));
  }

  /** The bytes kept from stream position `from`: to its block's end, at most `most`. */
  at(from: number, most: number): Uint8Array {
    const index = Math.floor(from / this.#size);
    const at = from - index * this.#size;
    return this.#blockOf(index).subarray(at, at + Math.min(this.#size - at, most));
  }

  /** Frees the blocks wholly before stream position `confirmed`. */
  release(confirmed: number): void {
    while (this.#live.length && (this.#first + 1) * this.#size <= confirmed) {
      this.#free.push(this.#live.shift()!);
      this.#first++;
    }
    // Nothing live: the next block to fill may start anywhere.
    if (!this.#live.length) this.#first = Math.floor(confirmed / this.#size);
  }

  #blockOf(index: number): Uint8Array {
    const block = this.#live[index - this.#first];
    if (!block) throw new RangeError(`stream position outside the replay window (block ${index})`);
    return block;
  }

  #block(): Uint8Array {
    const reused = this.#free.pop();
    if (reused) return reused;
    this.allocated++;
    return new Uint8Array(this.#size);
  }
}
