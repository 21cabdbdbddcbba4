/**
 * A mistake on the command line or in the options: the run never started.
 * The CLI prints the message and the usage, and exits 1.
 *
 * @example
 * ```ts
 * import { UsageError } from "./errors.ts";
 * throw new UsageError("missing -l { login command }");
 * ```
 */
export class UsageError extends Error {
  /** The exit status for a usage error. */
  readonly exitStatus = 1;
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * A setup or transport failure (login, connection, handshake, truncation). Its message is
 * one line: the step, the cause and what to try. The CLI exits 2.
 *
 * @example
 * ```ts
 * import { TransportError } from "./errors.ts";
 * throw new TransportError("connect: no authenticated connection within 10 s");
 * ```
 */
export class TransportError extends Error {
  /** The exit status for a setup or transport failure. */
  readonly exitStatus = 2;
  constructor(message: string) {
    super(message);
    this.name = "TransportError";
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
