/**
 * The signals this process's parent left ignored, as a shell keeps them: `nohup` ignores
 * SIGHUP, a script's background job SIGINT and SIGQUIT. A shell never undoes such an
 * ignore, for itself or for the commands it starts; socketpipe does as it does. Read from
 * `/proc/self/status` before socketpipe takes any signal; Deno's own runtime ignores only
 * SIGPIPE, which is left out (a command gets SIGPIPE at its default, as from a shell).
 * Deno's first signal listener installs its own handlers for SIGHUP, SIGINT and SIGTERM,
 * which would undo such an ignore: {@link keepInheritedIgnores} ignores them again.
 *
 * @module
 */

import { STOPS_IGNORED_VARIABLE } from "./ignore_stops.ts";
import { bindLibc } from "./libc.ts";

const SIGPIPE = 13;
const SIGTSTP = 20;
/** glibc's own (thread cancellation, set*id): ignored in a child of posix_spawn, never by a user. */
const GLIBC_INTERNAL = [32, 33];

let ignored: ReadonlySet<number> | null = null;

/**
 * The numbers of the signals ignored when this process started (read once, at the first
 * call: make it before any signal listener is added).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inheritedIgnores } from "./inherited_signals.ts";
 * assert.equal(inheritedIgnores().has(13), false); // SIGPIPE: Deno's, never the user's
 * ```
 */
export function inheritedIgnores(): ReadonlySet<number> {
  if (ignored === null) {
    const found = new Set(ignoresIn(readStatus()));
    // A remote half on this host, under a login socketpipe started: its SIGTSTP was ignored
    // by that socketpipe, for the login (login/job_control.ts), not by the user.
    if (Deno.env.get(STOPS_IGNORED_VARIABLE) === "1") found.delete(SIGTSTP);
    Deno.env.delete(STOPS_IGNORED_VARIABLE);
    ignored = found;
  }
  return ignored;
}

function readStatus(): string {
  try {
    return Deno.readTextFileSync("/proc/self/status");
  } catch {
    return ""; // no /proc: nothing known to be ignored
  }
}

/**
 * The signals a `/proc/<pid>/status` text says are ignored (its `SigIgn` mask), less
 * SIGPIPE and glibc's own 32 and 33.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ignoresIn } from "./inherited_signals.ts";
 * assert.deepEqual([...ignoresIn("SigIgn:\t0000000000001003\n")], [1, 2]);
 * assert.deepEqual([...ignoresIn("SigIgn:\t0000000180000000\n")], []);
 * ```
 */
export function ignoresIn(status: string): ReadonlySet<number> {
  const mask = /^SigIgn:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  const found = new Set<number>();
  if (!mask) return found;
  const bits = BigInt(`0x${mask}`);
  for (let signal = 1; signal <= 64; signal++) {
    if (signal === SIGPIPE || GLIBC_INTERNAL.includes(signal)) continue;
    if ((bits >> BigInt(signal - 1)) & 1n) found.add(signal);
  }
  return found;
}

let ignoreSignal: ((signal: number, handler: bigint) => bigint) | null | undefined;
const SIG_IGN = 1n;

/**
 * Ignores again, in this process, every signal its caller left ignored, whatever handler
 * Deno has installed since; its commands then inherit them ignored. Call it after Deno's
 * first signal listener and before starting a command. False where it cannot (no FFI).
 *
 * @example Not run as a test: it would change the test process's signals.
 * ```ts ignore
 * import { keepInheritedIgnores } from "./inherited_signals.ts";
 * keepInheritedIgnores();
 * ```
 */
export function keepInheritedIgnores(): boolean {
  if (inheritedIgnores().size === 0) return true;
  if (ignoreSignal === undefined) {
    try {
      const { signal } = bindLibc({ signal: { parameters: ["i32", "i64"], result: "i64" } });
      ignoreSignal = signal;
    } catch {
      ignoreSignal = null; // not Linux, or no FFI
    }
  }
  if (ignoreSignal === null) return false;
  for (const signal of inheritedIgnores()) ignoreSignal(signal, SIG_IGN);
  return true;
}
