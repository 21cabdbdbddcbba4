const encoder = new TextEncoder();

let interrupter: (() => void) | null = null;

/**
 * Registers what must happen before any line is written to stderr (a progress meter
 * erases itself); null removes it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { logLine, setLineInterrupter } from "./log.ts";
 * let erased = 0;
 * setLineInterrupter(() => erased++);
 * logLine("a line");
 * setLineInterrupter(null);
 * assert.equal(erased, 1);
 * ```
 */
export function setLineInterrupter(erase: (() => void) | null): void {
  interrupter = erase;
}

/**
 * Writes one line to stderr, prefixed with the program's name, synchronously so that the
 * line is out before the process exits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { logLine, setLineInterrupter } from "./log.ts";
 * let called = false;
 * setLineInterrupter(() => called = true); // a meter on the terminal steps aside first
 * logLine("remote command 'dd' exited with status 1");
 * setLineInterrupter(null);
 * assert.ok(called);
 * ```
 */
export function logLine(message: string, prefix = "socketpipe"): void {
  interrupter?.();
  const bytes = encoder.encode(`${prefix}: ${message}\n`);
  // stderr may be gone (a closed pipe, `2>&-`): the line is lost, but the exit status,
  // which is what a script reads, must not change because of it.
  try {
    let written = 0;
    while (written < bytes.length) {
      written += Deno.stderr.writeSync(bytes.subarray(written));
    }
  } catch {
    // Nowhere left to say it.
  }
}

/**
 * A logger for the steps of a run, silent unless verbose.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StepLog } from "./log.ts";
 * const log = new StepLog(true, "socketpipe");
 * log.step("listening on [::]:40000");
 * assert.equal(log.verbose, true);
 * ```
 */
export class StepLog {
  constructor(readonly verbose: boolean, readonly prefix: string) {}

  /** Logs a step when verbose. */
  step(message: string): void {
    if (this.verbose) logLine(message, this.prefix);
  }

  /** Logs a line always. */
  always(message: string): void {
    logLine(message, this.prefix);
  }
}

/**
 * Writes `text` and a newline to stdout or stderr, as is: for --help and --version. A
 * stream that is gone is not an error (`socketpipe --help | head -1`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { printText } from "./log.ts";
 * assert.equal(printText("socketpipe 1.0.0", Deno.stdout), undefined);
 * ```
 */
export function printText(text: string, stream: typeof Deno.stdout | typeof Deno.stderr): void {
  const bytes = encoder.encode(`${text}\n`);
  try {
    for (let written = 0; written < bytes.length;) {
      written += stream.writeSync(bytes.subarray(written));
    }
  } catch {
    // The reader has gone.
  }
}
