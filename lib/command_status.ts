/** How a command ended. */
export interface CommandStatus {
  /** The status a shell would show: the exit code, or 128 + N after signal N. */
  status: number;
  /** The signal that ended the command, or null. */
  signal: string | null;
  /** Why the command never ran (e.g. "not found"), or null. */
  failedToStart: string | null;
}

const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGXCPU: 24,
  SIGXFSZ: 25,
};

/** The status of a command killed by SIGPIPE, as a shell shows it. */
export const SIGPIPE_STATUS = 128 + 13;

/**
 * The number of a signal, by name; 0 when unknown.
 *
 * @example
 * ```ts
 * import { signalNumber } from "./command_status.ts";
 * signalNumber("SIGKILL"); // 9
 * ```
 */
export function signalNumber(signal: string): number {
  return SIGNAL_NUMBERS[signal] ?? 0;
}

/**
 * The name of a signal, by number, e.g. "SIGKILL" for 9.
 *
 * @example
 * ```ts
 * import { signalName } from "./command_status.ts";
 * signalName(13); // "SIGPIPE"
 * ```
 */
export function signalName(signal: number): string {
  const entry = Object.entries(SIGNAL_NUMBERS).find(([, number]) => number === signal);
  return entry ? entry[0] : `signal ${signal}`;
}

/**
 * Converts a `Deno.CommandStatus` into a {@link CommandStatus}.
 *
 * @example
 * ```ts
 * import { statusFromDeno } from "./command_status.ts";
 * const child = new Deno.Command("true").spawn();
 * statusFromDeno(await child.status); // { status: 0, signal: null, failedToStart: null }
 * ```
 */
export function statusFromDeno(status: Deno.CommandStatus): CommandStatus {
  if (status.signal) {
    return {
      status: 128 + signalNumber(status.signal),
      signal: status.signal,
      failedToStart: null,
    };
  }
  return { status: status.code, signal: null, failedToStart: null };
}

/**
 * The status of a command that could not be started: 127 when not found (as a shell
 * reports it), 126 otherwise.
 *
 * @example
 * ```ts
 * import { statusOfSpawnFailure } from "./command_status.ts";
 * statusOfSpawnFailure(new Deno.errors.NotFound("x")).status; // 127
 * ```
 */
export function statusOfSpawnFailure(error: unknown): CommandStatus {
  if (error instanceof Deno.errors.NotFound) {
    return { status: 127, signal: null, failedToStart: "not found" };
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return { status: 126, signal: null, failedToStart: "not executable (permission denied)" };
  }
  const reason = error instanceof Error ? error.message : String(error);
  return { status: 126, signal: null, failedToStart: reason };
}

/**
 * Says in words how a command ended, for an error line.
 *
 * @example
 * ```ts
 * import { describeStatus } from "./command_status.ts";
 * describeStatus({ status: 137, signal: "SIGKILL", failedToStart: null }); // "killed by SIGKILL"
 * ```
 */
export function describeStatus(status: CommandStatus): string {
  if (status.failedToStart) return `could not start: ${status.failedToStart}`;
  if (status.signal) return `killed by ${status.signal}`;
  return `exited with status ${status.status}`;
}
