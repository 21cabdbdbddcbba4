/**
 * What `/proc` says about processes, behind one interface: the process tree reads it
 * through {@link ProcView}, so that its decisions can be fed from a fake (the unit tests)
 * as from the kernel ({@link LIVE_PROC}). Every read may find the process gone: it then
 * answers as for a process that has ended (no children, no files, no entry).
 *
 * @module
 */
import { libc } from "./libc.ts";

const WNOHANG = 1;

/** One process as `/proc/<pid>/stat` shows it. */
export interface ProcEntry {
  /** Its pid. */
  pid: number;
  /** Start time in clock ticks since boot: with the pid, names the process uniquely. */
  started: string;
  /** Whether it has ended and waits to be reaped. */
  zombie: boolean;
}

/** The reads and the one act (reaping) the process tree needs of `/proc`. */
export interface ProcView {
  /** This process's pid. */
  readonly self: number;
  /** The process's entry, or null once it is gone. */
  entry(pid: number): ProcEntry | null;
  /** Its children, from every thread's `children` list. */
  children(pid: number): number[];
  /** What each of its open files is, as `/proc/<pid>/fd` links read (`socket:[…]`, `pipe:[…]`). */
  openFiles(pid: number): string[];
  /** Its environment as `NAME=value` entries; "" when it cannot be read (gone, or in exec). */
  environment(pid: number): string | null;
  /** Reaps an ended orphan that nobody else waits for. */
  reap(pid: number): void;
}

/**
 * The kernel's `/proc`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LIVE_PROC } from "./proc.ts";
 * assert.equal(LIVE_PROC.self, Deno.pid);
 * assert.equal(LIVE_PROC.entry(Deno.pid)?.zombie, false);
 * assert.ok(LIVE_PROC.openFiles(Deno.pid).length > 0);
 * ```
 */
export const LIVE_PROC: ProcView = {
  get self() {
    return Deno.pid;
  },
  entry(pid) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      // The command name may hold spaces and parentheses: the fields follow its last ")".
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return { pid, started: fields[19], zombie: fields[0] === "Z" };
    } catch {
      return null;
    }
  },
  children(pid) {
    const children: number[] = [];
    try {
      for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
        try {
          const text = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/children`);
          for (const word of text.split(" ")) if (word) children.push(Number(word));
        } catch {
          // The thread ended meanwhile.
        }
      }
    } catch {
      // The process ended meanwhile.
    }
    return children;
  },
  openFiles(pid) {
    const files: string[] = [];
    try {
      for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
        try {
          files.push(Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`));
        } catch {
          // Closed meanwhile.
        }
      }
    } catch {
      // Ended meanwhile.
    }
    return files;
  },
  environment(pid) {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/environ`);
    } catch {
      return null;
    }
  },
  reap(pid) {
    libc()?.waitpid(pid, new Uint8Array(4), WNOHANG);
  },
};
