/**
 * A watchdog for the remote command: a small `sh` that outlives the remote half if it is
 * killed outright (SIGKILL, the OOM killer), and then stops the command's whole process
 * group, so that nothing of the run is left on the remote host even then. It waits on a
 * pipe whose writing end only the remote half holds: a clean end writes a line (the
 * watchdog leaves, and with it whatever the command left running on purpose); the remote
 * half's death closes the pipe, and the watchdog sends SIGKILL to the group.
 *
 * @module
 */

import { libc } from "./libc.ts";
import { closeFd, makePipe, openDevNull, setBlocking } from "./file_descriptors.ts";
import type { ProcessTree } from "./process_tree.ts";
import { spawnWithFds, waitForExit } from "./spawn_with_fds.ts";

// dash's kill takes no "--": "-$1" names the group.
// It ignores the signals that may end the session (sshd's SIGHUP) so as to outlive it.
const WATCH = 'trap "" HUP INT TERM; read -r line || kill -KILL -"$1" 2>/dev/null';

/** A started watchdog: release it on a clean end. */
export interface Watchdog {
  /** Tells the watchdog the remote half ended cleanly, and waits for it to leave. */
  release(): Promise<void>;
}

/**
 * Starts a watchdog over process group `group`; null where it cannot run (no FFI). It is
 * `tree`'s helper, never taken for one of the command's orphans.
 *
 * @example
 * ```ts ignore
 * import { startWatchdog } from "./watchdog.ts";
 * declare const tree: import("./process_tree.ts").ProcessTree;
 * const watchdog = startWatchdog(4242, tree);
 * // … the command runs …
 * watchdog?.release();
 * ```
 */
export function startWatchdog(group: number, tree: ProcessTree): Watchdog | null {
  if (!libc()) return null;
  try {
    const [readEnd, writeEnd] = makePipe(); // both close-on-exec: no command inherits them
    setBlocking(readEnd);
    // Its stdout is not the login channel: the session must close when the half ends.
    const devNull = openDevNull();
    let left: Promise<unknown>;
    try {
      const pid = spawnWithFds(["sh", "-c", WATCH, "socketpipe-watchdog", String(group)], {
        stdin: readEnd,
        stdout: devNull,
        stderr: devNull,
      });
      tree.exclude(pid);
      left = waitForExit(pid).catch(() => {});
    } finally {
      closeFd(devNull);
      closeFd(readEnd);
    }
    const done = new TextEncoder().encode("done\n");
    return {
      async release() {
        try {
          libc()!.write(writeEnd, done, BigInt(done.length));
        } finally {
          closeFd(writeEnd);
        }
        await left; // nothing of the run outlives the remote half, the watchdog included
      },
    };
  } catch {
    return null;
  }
}
