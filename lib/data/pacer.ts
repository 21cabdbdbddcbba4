/**
 * The stream path's rate limit (`--limit`): the copy loop waits between writes so that
 * what it sends stays at the rate, with a burst of at most {@link BURST_MS} worth after a
 * pause (a producer that stalled does not earn a flood).
 *
 * @module
 */
import { type Clock, REAL_CLOCK } from "../base/clock.ts";

/** The most sending time a pause may bank, in milliseconds. */
export const BURST_MS = 50;

/**
 * Holds a sender to `rate` bytes per second, on a clock that can be replaced (a test's).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Pacer } from "./pacer.ts";
 * let now = 1000;
 * const clock = { now: () => now, every: () => 0, after: () => 0, clear: () => {} };
 * const pacer = new Pacer(1000, clock); // 1000 bytes per second
 * assert.equal(pacer.waitAfter(500), 500); // half a second's worth, sent at once: wait it out
 * now += 500;
 * assert.equal(pacer.waitAfter(250), 250);
 * now += 10_000; // a long pause banks no more than a short burst
 * assert.equal(pacer.waitAfter(100), 50);
 * assert.equal(pacer.pieceSize(), 1024);
 * ```
 */
export class Pacer {
  /** When the bytes sent so far are due to have left, at the rate. */
  #due: number | null = null;

  /** `rate`: bytes per second (at least 1). */
  constructor(readonly rate: number, readonly clock: Clock = REAL_CLOCK) {}

  /** How many milliseconds to wait after sending `bytes`, so that the rate holds. */
  waitAfter(bytes: number): number {
    const now = this.clock.now();
    const due = Math.max(this.#due ?? now, now - BURST_MS) + (bytes / this.rate) * 1000;
    this.#due = due;
    return Math.max(0, due - now);
  }

  /**
   * The most to write at once: about 20 ms worth at the rate (between 1 KiB and 64 KiB),
   * so that the rate holds over short spans too.
   */
  pieceSize(): number {
    return Math.min(64 * 1024, Math.max(1024, Math.floor(this.rate / 50)));
  }
}
