/**
 * Progress without a copied byte: the figures of a running transfer, from the byte counts
 * the data path already keeps (the kernel's `TCP_INFO` on the zero-copy path, the copy
 * loop's on the stream path), read at most four times a second. What a meter, a status
 * line or a library caller shows.
 *
 * @module
 */
import { type Clock, REAL_CLOCK } from "../base/clock.ts";

/** The bytes a transfer has moved so far, each way: what every figure is made from. */
export interface Moved {
  /** Bytes sent to the remote command. */
  sent: number;
  /** Bytes received from it. */
  received: number;
  /** With `--reconnect`: the cuts survived so far (of the data connection and the login). */
  cuts?: number;
  /** With `--reconnect`: a cut not yet met again. */
  cutNow?: boolean;
}

/** Reads {@link Moved} now, without touching the stream (the kernel's counts, or the copy loops'). */
export type MovedSoFar = () => Moved;

/** How far a transfer has come. */
export interface Progress {
  /** Bytes sent to the remote command so far. */
  sent: number;
  /** Bytes received from the remote command so far. */
  received: number;
  /** Seconds since the data connection came up. */
  elapsedSeconds: number;
  /** The main stream's rate over about the last second, in bytes per second. */
  rate: number;
  /** The main stream's average rate since the data connection came up, in bytes per second. */
  averageRate: number;
  /** The main stream's expected size in bytes (`--size`), or null. */
  size: number | null;
  /** The main stream's bytes so far out of `size` (0 to 1), or null without a size. */
  fraction: number | null;
  /** Seconds left at the current average rate, or null without a size or a rate. */
  etaSeconds: number | null;
  /** Whether the transfer is over (the last figures of the run). */
  done: boolean;
  /** With `--reconnect`: the cuts survived so far (of the data connection and the login). */
  cuts?: number;
  /** With `--reconnect`: a cut not yet met again. */
  cutNow?: boolean;
}

/** Which direction the rates, the size and the ETA are of. */
export type MainStream = "sent" | "received";

/** How often the figures are taken: at most four reads of the counts a second. */
export const PROGRESS_INTERVAL_MS = 250;

/** A wait between two takes longer than this was a pause (the process did not run). */
const PAUSE_GAP_MS = 1500;

/**
 * Takes progress figures from `moved` every {@link PROGRESS_INTERVAL_MS} until stopped,
 * and once more, marked done, when stopped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProgressWatch } from "./progress.ts";
 * const fractions: (number | null)[] = [];
 * let sent = 0;
 * const watch = new ProgressWatch(() => ({ sent, received: 0 }), {
 *   main: "sent",
 *   size: 1000,
 *   onProgress: (progress) => fractions.push(progress.fraction),
 * });
 * sent = 1000;
 * watch.stop(); // the last figures, at once
 * assert.equal(fractions.at(-1), 1);
 * ```
 */
export class ProgressWatch {
  readonly #moved: MovedSoFar;
  readonly #options: ProgressWatchOptions;
  readonly #clock: Clock;
  readonly #started: number;
  /** When figures were last taken, and the milliseconds the run spent paused so far. */
  #lastTaken: number;
  #paused = 0;
  /** Recent samples of the main stream, for the current rate: [ms, bytes]. */
  #recent: [number, number][] = [];
  #timer: number | undefined;
  #last: Progress | null = null;

  constructor(moved: MovedSoFar, options: ProgressWatchOptions) {
    this.#moved = moved;
    this.#options = options;
    this.#clock = options.clock ?? REAL_CLOCK;
    this.#started = this.#lastTaken = this.#clock.now();
    this.#recent.push([this.#started, 0]);
    this.#timer = this.#clock.every(
      PROGRESS_INTERVAL_MS,
      () => options.onProgress(this.#take(false)),
    );
  }

  /** Stops, and reports the last figures, marked done. Safe twice. */
  stop(): Progress {
    if (this.#timer === undefined) return this.#last ?? this.#take(true);
    this.#clock.clear(this.#timer);
    this.#timer = undefined;
    const last = this.#take(true);
    this.#options.onProgress(last);
    return last;
  }

  /** Takes the figures now (the timer does so every {@link PROGRESS_INTERVAL_MS}). */
  take(): Progress {
    return this.#take(false);
  }

  #take(done: boolean): Progress {
    const moved = this.#moved();
    const now = this.#clock.now();
    const main = moved[this.#options.main];
    // A timer that fired this late did not run: the process was stopped (Ctrl-Z, with
    // every command of the run). That time is no part of the transfer's, nor of its rate.
    const gap = now - this.#lastTaken;
    this.#lastTaken = now;
    if (gap > PAUSE_GAP_MS) {
      this.#paused += gap - PROGRESS_INTERVAL_MS;
      this.#recent = [[now - PROGRESS_INTERVAL_MS, this.#recent.at(-1)?.[1] ?? main]];
    }
    this.#recent.push([now, main]);
    while (this.#recent.length > 2 && now - this.#recent[1][0] >= 1000) this.#recent.shift();
    const [since, then] = this.#recent[0];
    const rate = now > since ? (main - then) / ((now - since) / 1000) : 0;
    const elapsed = (now - this.#started - this.#paused) / 1000;
    this.#last = progressOf(moved, elapsed, this.#options, { rate, done });
    return this.#last;
  }
}

/**
 * The figures of `moved` after `elapsedSeconds` of data, for the main stream of
 * `stream`: the average rate, and with a size the fraction and ETA. Without a current
 * `rate` (figures taken once), the average stands for it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { progressOf } from "./progress.ts";
 * assert.deepEqual(progressOf({ sent: 500, received: 0 }, 5, { main: "sent", size: 1000 }).etaSeconds, 5);
 * ```
 */
export function progressOf(
  moved: Moved,
  elapsedSeconds: number,
  stream: { main: MainStream; size?: number },
  taken: { rate?: number; done?: boolean } = {},
): Progress {
  const main = moved[stream.main];
  const averageRate = elapsedSeconds > 0 ? main / elapsedSeconds : 0;
  const size = stream.size ?? null;
  const fraction = size === null ? null : size > 0 ? Math.min(1, main / size) : 1;
  const etaSeconds = size === null || averageRate <= 0
    ? null
    : Math.max(0, (size - main) / averageRate);
  const rate = taken.rate ?? averageRate;
  const done = taken.done ?? false;
  return { ...moved, elapsedSeconds, rate, averageRate, size, fraction, etaSeconds, done };
}

/** What a {@link ProgressWatch} reports, and to whom. */
export interface ProgressWatchOptions {
  /** The direction the rates, size and ETA are of. */
  main: MainStream;
  /** The main stream's expected size in bytes. */
  size?: number;
  /** Called with each set of figures. */
  onProgress(progress: Progress): void;
  /**
   * The clock of the figures and of their cadence, for a test's fake one.
   * @default {REAL_CLOCK}
   */
  clock?: Clock;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/**
 * Bytes in the largest binary unit that keeps the number at least 1, with three
 * significant digits: 1536 → "1.50 KiB".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatBytes } from "./progress.ts";
 * assert.deepEqual(formatBytes(1536), "1.50 KiB");
 * assert.deepEqual(formatBytes(512), "512 B");
 * ```
 */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/**
 * A duration as `H:MM:SS`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatDuration } from "./progress.ts";
 * assert.deepEqual(formatDuration(3725), "1:02:05");
 * ```
 */
export function formatDuration(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${Math.floor(whole / 3600)}:${pad(Math.floor(whole / 60) % 60)}:${pad(whole % 60)}`;
}

/**
 * The progress line: bytes each way, current and average rate, elapsed time, and with a
 * size, percent and ETA; with `--reconnect`, a cut under way and the cuts survived. What
 * `--progress` draws and SIGUSR1 prints.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { progressLine } from "./progress.ts";
 * const line = progressLine({
 *   sent: 3 * 2 ** 30, received: 0, elapsedSeconds: 6, rate: 2 ** 29, averageRate: 2 ** 29,
 *   size: 6 * 2 ** 30, fraction: 0.5, etaSeconds: 6, done: false,
 * });
 * assert.equal(
 *   line,
 *   "3.00 GiB sent, 0 B received, 512 MiB/s (average 512 MiB/s), 0:00:06, 50%, ETA 0:00:06",
 * );
 * assert.match(
 *   progressLine({
 *     sent: 1, received: 0, elapsedSeconds: 1, rate: 0, averageRate: 1, size: null,
 *     fraction: null, etaSeconds: null, done: false, cuts: 2, cutNow: true,
 *   }),
 *   /, cut: meeting again, 2 cuts survived$/,
 * );
 * ```
 */
export function progressLine(progress: Progress): string {
  const parts = [
    `${formatBytes(progress.sent)} sent, ${formatBytes(progress.received)} received`,
    `${formatBytes(progress.rate)}/s (average ${formatBytes(progress.averageRate)}/s)`,
    formatDuration(progress.elapsedSeconds),
  ];
  if (progress.fraction !== null) parts.push(`${Math.floor(progress.fraction * 100)}%`);
  if (progress.etaSeconds !== null && !progress.done) {
    parts.push(`ETA ${formatDuration(progress.etaSeconds)}`);
  }
  if (progress.cutNow && !progress.done) parts.push("cut: meeting again");
  if (progress.cuts) parts.push(`${progress.cuts} cut${progress.cuts === 1 ? "" : "s"} survived`);
  return parts.join(", ");
}
