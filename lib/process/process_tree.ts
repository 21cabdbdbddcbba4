/**
 * The processes a run started, as a tree it can walk, inspect and stop.
 *
 * A shell pipeline ends a direction of data when every process holding it has closed it,
 * however many background children the commands left behind. To know the same, this
 * process becomes a child subreaper (`PR_SET_CHILD_SUBREAPER`) while a run lasts: a
 * command's orphans come back to it instead of to init, so every process a command
 * started stays a descendant it can find through `/proc/<pid>/task/<tid>/children`, see
 * the files of (who still holds the data socket) and stop (no process left behind). Each process is attributed to the
 * role whose command started it: by the tree while its parent lives, by what an earlier
 * walk saw, and otherwise by the `SOCKETPIPE_RUN` variable every command gets in its
 * environment. A process no walk can attribute counts for every role, so that no role
 * ends while it might still hold data. An orphan's environment proves nothing (`env -i`,
 * `env -u`, a daemon that rewrites its `argv[0]` over it): where this process starts no
 * other children (a command line, the remote half) every orphan is the run's; for a
 * library caller, an orphan is the run's when its environment says so or when it holds
 * one of the run's files.
 *
 * Linux only; on other systems, or without FFI, the tree has only what is still linked.
 *
 * Over 300 lines on purpose: walking, finding holders and stopping share one record of
 * who is whose (the roots, the role markers, what earlier walks saw); split, each part
 * would need the others' state.
 *
 * @module
 */

import { libc } from "../platform/libc.ts";
import { delay, REAL_CLOCK } from "../base/clock.ts";
import { LIVE_PROC, type ProcView } from "../platform/proc.ts";
import { startWatchdog, type Watchdog } from "./watchdog.ts";

const PR_SET_CHILD_SUBREAPER = 36;
/** The variable that names a command's run and role: `SOCKETPIPE_RUN=<run>:<role>`. */
export const RUN_VARIABLE = "SOCKETPIPE_RUN";

/** The remote half's one role. */
const REMOTE_ROLE = "remote";

/** How many trees hold this process a subreaper now (see {@link ProcessTree.becomeSubreaper}). */
let subreaperHolds = 0;

/** Sets or clears this process's child-subreaper mark; false where it cannot be set. */
function markSubreaper(on: boolean): boolean {
  const c = libc();
  return c !== null && c.prctl(PR_SET_CHILD_SUBREAPER, on ? 1n : 0n, 0n, 0n, 0n) === 0;
}

/** How a {@link ProcessTree} treats the processes it did not start itself. */
export interface ProcessTreeOptions {
  /**
   * Every orphan that comes back to this process is the run's, whatever its environment
   * says: for a process where nothing else starts children.
   * @default {false}
   */
  claimOrphans?: boolean;
  /**
   * Guard the run with a watchdog process that kills every process of it should this
   * process die without {@link ProcessTree.release} (SIGKILL, the OOM killer).
   * @default {false}
   */
  watchdog?: boolean;
  /**
   * The watchdog also ends this process (SIGKILL, and with it the run) once its parent is
   * gone: for the remote half, whose parent leaving means the login is over, even while
   * the half itself is stopped or hung and cannot notice.
   * @default {false}
   */
  endWithParent?: boolean;
  /**
   * The run's name, for `SOCKETPIPE_RUN`: the local half's, passed to the remote half, so
   * that both hosts name one run alike (eight hex digits; another value is ignored).
   * @default {a new random name}
   */
  run?: string;
  /**
   * The only role of this tree's processes (the remote half's "remote"): its marks alone
   * are its own, so that on one host (a local login) neither half claims the other's.
   */
  role?: string;
  /**
   * Where the tree reads processes from: the kernel's `/proc`, or a test's fake.
   * @default {LIVE_PROC}
   */
  proc?: ProcView;
}

/** Whether `run` can name a run: eight hex digits, as {@link ProcessTree} makes them. */
export function isRunName(run: string | undefined): run is string {
  return run !== undefined && /^[0-9a-f]{8}$/.test(run);
}

/**
 * The processes of one run, each attributed to a role ("input", "output", "remote",
 * "login").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProcessTree } from "./process_tree.ts";
 * const tree = new ProcessTree();
 * const child = new Deno.Command("sleep", { args: ["9"], env: tree.environment("input") })
 *   .spawn();
 * tree.adopt("input", child.pid);
 * await tree.signal("input", "SIGTERM");
 * assert.equal((await child.status).signal, "SIGTERM");
 * ```
 */
export class ProcessTree {
  readonly claimOrphans: boolean;
  readonly #watchdog: Watchdog | null;

  readonly #proc: ProcView;

  constructor(options: ProcessTreeOptions = {}) {
    this.claimOrphans = options.claimOrphans ?? false;
    this.#proc = options.proc ?? LIVE_PROC;
    this.#run = isRunName(options.run) ? options.run : crypto.randomUUID().slice(0, 8);
    this.#only = options.role ?? null;
    // The marker the watchdog looks for: the run's, or with a single role that role's.
    const marker = `${RUN_VARIABLE}=${this.#run}:${this.#only ?? ""}`;
    this.#watchdog = options.watchdog
      ? startWatchdog(marker, options.endWithParent ?? false)
      : null;
    if (this.#watchdog) this.#helpers.add(this.#watchdog.pid);
  }

  /** The direct children, by role. */
  #roots = new Map<number, string>();
  /** Files that mark the processes of a role, whatever their environment says. */
  #roleFiles = new Map<string, string>();
  /** socketpipe's own helpers among the direct children. */
  #helpers = new Set<number>();
  /** Every process a walk has attributed, by `pid:started`. */
  #seen = new Map<string, string>();
  /** Whether this tree holds the process's subreaper mark. */
  #holdsSubreaper = false;
  readonly #run: string;
  /** The one role this tree's marks name, if it has only one. */
  readonly #only: string | null;

  /** The run's name, as `SOCKETPIPE_RUN` gives it (before the colon and the role). */
  get run(): string {
    return this.#run;
  }

  /** The environment entry that names this run and `role`, for a command's environment. */
  environment(role: string): Record<string, string> {
    return { [RUN_VARIABLE]: `${this.#run}:${role}` };
  }

  /**
   * Records `pid`, a direct child of this process, as one of socketpipe's own helpers
   * (the watchdog): never the run's, never stopped with it, whatever `claimOrphans` says.
   */
  exclude(pid: number): void {
    this.#helpers.add(pid);
  }

  /**
   * Records `pid`, a direct child of this process, as the command of `role`; with
   * `ownGroup`, it leads a process group of its own, which the watchdog kills whole.
   */
  adopt(role: string, pid: number, ownGroup = false): void {
    if (pid <= 0) return;
    this.#roots.set(pid, role);
    this.#watchdog?.guard(pid, ownGroup);
  }

  /**
   * Records that every process holding `file` (a role's marker, `pipe:[…]`) descends from
   * the command of `role`: the tie-breaker for an orphan whose environment says nothing,
   * where two roles hold the same data file (the socket, on the local host).
   */
  markRole(role: string, file: string): void {
    this.#roleFiles.set(file, role);
  }

  /**
   * Makes this process a child subreaper until {@link release}; true when it is one.
   * Orphans of the commands it starts then come back to it rather than to init. The mark
   * is the process's: it stays while any tree holds it, and goes with the last, so that
   * a library caller does not go on collecting the orphans (and, unwaited, the zombies)
   * of everything else it runs once its runs are over.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ProcessTree } from "./process_tree.ts";
   * const tree = new ProcessTree();
   * assert.equal(tree.becomeSubreaper(), true); // on Linux with FFI permitted
   * await tree.release();
   * // Released: a command's orphan goes to init (or a reaper above), not to this process.
   * const leaves = new Deno.Command("sh", {
   *   args: ["-c", "sleep 9 >/dev/null 2>&1 & echo $!"],
   *   stdout: "piped",
   * });
   * const orphan = Number(new TextDecoder().decode((await leaves.output()).stdout));
   * const parent = Deno.readTextFileSync(`/proc/${orphan}/stat`).split(") ")[1].split(" ")[1];
   * Deno.kill(orphan, "SIGKILL");
   * assert.notEqual(Number(parent), Deno.pid);
   * ```
   */
  becomeSubreaper(): boolean {
    if (this.#holdsSubreaper) return true;
    if (subreaperHolds === 0 && !markSubreaper(true)) return false;
    subreaperHolds++;
    this.#holdsSubreaper = true;
    return true;
  }

  /**
   * From now on this process may outlive its parent (`endWithParent` no longer holds): a
   * remote half that waits, with `--reconnect`, for a login to be joined again after its
   * own login (its parent) is gone, and bounds that wait itself.
   *
   * @example
   * ```ts
   * import { ProcessTree } from "./process_tree.ts";
   * const tree = new ProcessTree({ watchdog: true, endWithParent: true });
   * tree.outliveParent();
   * await tree.release();
   * ```
   */
  outliveParent(): void {
    this.#watchdog?.outliveParent();
  }

  /**
   * Should this process be killed outright, its watchdog removes `path` too (a directory
   * of its own, such as the socket a remote half waits on for its login).
   *
   * @example
   * ```ts
   * import { ProcessTree } from "./process_tree.ts";
   * const tree = new ProcessTree({ watchdog: true });
   * tree.removeIfKilled(Deno.makeTempDirSync());
   * await tree.release(); // a clean end: the half removes what it made itself
   * ```
   */
  removeIfKilled(path: string): void {
    this.#watchdog?.removeAtDeath(path);
  }

  /**
   * The run ended by a path of its own: the watchdog leaves without killing anything, and
   * this tree lets go of the subreaper mark. Resolves once the watchdog has left.
   */
  async release(): Promise<void> {
    await this.#watchdog?.release();
    if (!this.#holdsSubreaper) return;
    this.#holdsSubreaper = false;
    if (--subreaperHolds === 0) markSubreaper(false);
  }

  /**
   * Every living process of the run with its role (null: cannot be attributed), walking
   * down from the direct children and from orphans that came back to this process.
   * Orphans that have ended are reaped here: nobody else waits for them.
   */
  walk(): Map<number, string | null> {
    return this.#walk(() => false);
  }

  /**
   * {@link walk}, also taking in orphans with nothing in their environment to say they are
   * the run's for which `isOurs` holds.
   */
  #walk(isOurs: (pid: number) => boolean): Map<number, string | null> {
    const found = new Map<number, string | null>();
    const visit = (pid: number, role: string | null) => {
      const entry = this.#proc.entry(pid);
      if (!entry || found.has(pid)) return;
      const known = this.#seen.get(`${pid}:${entry.started}`);
      const attributed = role ?? known ?? this.#roleFromEnvironment(pid) ?? null;
      if (attributed) this.#seen.set(`${pid}:${entry.started}`, attributed);
      if (entry.zombie) {
        if (!this.#roots.has(pid) && attributed !== null) this.#proc.reap(pid);
        return;
      }
      found.set(pid, attributed);
      for (const child of this.#proc.children(pid)) visit(child, attributed);
    };
    for (const [pid, role] of this.#roots) visit(pid, role);
    for (const pid of this.#proc.children(this.#proc.self)) {
      if (this.#roots.has(pid) || this.#helpers.has(pid)) continue;
      const entry = this.#proc.entry(pid);
      const known = entry && this.#seen.get(`${pid}:${entry.started}`);
      // Only orphans of this run: a library caller's own children are not ours to touch.
      // An orphan whose environment cannot be read yet (it is between fork and exec, or
      // in exec: the kernel shows an empty environment then) may be ours and may hold
      // the data: it counts, unattributed, until a later walk can read it.
      if (this.claimOrphans || known || this.#roleFromEnvironment(pid) !== null || isOurs(pid)) {
        visit(pid, null);
      }
    }
    return found;
  }

  /**
   * The processes of `role` (or that cannot be attributed) that hold any of `targets`
   * (what `/proc/<pid>/fd` links read, such as `socket:[1234]` or `pipe:[99]`).
   */
  holders(role: string, targets: ReadonlySet<string>): number[] {
    const holding: number[] = [];
    const holds = (pid: number) => this.#proc.openFiles(pid).some((file) => targets.has(file));
    for (const [pid, owner] of this.#walk(holds)) {
      if (owner !== null && owner !== role) continue;
      const files = this.#proc.openFiles(pid);
      if (!files.some((file) => targets.has(file))) continue;
      // Unattributed, but holding another role's marker and not this one's: not ours.
      if (owner === null) {
        const marked = files.map((file) => this.#roleFiles.get(file)).filter((r) => r);
        if (marked.length > 0 && !marked.includes(role)) continue;
      }
      holding.push(pid);
    }
    return holding;
  }

  /**
   * Resolves once no process of `role` holds any of `targets`, polling `/proc` (the
   * kernel gives no event for a file closed in another process): every 10 ms at first,
   * slowing to every 200 ms while a background holder lives on.
   */
  async released(role: string, targets: ReadonlySet<string>): Promise<void> {
    for (let pause = 10; this.holders(role, targets).length > 0; pause = Math.min(200, pause * 2)) {
      await delay(pause);
    }
  }

  /** Sends `signal` to every process of `role` (every role when null); returns how many. */
  signal(role: string | null, signal: Deno.Signal): number {
    let sent = 0;
    for (const [pid, owner] of this.walk()) {
      if (role !== null && owner !== null && owner !== role) continue;
      try {
        Deno.kill(pid, signal);
        sent++;
      } catch {
        // Ended meanwhile.
      }
    }
    return sent;
  }

  /**
   * Stops every process of `role` (every role when null): SIGTERM, then SIGKILL for what
   * is left after `graceMs`. Resolves when none is left (the direct children's statuses
   * are their waiters' to collect).
   */
  async stop(role: string | null, graceMs = 1000): Promise<void> {
    if (this.signal(role, "SIGTERM") === 0) return;
    const deadline = REAL_CLOCK.now() + graceMs;
    while (this.#living(role) > 0 && REAL_CLOCK.now() < deadline) {
      await delay(20);
    }
    this.signal(role, "SIGKILL");
    for (let tries = 0; this.#living(role) > 0 && tries < 100; tries++) {
      await delay(20);
    }
  }

  #living(role: string | null): number {
    let living = 0;
    for (const owner of this.walk().values()) {
      if (role === null || owner === null || owner === role) living++;
    }
    return living;
  }

  /**
   * The role `pid`'s environment names for this run: null when it names none, undefined
   * when it cannot be read (empty or gone) and so proves nothing either way.
   */
  #roleFromEnvironment(pid: number): string | null | undefined {
    const prefix = `${RUN_VARIABLE}=${this.#run}:`;
    const text = this.#proc.environment(pid);
    if (!text) return undefined;
    const entry = text.split("\0").find((variable) => variable.startsWith(prefix));
    const role = entry ? entry.slice(prefix.length) : null;
    // The other half's mark, on one host: not this tree's. The local half owns every
    // role but the remote half's.
    if (this.#only !== null) return role === this.#only ? role : null;
    return role === REMOTE_ROLE ? null : role;
  }
}

/**
 * Stops the command of `role` and everything it started, then waits for the command's
 * own status (its waiter collects it).
 *
 * @example Not run as a test: it starts commands and stops them (see tests/unit/process_tree_test.ts).
 * ```ts ignore
 * import { ProcessTree, stopRole } from "./process_tree.ts";
 * declare const tree: ProcessTree;
 * declare const status: Promise<unknown>;
 * await stopRole(tree, "input", status);
 * ```
 */
export async function stopRole(
  tree: ProcessTree,
  role: string,
  status: Promise<unknown>,
  graceMs = 1000,
): Promise<void> {
  await tree.stop(role, graceMs);
  await status;
}
