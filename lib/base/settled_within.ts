import { type Clock, REAL_CLOCK } from "./clock.ts";

/**
 * Waits for `promise` to settle, but at most `ms` milliseconds. Resolves true if it
 * settled in time; never rejects.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { settledWithin } from "./settled_within.ts";
 * assert.equal(await settledWithin(Promise.resolve(), 1000), true);
 * assert.equal(await settledWithin(new Promise(() => {}), 10), false);
 * ```
 */
export async function settledWithin(
  promise: Promise<unknown>,
  ms: number,
  clock: Clock = REAL_CLOCK,
): Promise<boolean> {
  let timer: number | undefined;
  const late = new Promise<boolean>((resolve) => timer = clock.after(ms, () => resolve(false)));
  try {
    return await Promise.race([promise.then(() => true, () => true), late]);
  } finally {
    clock.clear(timer!);
  }
}

/**
 * The value of a promise that has already resolved, else null, without waiting. Promises
 * resolved earlier have their reactions queued earlier, so one that resolved before this
 * call wins the race against the fresh one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { valueIfSettled } from "./settled_within.ts";
 * assert.deepEqual(await valueIfSettled(Promise.resolve(3)), 3);
 * assert.deepEqual(await valueIfSettled(new Promise(() => {})), null);
 * ```
 */
export function valueIfSettled<T>(promise: Promise<T>): Promise<T | null> {
  return Promise.race([promise, Promise.resolve(null)]);
}

/** What {@link untilStopped} gives once its signal is aborted. */
export const STOPPED: unique symbol = Symbol("stopped");

/**
 * What `promise` gives, or {@link STOPPED} once `signal` is aborted, whichever comes first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { STOPPED, untilStopped } from "./settled_within.ts";
 * assert.equal(await untilStopped(Promise.resolve(1)), 1);
 * assert.equal(await untilStopped(new Promise(() => {}), AbortSignal.abort()), STOPPED);
 * ```
 */
export function untilStopped<T>(
  promise: Promise<T>,
  signal?: AbortSignal,
): Promise<T | typeof STOPPED> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.resolve(STOPPED);
  return new Promise((resolve) => {
    const onAbort = () => resolve(STOPPED);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then((value) => {
      signal.removeEventListener("abort", onAbort);
      resolve(value);
    });
  });
}
