/**
 * SIGUSR1 as `dd` has it: a request for one status line. Deno (since 2.9.2) answers
 * SIGUSR1 by opening its debugger on 127.0.0.1:9229, unauthenticated, so that any local
 * user could run code as the user running socketpipe, often root. A signal handler
 * cannot prevent that: Deno's own handler runs beside it. A *blocked* signal is never
 * delivered, though, and a thread's signal mask is inherited by every thread it creates
 * and kept across exec: so the command line, first thing, re-executes itself with
 * SIGUSR1 blocked (same pid, same argv and environment, one more start-up of the runtime)
 * and from then on collects the pending signal itself with `sigtimedwait`, polling
 * `sigpending` four times a second, which costs nothing measurable.
 *
 * Relies on Deno's internals as verified on {@link VERIFIED_ON_DENO}; a test in
 * `tests/local_login_test.ts` checks that a SIGUSR1 to either half opens no port. The
 * remote half keeps SIGUSR1 blocked and prints nothing (its stderr is the login's).
 * Without FFI (Linux only) none of this can be done and SIGUSR1 keeps Deno's meaning.
 *
 * @module
 */
import { VERIFIED_ON_DENO } from "./deno_internals.ts";
import { cString, cStringArray, libc } from "./libc.ts";

export { VERIFIED_ON_DENO };

const SIGUSR1 = 10;
const SIG_BLOCK = 0;
const SIG_UNBLOCK = 1;
const SIG_SETMASK = 2;
const SIGSET_SIZE = 128;
/** An environment variable that marks the re-executed process: exec happens once. */
const REEXECUTED = "SOCKETPIPE_SIGUSR1_BLOCKED";

/** Whether SIGUSR1 is blocked in this thread (and so, inherited, in all of them). */
export function statusSignalBlocked(): boolean {
  try {
    const status = Deno.readTextFileSync("/proc/thread-self/status");
    const blocked = status.match(/^SigBlk:\s*([0-9a-f]+)$/m)?.[1];
    return blocked !== undefined && (BigInt(`0x${blocked}`) & (1n << BigInt(SIGUSR1 - 1))) !== 0n;
  } catch {
    return false;
  }
}

/**
 * Re-executes this process with SIGUSR1 blocked, unless it already is blocked (or FFI is
 * not permitted, or this is not Linux). Returns only when no exec took place.
 *
 * @example
 * ```ts ignore
 * import { reexecWithStatusSignalBlocked } from "./status_signal.ts";
 * reexecWithStatusSignalBlocked(); // first thing in main.ts
 * ```
 */
export function reexecWithStatusSignalBlocked(): void {
  if (Deno.env.get(REEXECUTED) !== undefined) {
    Deno.env.delete(REEXECUTED); // not for the commands: their mask is reset anyway
    return;
  }
  if (statusSignalBlocked()) return;
  const c = execSymbols();
  if (!c) return;
  let argv: string[];
  try {
    argv = Deno.readTextFileSync("/proc/self/cmdline").split("\0").slice(0, -1);
  } catch {
    return;
  }
  const set = new Uint8Array(SIGSET_SIZE);
  c.sigemptyset(set);
  c.sigaddset(set, SIGUSR1);
  const previous = new Uint8Array(SIGSET_SIZE);
  if (c.sigprocmask(SIG_BLOCK, set, previous) !== 0) return;
  const argvStrings = argv.map(cString);
  const environment = Object.entries({ ...Deno.env.toObject(), [REEXECUTED]: "1" })
    .map(([name, value]) => cString(`${name}=${value}`));
  c.execve(cString(Deno.execPath()), cStringArray(argvStrings), cStringArray(environment));
  // Still here: the exec failed. Carry on as before, with SIGUSR1 as it was.
  c.sigprocmask(SIG_SETMASK, previous, null);
}

/**
 * The four symbols the exec needs, loaded on their own: binding all of libc's symbols
 * costs several milliseconds, paid twice (before and after the exec) otherwise.
 */
function execSymbols() {
  if (Deno.build.os !== "linux") return null;
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
  try {
    return Deno.dlopen("libc.so.6", {
      sigemptyset: { parameters: ["buffer"], result: "i32" },
      sigaddset: { parameters: ["buffer", "i32"], result: "i32" },
      sigprocmask: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
      execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
    }).symbols;
  } catch {
    return null;
  }
}

/**
 * Calls `onRequest` for every SIGUSR1, polling four times a second; returns a function
 * that stops listening. Does nothing unless SIGUSR1 is blocked (see
 * {@link reexecWithStatusSignalBlocked}).
 *
 * @example
 * ```ts
 * import { onStatusRequest } from "./status_signal.ts";
 * const stop = onStatusRequest(() => console.error("status"));
 * stop();
 * ```
 */
export function onStatusRequest(onRequest: () => void): () => void {
  const c = libc();
  if (!c || !statusSignalBlocked()) return () => {};
  const wanted = new Uint8Array(SIGSET_SIZE);
  c.sigemptyset(wanted);
  c.sigaddset(wanted, SIGUSR1);
  const pending = new Uint8Array(SIGSET_SIZE);
  const noWait = new Uint8Array(16); // struct timespec { 0, 0 }
  const timer = setInterval(() => {
    c.sigpending(pending);
    if (c.sigismember(pending, SIGUSR1) !== 1) return;
    c.sigtimedwait(wanted, null, noWait); // takes it off the pending set
    onRequest();
  }, 250);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}

/**
 * Runs `spawn` (a `Deno.Command` spawn) with SIGUSR1 unblocked in this thread, so that
 * the child does not inherit the blocked signal (Deno keeps the spawning thread's mask
 * in the child; commands started with FFI get an empty mask anyway). A SIGUSR1 already
 * pending is taken off first; one that arrives within the spawn itself, a fraction of a
 * millisecond, would still reach Deno.
 *
 * @example
 * ```ts
 * import { spawnWithStatusSignalUnblocked } from "./status_signal.ts";
 * const child = spawnWithStatusSignalUnblocked(() => new Deno.Command("true").spawn());
 * await child.status;
 * ```
 */
export function spawnWithStatusSignalUnblocked<T>(spawn: () => T): T {
  const c = libc();
  if (!c || !statusSignalBlocked()) return spawn();
  const set = new Uint8Array(SIGSET_SIZE);
  c.sigemptyset(set);
  c.sigaddset(set, SIGUSR1);
  const pending = new Uint8Array(SIGSET_SIZE);
  c.sigpending(pending);
  const requested = c.sigismember(pending, SIGUSR1) === 1;
  if (requested) c.sigtimedwait(set, null, new Uint8Array(16));
  c.sigprocmask(SIG_UNBLOCK, set, null);
  try {
    return spawn();
  } finally {
    c.sigprocmask(SIG_BLOCK, set, null);
    if (requested) Deno.kill(Deno.pid, "SIGUSR1"); // pending again, for the status line
  }
}
