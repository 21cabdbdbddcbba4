/**
 * The run's clock: setup (from the start to the data) and transfer (from the data to the
 * end), and the progress watch from when the data flows.
 *
 * @module
 */
import { REAL_CLOCK } from "../base/clock.ts";
import { type MovedSoFar, ProgressWatch } from "../progress/progress.ts";
import type { RunControl, SocketpipeOptions } from "./socketpipe_types.ts";

/**
 * Times the run and, for `RunControl.onProgress`, watches the data from when it flows:
 * `onData` is called when the data connection carries data, `finish` reports the last
 * figures and returns the durations.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { watchRun } from "./run_clock.ts";
 * const clock = watchRun({ login: ["true"], remote: ["true"] }, {});
 * assert.deepEqual(clock.finish().transferSeconds, 0); // no data ever flowed
 * ```
 */
export function watchRun(options: SocketpipeOptions, control: RunControl) {
  const started = REAL_CLOCK.now();
  let dataAt: number | null = null;
  let watch: ProgressWatch | null = null;
  const onData = (moved: MovedSoFar) => {
    dataAt = REAL_CLOCK.now();
    control.onData?.(moved);
    if (!control.onProgress) return;
    watch = new ProgressWatch(moved, {
      main: options.input ? "sent" : "received",
      size: control.progressSize,
      onProgress: control.onProgress,
    });
  };
  const finish = () => {
    watch?.stop();
    const ended = REAL_CLOCK.now();
    return {
      setupSeconds: ((dataAt ?? ended) - started) / 1000,
      transferSeconds: dataAt === null ? 0 : (ended - dataAt) / 1000,
    };
  };
  return { onData, finish };
}
