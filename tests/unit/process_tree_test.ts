/**
 * The process tree's decisions, fed from a fake `/proc`: which processes are the run's,
 * by role, and which still hold its data — by the tree while a parent lives, by what an
 * earlier walk saw, by `SOCKETPIPE_RUN`, by the role's marker, and, for a process that
 * proves nothing, for every role. No process is started.
 */
import assert from "node:assert/strict";
import { ProcessTree, RUN_VARIABLE } from "../../lib/process/process_tree.ts";
import type { ProcEntry, ProcView } from "../../lib/platform/proc.ts";

/** One fake process: its parent, open files and environment. */
interface FakeProcess {
  parent: number;
  files?: string[];
  /** Its environment entries; undefined: cannot be read (between fork and exec). */
  environment?: string[];
  zombie?: boolean;
  started?: string;
}

const SELF = 1000;
const SOCKET = "socket:[42]";

/** A `/proc` holding `processes`, children of their parents; this process is {@link SELF}. */
class FakeProc implements ProcView {
  readonly self = SELF;
  readonly reaped: number[] = [];
  constructor(readonly processes: Map<number, FakeProcess>) {}
  entry(pid: number): ProcEntry | null {
    const process = this.processes.get(pid);
    return process
      ? { pid, started: process.started ?? "1", zombie: process.zombie ?? false }
      : null;
  }
  children(pid: number): number[] {
    return [...this.processes].filter(([, p]) => p.parent === pid).map(([child]) => child);
  }
  openFiles(pid: number): string[] {
    return this.processes.get(pid)?.files ?? [];
  }
  environment(pid: number): string | null {
    const environment = this.processes.get(pid)?.environment;
    return environment === undefined ? "" : environment.join("\0");
  }
  reap(pid: number): void {
    this.reaped.push(pid);
    this.processes.delete(pid);
  }
}

/** The mark `SOCKETPIPE_RUN` gives a command of `role` in the test's run. */
const mark = (role: string) => `${RUN_VARIABLE}=0123abcd:${role}`;

function treeOn(
  processes: [number, FakeProcess][],
  options: { claimOrphans?: boolean; role?: string } = {},
) {
  const proc = new FakeProc(new Map(processes));
  const tree = new ProcessTree({ ...options, proc, run: "0123abcd" });
  return { proc, tree };
}

Deno.test("a command's background child that holds the socket is its role's holder, whatever its environment", () => {
  const { tree } = treeOn([
    [2000, { parent: SELF, files: ["/dev/null"] }], // the input command, done with the socket
    [2001, { parent: 2000, files: [SOCKET], environment: [] }], // its child, env -i
  ]);
  tree.adopt("input", 2000);
  assert.deepEqual(tree.holders("input", new Set([SOCKET])), [2001]);
  assert.deepEqual(tree.holders("output", new Set([SOCKET])), []);
  assert.deepEqual([...tree.walk()], [[2000, "input"], [2001, "input"]]);
});

Deno.test("an orphan is the run's by its SOCKETPIPE_RUN mark; another run's orphan is left alone", () => {
  const { tree } = treeOn([
    [3000, { parent: SELF, files: [SOCKET], environment: [mark("output")] }],
    [3001, {
      parent: SELF,
      files: ["socket:[99]"],
      environment: [`${RUN_VARIABLE}=ffffffff:output`],
    }],
  ]);
  assert.deepEqual([...tree.walk()], [[3000, "output"]]);
  assert.deepEqual(tree.holders("output", new Set([SOCKET])), [3000]);
  assert.deepEqual(tree.holders("input", new Set([SOCKET])), []);
});

Deno.test("an orphan whose environment cannot be read yet counts for every role while it holds the run's data", () => {
  const { tree } = treeOn([
    [4000, { parent: SELF, files: [SOCKET] }], // between fork and exec: an empty environment
    [4001, { parent: SELF, files: ["pipe:[7]"] }], // the caller's own child, holding nothing of ours
  ]);
  assert.deepEqual(tree.holders("input", new Set([SOCKET])), [4000]);
  assert.deepEqual(tree.holders("output", new Set([SOCKET])), [4000]);
});

Deno.test("an unattributed holder of the socket that carries another role's marker is not this role's", () => {
  const { tree } = treeOn([
    [5000, { parent: SELF, files: [SOCKET, "pipe:[input-marker]"] }],
  ]);
  tree.markRole("input", "pipe:[input-marker]");
  tree.markRole("output", "pipe:[output-marker]");
  assert.deepEqual(tree.holders("output", new Set([SOCKET])), []);
  assert.deepEqual(tree.holders("input", new Set([SOCKET])), [5000]);
});

Deno.test("where nothing else starts children (claimOrphans), every orphan is the run's; for a library caller none is", () => {
  const processes: [number, FakeProcess][] = [[6000, { parent: SELF, environment: ["HOME=/"] }]];
  assert.deepEqual([...treeOn(processes, { claimOrphans: true }).tree.walk()], [[6000, null]]);
  assert.deepEqual([...treeOn(processes).tree.walk()], []);
});

Deno.test("the remote half's tree claims only the remote role's marks; the local half's, every role but the remote's", () => {
  const processes: [number, FakeProcess][] = [
    [7000, { parent: SELF, environment: [mark("input")] }],
    [7001, { parent: SELF, environment: [mark("remote")] }],
  ];
  assert.deepEqual([...treeOn(processes, { role: "remote" }).tree.walk()], [[7001, "remote"]]);
  assert.deepEqual([...treeOn(processes).tree.walk()], [[7000, "input"]]);
});

Deno.test("a process keeps the role a walk saw it in after its parent is gone and its environment is wiped", () => {
  const { proc, tree } = treeOn([
    [8000, { parent: SELF }],
    [8001, { parent: 8000, files: [SOCKET], environment: [] }],
  ]);
  tree.adopt("output", 8000);
  assert.deepEqual([...tree.walk()], [[8000, "output"], [8001, "output"]]);
  proc.processes.delete(8000); // the command ended; its child comes back to this process
  proc.processes.get(8001)!.parent = SELF;
  assert.deepEqual(tree.holders("output", new Set([SOCKET])), [8001]);
  assert.deepEqual(tree.holders("input", new Set([SOCKET])), []);
});

Deno.test("an ended orphan of the run is reaped by the walk; an ended command is its waiter's to collect", () => {
  const { proc, tree } = treeOn([
    [9000, { parent: SELF, zombie: true }], // the adopted command: its waiter reaps it
    [9001, { parent: SELF, zombie: true, environment: [mark("input")] }], // an orphan
  ]);
  tree.adopt("input", 9000);
  assert.deepEqual([...tree.walk()], []);
  assert.deepEqual(proc.reaped, [9001]);
});
