/**
 * What every data path does with the commands of a run, whichever way it wires them:
 * starting one in its role (adopted into the run's process tree; the remote command in a
 * group of its own), knowing when its role has let go of the data, and relaying the
 * remote command's stderr through this half.
 *
 * @module
 */
import { type CommandStatus, statusOfSpawnFailure } from "../base/command_status.ts";
import { type ProcessTree, stopRole } from "../process/process_tree.ts";
import type { RunningCommand } from "./data_path.ts";
import {
  spawnFailure,
  type SpawnFds,
  spawnWithFds,
  waitForExit,
} from "../platform/spawn_with_fds.ts";

/** A started process: its pid and its end. */
export interface Spawned {
  /** The process id. */
  pid: number;
  /** Resolves with its status when it has ended. */
  status: Promise<CommandStatus>;
}

/**
 * Starts `argv` in `role` with the path's own `spawn` (told whether the command leads a
 * group of its own: the remote command does, which its watchdog stops if the remote half
 * dies; local commands stay in the terminal's job). A command that cannot start is a
 * command that ended at once, with 127 or 126, as in a shell.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProcessTree } from "../process/process_tree.ts";
 * import { startRole } from "./roles.ts";
 * const tree = new ProcessTree();
 * const missing = startRole(["no-such-command"], "input", tree, () => {
 *   throw new Deno.errors.NotFound("not found");
 * });
 * assert.equal((await missing.status).status, 127);
 * assert.equal(missing.group, null);
 * await tree.release();
 * ```
 */
export function startRole(
  argv: readonly string[],
  role: string,
  tree: ProcessTree,
  spawn: (ownGroup: boolean) => Spawned,
): RunningCommand {
  const ownGroup = role === "remote";
  let status: Promise<CommandStatus>;
  let group: number | null = null;
  try {
    const spawned = spawn(ownGroup);
    tree.adopt(role, spawned.pid, ownGroup);
    if (ownGroup) group = spawned.pid;
    status = spawned.status;
  } catch (error) {
    status = Promise.resolve(statusOfSpawnFailure(error));
  }
  return { argv, role, status, group, stop: () => stopRole(tree, role, status) };
}

/**
 * {@link startRole} through libc: `argv` with the file descriptors `fds` (posix_spawn),
 * every signal at the disposition a shell gives (see `spawnWithFds`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProcessTree } from "../process/process_tree.ts";
 * import { startWithFds } from "./roles.ts";
 * const tree = new ProcessTree();
 * const done = startWithFds(["true"], "input", { stdin: 0, stdout: 1, stderr: 2 }, tree);
 * assert.equal((await done.status).status, 0);
 * await tree.release();
 * ```
 */
export function startWithFds(
  argv: readonly string[],
  role: string,
  fds: SpawnFds,
  tree: ProcessTree,
): RunningCommand {
  return startRole(argv, role, tree, (ownGroup) => {
    let pid: number;
    try {
      pid = spawnWithFds(argv, fds, tree.environment(role), ownGroup);
    } catch (error) {
      throw spawnFailure(error);
    }
    return { pid, status: waitForExit(pid) };
  });
}

/**
 * Resolves once `command` has ended and no process of its role holds any of `files`: as
 * a pipe's end is let go only when its last holder is, however many background children
 * the command left.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProcessTree } from "../process/process_tree.ts";
 * import { released, startRole } from "./roles.ts";
 * const tree = new ProcessTree();
 * const done = startRole(["true"], "input", tree, () => {
 *   throw new Deno.errors.NotFound("not found");
 * });
 * await released(done, tree, new Set(["pipe:[1]"]));
 * assert.equal((await done.status).status, 127);
 * await tree.release();
 * ```
 */
export async function released(
  command: RunningCommand,
  tree: ProcessTree,
  files: ReadonlySet<string>,
): Promise<void> {
  await command.status;
  await tree.released(command.role, files);
}

/**
 * How long a finished remote command's report waits for the rest of its stderr to be
 * relayed, in milliseconds: its lines come before the report, as through a pipe, and are
 * in the report's last lines; but a background child may keep stderr open for ever.
 */
export const STDERR_GRACE_MS = 1000;

/**
 * Copies the remote command's stderr to this process's stderr until it ends, showing
 * each chunk to `look` first (the zero-copy path looks for a reopened stdin). It comes
 * through this half rather than straight from the login channel: if this half dies, the
 * login channel then closes, so the local half learns of it even while the command lives
 * on. Never rejects: with stderr gone there is nothing more to show.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { relayToStderr } from "./roles.ts";
 * const seen: string[] = [];
 * await relayToStderr(ReadableStream.from([new Uint8Array()]), (chunk) => seen.push(`${chunk.length}`));
 * assert.deepEqual(seen, ["0"]);
 * ```
 */
export async function relayToStderr(
  stderr: AsyncIterable<Uint8Array>,
  look: (chunk: Uint8Array) => void = () => {},
): Promise<void> {
  try {
    for await (const chunk of stderr) {
      look(chunk);
      for (let at = 0; at < chunk.length;) at += await Deno.stderr.write(chunk.subarray(at));
    }
  } catch {
    // stderr gone: nothing more to show.
  }
}
