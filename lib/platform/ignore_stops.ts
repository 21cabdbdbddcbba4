/**
 * The login's Ctrl-Z: ssh must not stop with the terminal's job, or nothing could tell
 * the remote half why the local half fell silent (see `login/job_control.ts`).
 *
 * @module
 */
import { bindLibc } from "./libc.ts";

const SIGTSTP = 20;
const SIG_IGN = 1n;

/**
 * Ignores SIGTSTP in this process until `handleStopRequests` (login/job_control.ts) installs its handler:
 * call it right before starting the login, which inherits the ignored disposition.
 * Returns false where it cannot (no FFI).
 *
 * @example Not run as a test: it would change the test process's SIGTSTP.
 * ```ts ignore
 * import { ignoreStopsForLogin } from "./ignore_stops.ts";
 * ignoreStopsForLogin();
 * ```
 */
export function ignoreStopsForLogin(): boolean {
  stopsIgnored = ignoreStops();
  return stopsIgnored;
}

let stopsIgnored = false;

/**
 * The variable that tells a remote half started through a login on this host that its
 * SIGTSTP was ignored by this socketpipe, not by the user (`inherited_signals.ts`).
 */
export const STOPS_IGNORED_VARIABLE = "SOCKETPIPE_LOGIN_IGNORES_TSTP";

/**
 * What the login's environment gets so that the ignored SIGTSTP is known for socketpipe's
 * own: `{ SOCKETPIPE_LOGIN_IGNORES_TSTP: "1" }` once {@link ignoreStopsForLogin} has
 * ignored it, else nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stopsIgnoredVariable } from "./ignore_stops.ts";
 * assert.deepEqual(stopsIgnoredVariable(), {});
 * ```
 */
export function stopsIgnoredVariable(): Record<string, string> {
  return stopsIgnored ? { [STOPS_IGNORED_VARIABLE]: "1" } : {};
}

function ignoreStops(): boolean {
  // Its own binding, of one function: binding all of libc here would delay the login.
  if (Deno.build.os !== "linux") return false;
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return false;
  try {
    const { signal } = bindLibc({ signal: { parameters: ["i32", "i64"], result: "i64" } });
    return signal(SIGTSTP, SIG_IGN) !== -1n;
  } catch {
    return false;
  }
}
