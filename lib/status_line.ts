/**
 * The one line SIGUSR1 prints, as `dd` prints its progress: bytes each way, time, rate.
 *
 * @example
 * ```ts
 * import { statusLine } from "./status_line.ts";
 * statusLine({ sent: 2_000_000, received: 0 }, 2000);
 * // "status: 2000000 bytes sent, 0 bytes received in 2.0 s (1.0 MB/s)"
 * statusLine(null, 1500); // "status: setting up (1.5 s)"
 * ```
 *
 * @module
 */

/**
 * Formats the status of a run `elapsedMs` after its start; `moved` is null while the
 * data connection is not yet up. The rate is the average over the whole transfer, in
 * MB/s (10^6 bytes), both directions together.
 */
export function statusLine(
  moved: { sent: number; received: number } | null,
  elapsedMs: number,
): string {
  const seconds = (elapsedMs / 1000).toFixed(1);
  if (!moved) return `status: setting up (${seconds} s)`;
  const rate = elapsedMs > 0 ? (moved.sent + moved.received) / elapsedMs / 1000 : 0;
  return `status: ${moved.sent} bytes sent, ${moved.received} bytes received in ${seconds} s ` +
    `(${rate.toFixed(1)} MB/s)`;
}
