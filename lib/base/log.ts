const encoder = new TextEncoder();

let interrupter: (() => void) | null = null;

/**
 * Registers what must happen before any line is written to stderr (a progress meter
 * erases itself); null removes it.
 *
 * @example
 * ```ts
 * import { setLineInterrupter } from "./log.ts";
 * setLineInterrupter(() => {});
 * setLineInterrupter(null);
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
 * import { logLine } from "./log.ts";
 * logLine("remote command 'dd' exited with status 1");
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
 * import { StepLog } from "./log.ts";
 * const log = new StepLog(true, "socketpipe");
 * log.step("listening on [::]:40000");
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
 * import { printText } from "./log.ts";
 * printText("socketpipe 1.0.0", Deno.stdout);
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
