const encoder = new TextEncoder();

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
  const bytes = encoder.encode(`${prefix}: ${message}\n`);
  let written = 0;
  while (written < bytes.length) {
    written += Deno.stderr.writeSync(bytes.subarray(written));
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
