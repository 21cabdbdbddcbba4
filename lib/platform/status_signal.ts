/**
 * SIGUSR1 as `dd` has it: a request for one status line. Deno (since 2.9.2) answers
 * SIGUSR1, from half a second after start-up, by opening its debugger on 127.0.0.1:9229,
 * unauthenticated, so that any local user could run code as the user running
 * socketpipe, often root. A JavaScript listener does not prevent that (Deno's own
 * handler runs beside it), so socketpipe takes the signal over below Deno, first thing:
 *
 * 1. It adds a listener for SIGUSR1 at once. Deno installs its one process-wide handler
 *    for a signal the first time anything listens to it; when the inspector asks for
 *    SIGUSR1 later, the handler is already there and nothing is installed again.
 * 2. It then replaces that handler, in the kernel, with libc's `alarm`: the kernel calls
 *    a handler with the signal's number, so each SIGUSR1 becomes `alarm(10)` — an
 *    async-signal-safe call with a trace socketpipe can read (the process's real-time
 *    timer is armed) and no other effect. Deno never sees the signal.
 * 3. {@link onStatusRequest} reads the timer four times a second (`getitimer`, nothing
 *    else), disarms it, and calls back. SIGALRM, should the timer ever run out (a
 *    process stopped for ten seconds), has a listener, so it ends nothing.
 *
 * Commands get both signals at their defaults: a handler is reset by exec.
 * Relies on Deno's internals as verified on `VERIFIED_ON_DENO` (`deno_internals.ts`); a test in
 * `tests/local_login/end_to_end_test.ts` checks that a SIGUSR1 to either half opens no port and
 * prints the line. Without FFI (Linux only) none of this can be done, and SIGUSR1 keeps
 * Deno's meaning.
 *
 * @module
 */
import { bindLibc } from "./libc.ts";

const SIGUSR1 = 10;
const SA_RESTART = 0x10000000;
/** glibc's struct sigaction on 64-bit Linux: handler, mask (128), flags, restorer. */
const SIGACTION_SIZE = 152;
const ITIMER_REAL = 0;

const SYMBOLS = {
  dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
  sigaction: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getitimer: { parameters: ["i32", "buffer"], result: "i32" },
  alarm: { parameters: ["u32"], result: "u32" },
} as const;

let symbols: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] | null = null;
let takenOver = false;

/**
 * Takes SIGUSR1 over from Deno (see the module's description); true when done. Call it
 * first thing, before Deno's half-second grace for its inspector ends.
 *
 * @example Not run as a test: it would take SIGUSR1 over in the test process.
 * ```ts ignore
 * import { takeOverStatusSignal } from "./status_signal.ts";
 * takeOverStatusSignal(); // first thing in main.ts
 * ```
 */
export function takeOverStatusSignal(): boolean {
  if (takenOver) return true;
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") {
    return false;
  }
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return false;
  try {
    symbols ??= bindLibc(SYMBOLS);
  } catch {
    return false;
  }
  const alarm = symbols.dlsym(null, new TextEncoder().encode("alarm\0"));
  if (!alarm) return false;
  const noop = () => {};
  Deno.addSignalListener("SIGUSR1", noop); // Deno's handler for SIGUSR1, installed now
  Deno.addSignalListener("SIGALRM", noop); // an unclaimed alarm must not end the run
  const action = new Uint8Array(SIGACTION_SIZE);
  const view = new DataView(action.buffer);
  view.setBigUint64(0, BigInt(Deno.UnsafePointer.value(alarm)), true);
  view.setInt32(8 + 128, SA_RESTART, true);
  takenOver = symbols.sigaction(SIGUSR1, action, null) === 0;
  return takenOver;
}

/**
 * Calls `onRequest` for every SIGUSR1 (requests closer than a quarter of a second apart
 * count once), until the returned function is called. Does nothing unless
 * {@link takeOverStatusSignal} succeeded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { onStatusRequest } from "./status_signal.ts";
 * let requests = 0;
 * const stop = onStatusRequest(() => requests++); // a no-op until the signal is taken over
 * stop();
 * assert.equal(requests, 0);
 * ```
 */
export function onStatusRequest(onRequest: () => void): () => void {
  const c = symbols;
  if (!c || !takenOver) return () => {};
  const timer = new BigInt64Array(4); // it_interval, it_value: { tv_sec, tv_usec }
  const bytes = new Uint8Array(timer.buffer);
  const interval = setInterval(() => {
    if (c.getitimer(ITIMER_REAL, bytes) !== 0) return;
    if (timer[2] === 0n && timer[3] === 0n) return;
    c.alarm(0);
    onRequest();
  }, 250);
  Deno.unrefTimer(interval);
  return () => clearInterval(interval);
}
