/**
 * A watchdog for a half's commands: a small `sh` that outlives the half if it is killed
 * outright (SIGKILL, the OOM killer, a signal Deno does not handle), and then kills what
 * the half started, so that nothing of the run is left on either host even then. It
 * waits on a pipe whose writing end only the half holds, and is told on it which
 * processes to guard as the half starts them. A clean end writes "done" (the watchdog
 * leaves, and with it whatever the commands left running on purpose); the half's death
 * closes the pipe, and the watchdog kills, with SIGKILL: the process groups it guards,
 * every process it guards with all of its descendants, and every process whose
 * environment names the run.
 *
 * @module
 */
import { REAL_CLOCK } from "../base/clock.ts";

import { libc } from "../platform/libc.ts";
import { closeFd, makePipe, openDevNull, setBlocking } from "../platform/file_descriptors.ts";
import { spawnWithFds, waitForExit } from "../platform/spawn_with_fds.ts";
import { PARENT_IS } from "./parent_is.ts";

// dash's kill takes no "--": "-$g" names a group. It ignores the signals that may end
// the session or the terminal's job (sshd's SIGHUP, Ctrl-C) so as to outlive them. On
// the end of its input it stops everything it can find first (so that nothing forks
// meanwhile), then kills it.
const WATCH = `trap "" HUP INT TERM QUIT USR2 TSTP
marker=$1 half=$2 parent=$3 groups= pids= poller= removals=
${PARENT_IS}
if [ -n "$parent" ]; then
  # The half's parent (the login's shell or sshd) gone while the half lives on (stopped,
  # hung): the login is over, and so is the half.
  (
    # Told to stop, it takes its sleep with it: nothing of the run outlives the half.
    trap 'kill "$nap" 2>/dev/null; wait "$nap"; exit 0' TERM
    while :; do
      sleep 1 &
      nap=$!
      wait "$nap"
      parent_is "$half" "$parent"
      case $? in
        1) kill -KILL "$half" 2>/dev/null; exit 0 ;;
        2) exit 0 ;;
      esac
    done
  ) &
  poller=$!
fi
while read -r word value; do
  case $word in
    done)
      [ -z "$poller" ] || { kill "$poller" 2>/dev/null; wait "$poller"; }
      exit 0
      ;;
    outlive)
      [ -z "$poller" ] || { kill "$poller" 2>/dev/null; wait "$poller"; }
      poller=
      ;;
    group) groups="$groups $value" ;;
    remove) removals="$removals
$value" ;;
    pid) pids="$pids $value" ;;
  esac
done
family() {
  found=" $pids "
  grew=1
  while [ -n "$grew" ]; do
    grew=
    for stat in /proc/[0-9]*/stat; do
      read -r line < "$stat" 2>/dev/null || continue
      pid=\${line%% *}
      rest=\${line##*) }
      set -- $rest
      case $found in *" $pid "*) continue ;; esac
      case $found in *" $2 "*) found="$found$pid "; grew=1 ;; esac
    done
  done
  # One grep over every environment, not two processes per entry: under a crowd of runs
  # (hundreds of entries, dozens of watchdogs) that was load enough to fail other runs.
  for environ in $(grep -laF -- "$marker" /proc/[0-9]*/environ 2>/dev/null); do
    pid=\${environ#/proc/}
    pid=\${pid%/environ}
    case $found in *" $pid "*) ;; *) found="$found$pid " ;; esac
  done
  echo "$found"
}
[ -z "$poller" ] || kill "$poller" 2>/dev/null
for signal in STOP KILL; do
  for g in $groups; do kill -$signal -"$g" 2>/dev/null; done
  for p in $(family); do [ "$p" = $$ ] || kill -$signal "$p" 2>/dev/null; done
done
printf '%s\n' "$removals" | while IFS= read -r path; do
  [ -z "$path" ] || rm -rf -- "$path"
done`;

/** Milliseconds a released watchdog may take to leave before it is killed. */
const LEAVE_MS = 1000;

/** A started watchdog. */
export interface Watchdog {
  /** The watchdog's own pid: one of socketpipe's helpers, never a command's process. */
  readonly pid: number;
  /** Guards `pid` and its descendants, and with `group` its whole process group. */
  guard(pid: number, group: boolean): void;
  /** From now on the half may outlive its parent: the watchdog stops ending it then. */
  outliveParent(): void;
  /** Should the half die, `path` (a directory of its own, one line) is removed too. */
  removeAtDeath(path: string): void;
  /** Tells the watchdog the half ended cleanly, and waits for it to leave. */
  release(): Promise<void>;
}

/**
 * Starts a watchdog that, should this process die, kills what it is told to guard and
 * every process whose environment holds `marker` (`SOCKETPIPE_RUN=<run>:`); with
 * `endWithParent`, it also kills this process once its parent is gone (checked every
 * second), which for the remote half means the login is over. Null where it cannot run
 * (no FFI).
 *
 * @example Not run as a test: it starts a watchdog process that outlives the example.
 * ```ts ignore
 * import { startWatchdog } from "./watchdog.ts";
 * const watchdog = startWatchdog("SOCKETPIPE_RUN=1a2b3c4d:");
 * watchdog?.guard(4242, true);
 * // … the command runs …
 * await watchdog?.release();
 * ```
 */
export function startWatchdog(marker: string, endWithParent = false): Watchdog | null {
  if (!libc()) return null;
  try {
    const [readEnd, writeEnd] = makePipe(); // both close-on-exec: no command inherits them
    setBlocking(readEnd);
    // Its stdout is not the login channel: the session must close when the half ends.
    const devNull = openDevNull();
    let pid: number;
    try {
      const half = endWithParent ? [String(Deno.pid), String(Deno.ppid)] : [];
      pid = spawnWithFds(["sh", "-c", WATCH, "socketpipe-watchdog", marker, ...half], {
        stdin: readEnd,
        stdout: devNull,
        stderr: devNull,
      });
    } finally {
      closeFd(devNull);
      closeFd(readEnd);
    }
    const left: Promise<void> = waitForExit(pid).then(() => {}, () => {});
    let open = true;
    const tell = (line: string) => {
      if (!open) return;
      const bytes = new TextEncoder().encode(`${line}\n`);
      libc()!.write(writeEnd, bytes, BigInt(bytes.length));
    };
    return {
      pid,
      guard(guarded, group) {
        tell(`${group ? "group" : "pid"} ${guarded}`);
      },
      outliveParent() {
        tell("outlive");
      },
      removeAtDeath(path) {
        if (!path.includes("\n")) tell(`remove ${path}`);
      },
      async release() {
        if (!open) return await left;
        try {
          tell("done");
        } finally {
          open = false;
          closeFd(writeEnd);
        }
        // A watchdog stopped by a signal (SIGSTOP) never reads "done": nothing of the run
        // outlives the half, the watchdog included.
        const timer = REAL_CLOCK.after(LEAVE_MS, () => {
          try {
            Deno.kill(pid, "SIGKILL");
          } catch {
            // Left meanwhile.
          }
        });
        await left;
        REAL_CLOCK.clear(timer);
      },
    };
  } catch {
    return null;
  }
}
