/**
 * A mistake on the command line or in the options: the run never started.
 * The CLI prints the message and the usage, and exits 1.
 *
 * @example
 * ```ts
 * import { UsageError } from "./errors.ts";
 * const error = new UsageError("missing -l { login command }");
 * error.exitStatus; // 1
 * ```
 */
export class UsageError extends Error {
  /** The exit status for a usage error. */
  readonly exitStatus = 1;
  /** Makes a usage error; `message` names the problem on one line. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * The message of any thrown value, on one line.
 *
 * @example
 * ```ts
 * import { messageOf } from "./errors.ts";
 * messageOf(new Error("a\nb")); // "a b"
 * ```
 */
export function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*\n\s*/g, " ").trim();
}
