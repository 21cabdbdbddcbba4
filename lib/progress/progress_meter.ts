/**
 * `--progress`: the progress line on stderr. On a terminal it is redrawn in place, at most
 * four times a second, steps aside before any other line (errors, `-v`) and leaves its
 * last figures as a summary line at the end; otherwise a plain line every ten seconds and
 * a last one at the end, so that a log stays readable. On a terminal the output command
 * writes on too, only the summary. It draws nothing until the data connection is up, so
 * a password prompt is never overwritten.
 *
 * @module
 */
import { setLineInterrupter } from "../base/log.ts";
import { type Progress, progressLine } from "./progress.ts";

/** Where the meter writes, and whether it is a terminal. */
export interface MeterOutput {
  /** Writes text as is. */
  write(text: string): void;
  /** Whether it is a terminal (redraw in place) or not (plain lines). */
  isTerminal: boolean;
}

/** Seconds between plain lines when stderr is not a terminal. */
export const PLAIN_LINE_SECONDS = 10;

/**
 * The meter. {@link show} takes each set of figures; {@link finish} ends it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProgressMeter } from "./progress_meter.ts";
 * const lines: string[] = [];
 * const meter = new ProgressMeter({ write: (text) => lines.push(text), isTerminal: false });
 * meter.finish({
 *   sent: 10, received: 0, elapsedSeconds: 1, rate: 10, averageRate: 10,
 *   size: null, fraction: null, etaSeconds: null, done: true,
 * });
 * assert.deepEqual(lines, ["socketpipe: 10 B sent, 0 B received, 10 B/s (average 10 B/s), 0:00:01\n"]);
 * ```
 */
export class ProgressMeter {
  readonly #output: MeterOutput;
  /** Whether only the summary is shown, at the end (the terminal is the output's too). */
  readonly #summaryOnly: boolean;
  /** Whether a line is drawn on the terminal now. */
  #drawn = false;
  #lastPlainLine = 0;
  /** What the figures shown last were of ("data", "provision"). */
  #kind = "data";
  #finished = false;
  /** Whether relayed text left a line unfinished, which a redraw would overwrite. */
  #lineOpen = false;

  /**
   * `options.summaryOnly`: draw nothing until the end, then the summary line: for a
   * terminal that the output command writes on too, where a line redrawn in place would
   * leave pieces of itself inside the output.
   */
  constructor(output: MeterOutput, options: { summaryOnly?: boolean } = {}) {
    this.#output = output;
    this.#summaryOnly = options.summaryOnly ?? false;
    if (this.drawsInPlace) setLineInterrupter(() => this.#erase());
  }

  /** Whether it redraws in place (a terminal), and so must see every other line first. */
  get drawsInPlace(): boolean {
    return this.#output.isTerminal && !this.#summaryOnly;
  }

  /** Shows `progress`: redrawn on a terminal, else a plain line every ten seconds. */
  show(progress: Progress): void {
    this.showLine(progressLine(progress), progress.elapsedSeconds, "data");
  }

  /**
   * Shows a line of figures of another kind (provisioning's send, before the data flows)
   * the same way; `elapsedSeconds` paces the plain lines.
   */
  showLine(text: string, elapsedSeconds: number, kind = "provision"): void {
    if (this.#finished || this.#summaryOnly) return;
    if (kind !== this.#kind) {
      // Each kind counts its own time: the data's first plain line comes 10 s into it.
      this.#kind = kind;
      this.#lastPlainLine = 0;
    }
    const line = `socketpipe: ${text}`;
    if (this.#output.isTerminal) {
      if (this.#lineOpen) return;
      this.#output.write(`\r${line}\x1b[K`);
      this.#drawn = true;
    } else if (elapsedSeconds - this.#lastPlainLine >= PLAIN_LINE_SECONDS) {
      this.#lastPlainLine = elapsedSeconds;
      this.#output.write(`${line}\n`);
    }
  }

  /**
   * Ends the meter with the last figures as a line of their own, left in place as pv
   * leaves its last line, when there were any (a run that never reached its data
   * connection has none).
   */
  finish(last: Progress | null): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.drawsInPlace) {
      setLineInterrupter(null);
      if (!last) return this.#erase();
      this.#output.write(`\r${`socketpipe: ${progressLine(last)}`}\x1b[K\n`);
      this.#drawn = false;
    } else if (last) {
      this.#output.write(`socketpipe: ${progressLine(last)}\n`);
    }
  }

  /**
   * Writes `bytes` from elsewhere (the remote host's lines, through the login) on the
   * meter's output, the meter stepping aside first.
   */
  relay(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#erase();
    this.#output.write(new TextDecoder().decode(bytes));
    this.#lineOpen = bytes[bytes.length - 1] !== 0x0a;
  }

  #erase(): void {
    if (!this.#drawn) return;
    this.#output.write("\r\x1b[K");
    this.#drawn = false;
  }
}

/**
 * The meter's output on this process's stderr. Writes are synchronous, so that the line
 * is whole when anything else writes; a stderr that is gone is not an error.
 *
 * @example Not run as a test: it draws on this process's stderr (see tests/unit/progress_meter_test.ts).
 * ```ts ignore
 * import { ProgressMeter, stderrOutput } from "./progress_meter.ts";
 * const meter = new ProgressMeter(stderrOutput());
 * ```
 */
export function stderrOutput(): MeterOutput {
  const encoder = new TextEncoder();
  return {
    isTerminal: Deno.stderr.isTerminal(),
    write(text) {
      const bytes = encoder.encode(text);
      try {
        for (let written = 0; written < bytes.length;) {
          written += Deno.stderr.writeSync(bytes.subarray(written));
        }
      } catch {
        // stderr is gone: nothing to show the meter on.
      }
    },
  };
}
