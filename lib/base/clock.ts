/**
 * The one clock seam: every cadence and deadline of a run reads the time and sets its
 * timers through a {@link Clock}, so that a test can put a fake one in its place; and the
 * one {@link delay}.
 *
 * @module
 */

/** What a cadence or a deadline needs of a clock. */
export interface Clock {
  /** Milliseconds since some fixed time (monotonic on the real clock). */
  now(): number;
  /** Calls `callback` every `ms` milliseconds until cleared. */
  every(ms: number, callback: () => void): number;
  /** Calls `callback` once, `ms` milliseconds from now, unless cleared first: a deadline. */
  after(ms: number, callback: () => void): number;
  /** Stops a callback started by {@link Clock.every} or {@link Clock.after}. */
  clear(id: number): void;
}

/**
 * The real clock: `performance.now`, `setInterval`, `setTimeout` (the two share one list
 * of timers, which `clearTimeout` clears).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { REAL_CLOCK } from "./clock.ts";
 * const before = REAL_CLOCK.now();
 * let ticks = 0;
 * const id = REAL_CLOCK.every(1, () => ticks++);
 * await new Promise((resolve) => REAL_CLOCK.after(20, () => resolve(null)));
 * REAL_CLOCK.clear(id);
 * assert.ok(ticks > 0 && REAL_CLOCK.now() > before);
 * let fired = false;
 * REAL_CLOCK.clear(REAL_CLOCK.after(1, () => fired = true)); // cleared: never fires
 * await new Promise((resolve) => REAL_CLOCK.after(10, () => resolve(null)));
 * assert.equal(fired, false);
 * ```
 */
export const REAL_CLOCK: Clock = {
  now: () => performance.now(),
  every: (ms, callback) => setInterval(callback, ms) as unknown as number,
  after: (ms, callback) => setTimeout(callback, ms) as unknown as number,
  clear: (id) => clearTimeout(id),
};

/**
 * Resolves after `ms` milliseconds, or at once when `signal` aborts (never rejects).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { delay } from "./clock.ts";
 * const stop = new AbortController();
 * const started = performance.now();
 * const waiting = delay(60_000, stop.signal);
 * stop.abort();
 * await waiting;
 * assert.ok(performance.now() - started < 10_000);
 * await delay(1);
 * ```
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = REAL_CLOCK.after(ms, done);
    function done() {
      REAL_CLOCK.clear(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
