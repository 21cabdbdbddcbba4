/**
 * A shell function the two guards of a run share, the watchdog's parent poller and the
 * provisioning bootstrap's guard: each ends its half once the half's parent (the login's
 * shell or sshd) is gone.
 *
 * @module
 */

/**
 * `parent_is PID PARENT` returns 0 while PID's parent is PARENT, 1 once it is another (the
 * login is over), 2 once PID is gone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PARENT_IS } from "./parent_is.ts";
 * const script = `${PARENT_IS}\nparent_is $$ $PPID; a=$?; parent_is $$ 1; b=$?; echo $a$b`;
 * const out = new Deno.Command("sh", { args: ["-c", script], stdout: "piped" }).outputSync();
 * assert.equal(new TextDecoder().decode(out.stdout), "01\n");
 * ```
 */
export const PARENT_IS = `parent_is() {
  want=$2
  read -r line < /proc/"$1"/stat 2>/dev/null || return 2
  rest=\${line##*) }
  set -- $rest
  [ "$2" = "$want" ]
}`;
