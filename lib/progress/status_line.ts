/**
 * The one line SIGUSR1 prints, as `dd` prints its progress: the `--progress` line, taken
 * once, or that the run is still setting up.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { statusLine } from "./status_line.ts";
 * statusLine({ sent: 2048, received: 0 }, 2000, { main: "sent" });
 * // "status: 2.00 KiB sent, 0 B received, 1.00 KiB/s (average 1.00 KiB/s), 0:00:02"
 * assert.deepEqual(statusLine(null, 1500, { main: "sent" }), "status: setting up (1.5 s)");
 * ```
 *
 * @module
 */
import { type MainStream, type Moved, progressLine, progressOf } from "./progress.ts";

/**
 * Formats the status of a run: `moved` is null while the data connection is not yet up,
 * and `elapsedMs` counts from the start of the run, or once it is up from then. Taken
 * once, the current rate is the average.
 */
export function statusLine(
  moved: Moved | null,
  elapsedMs: number,
  stream: { main: MainStream; size?: number },
): string {
  const elapsedSeconds = elapsedMs / 1000;
  if (!moved) return `status: setting up (${elapsedSeconds.toFixed(1)} s)`;
  return `status: ${progressLine(progressOf(moved, elapsedSeconds, stream))}`;
}
