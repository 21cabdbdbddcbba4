/**
 * How a command ended, in a shell's terms: its status, the signal that ended it, or why
 * it never started; and the signals' names.
 *
 * @module
 */
import { messageOf } from "./message_of.ts";

/** How a command ended. */
export interface CommandStatus {
  /** The status a shell would show: the exit code, or 128 + N after signal N. */
  status: number;
  /** The signal that ended the command, or null. */
  signal: string | null;
  /** Why the command never ran (e.g. "not found"), or null. */
  failedToStart: string | null;
}

/** Linux's signal numbers (x86, arm, and most others), by name; real-time ones are computed. */
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
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};
/** The first real-time signal a program can use (glibc keeps 32 and 33 for itself). */
const SIGRTMIN = 34;
const SIGRTMAX = 64;
/** Other names Deno or the kernel use for the same numbers. */
const SIGNAL_ALIASES: Record<string, number> = { SIGIOT: 6, SIGPOLL: 29, SIGUNUSED: 31 };

/** The status of a command killed by SIGPIPE, as a shell shows it. */
export const SIGPIPE_STATUS = 128 + 13;

/**
 * The number of a signal, by name; 0 when unknown.
 *
 * @example
 * ```ts
 * import { signalNumber } from "./command_status.ts";
 * import assert from "node:assert/strict";
 * assert.equal(signalNumber("SIGKILL"), 9);
 * assert.equal(signalNumber("SIGRTMIN+1"), 35);
 * ```
 */
export function signalNumber(signal: string): number {
  const known = SIGNAL_NUMBERS[signal] ?? SIGNAL_ALIASES[signal];
  if (known) return known;
  const realTime = /^SIGRT(MIN|MAX)([+-]\d+)?$/.exec(signal);
  if (!realTime) return /^signal (\d+)$/.exec(signal) ? Number(signal.slice(7)) : 0;
  const number = (realTime[1] === "MIN" ? SIGRTMIN : SIGRTMAX) + Number(realTime[2] ?? 0);
  return number >= SIGRTMIN && number <= SIGRTMAX ? number : 0;
}

/**
 * The name of a signal, by number, e.g. "SIGKILL" for 9, "SIGRTMIN+2" for 36.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { signalName } from "./command_status.ts";
 * assert.equal(signalName(13), "SIGPIPE");
 * assert.equal(signalName(34), "SIGRTMIN");
 * assert.equal(signalName(64), "SIGRTMAX");
 * ```
 */
export function signalName(signal: number): string {
  const entry = Object.entries(SIGNAL_NUMBERS).find(([, number]) => number === signal);
  if (entry) return entry[0];
  if (signal === SIGRTMIN) return "SIGRTMIN";
  if (signal === SIGRTMAX) return "SIGRTMAX";
  if (signal > SIGRTMIN && signal < SIGRTMAX) return `SIGRTMIN+${signal - SIGRTMIN}`;
  return `signal ${signal}`;
}

/**
 * Converts a `Deno.CommandStatus` into a {@link CommandStatus}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { statusFromDeno } from "./command_status.ts";
 * const child = new Deno.Command("true").spawn();
 * assert.deepEqual(statusFromDeno(await child.status), { status: 0, signal: null, failedToStart: null });
 * ```
 */
export function statusFromDeno(status: Deno.CommandStatus): CommandStatus {
  if (status.signal) return statusOfSignal(signalNumber(status.signal));
  return { status: status.code, signal: null, failedToStart: null };
}

/**
 * The status of a command killed by signal `number`: 128 + N, as a shell shows it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { statusOfSignal } from "./command_status.ts";
 * assert.deepEqual(statusOfSignal(31), { status: 159, signal: "SIGSYS", failedToStart: null });
 * ```
 */
export function statusOfSignal(number: number): CommandStatus {
  return { status: 128 + number, signal: signalName(number), failedToStart: null };
}

/**
 * The status of a Deno child, also when Deno cannot name the signal that ended it (a
 * real-time one: `child.status` then rejects with "Invalid signal: 34").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { statusOfChild } from "./command_status.ts";
 * const child = new Deno.Command("sh", { args: ["-c", "kill -34 $$"] }).spawn();
 * assert.equal((await statusOfChild(child)).status, 162);
 * ```
 */
export async function statusOfChild(child: Deno.ChildProcess): Promise<CommandStatus> {
  try {
    return statusFromDeno(await child.status);
  } catch (error) {
    const number = /Invalid signal: (\d+)/.exec(String(error));
    if (!number) throw error;
    return statusOfSignal(Number(number[1]));
  }
}

/**
 * The status of a command that could not be started: 127 when not found (as a shell
 * reports it), 126 otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { statusOfSpawnFailure } from "./command_status.ts";
 * assert.deepEqual(statusOfSpawnFailure(new Deno.errors.NotFound("x")).status, 127);
 * ```
 */
export function statusOfSpawnFailure(error: unknown): CommandStatus {
  if (error instanceof Deno.errors.NotFound) {
    return { status: 127, signal: null, failedToStart: "not found" };
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return { status: 126, signal: null, failedToStart: "not executable (permission denied)" };
  }
  return { status: 126, signal: null, failedToStart: messageOf(error) };
}

/**
 * Says in words how a command ended, for an error line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeStatus } from "./command_status.ts";
 * assert.deepEqual(describeStatus({ status: 137, signal: "SIGKILL", failedToStart: null }), "killed by SIGKILL");
 * ```
 */
export function describeStatus(status: CommandStatus): string {
  if (status.failedToStart) return `could not start: ${status.failedToStart}`;
  if (status.signal) return `killed by ${status.signal}`;
  return `exited with status ${status.status}`;
}
