/**
 * The stream path's commands, started with pipes for what the copy loops move. Through
 * libc where FFI is permitted (posix_spawn, as the zero-copy path starts its commands):
 * every signal at the disposition a shell would give it, and exact counts of what a
 * command read. Through `Deno.Command` otherwise, whose commands start with glibc's
 * signals 32 and 33 ignored.
 *
 * @module
 */
import { statusOfChild } from "../base/command_status.ts";
import { exactInvocation } from "../platform/exact_spawn.ts";
import { closeFd, growPipe, makePipe, openDevNull } from "../platform/file_descriptors.ts";
import { keepInheritedIgnores } from "../platform/inherited_signals.ts";
import { libc } from "../platform/libc.ts";
import type { ProcessTree } from "../process/process_tree.ts";
import {
  chunksOfPipe,
  type CommandSink,
  type CommandSource,
  pipeSink,
  pipeSource,
  streamSink,
  streamSource,
} from "./command_pipes.ts";
import type { RunningCommand } from "./data_path.ts";
import { startRole, startWithFds } from "./roles.ts";

/** What a pipe of the stream is asked to hold (the most a user may ask for, by default). */
const STREAM_PIPE_BYTES = 1024 * 1024;

/** Where each of a command's stdin, stdout and stderr goes. */
export interface PipedStdio {
  /** "piped": to this process; "inherit": this process's own; "null": /dev/null. */
  stdin: "piped" | "inherit" | "null";
  /** As `stdin`. */
  stdout: "piped" | "inherit" | "null";
  /** As `stdin`, but never /dev/null. */
  stderr: "piped" | "inherit";
}

/** A command started by {@link startPipedCommand}, with this process's ends of its pipes. */
export interface PipedCommand {
  /** The command, in its role. */
  running: RunningCommand;
  /** Its stdin, when piped. */
  stdin?: CommandSink;
  /** Its stdout, when piped. */
  stdout?: CommandSource;
  /** Its stderr, when piped. */
  stderr?: AsyncIterable<Uint8Array>;
  /** Its stdin pipe as `/proc/self/fd` names it (`pipe:[1234]`), when piped and known. */
  stdinPipe: string | null;
}

/**
 * Starts `argv` in `role` with its stdin, stdout and stderr as `stdio` says. A command that
 * cannot start ends at once (127 or 126), its pipes as a gone reader's and writer's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProcessTree } from "../process/process_tree.ts";
 * import { startPipedCommand } from "./piped_command.ts";
 * const tree = new ProcessTree();
 * const head = startPipedCommand(["head", "-c", "2"], "output", {
 *   stdin: "piped", stdout: "piped", stderr: "inherit",
 * }, tree);
 * assert.equal(await head.stdin!.write(new Uint8Array([1, 2, 3])), 3);
 * await head.stdin!.close();
 * assert.deepEqual(await head.stdout!.read(), new Uint8Array([1, 2]));
 * assert.equal((await head.running.status).status, 0);
 * await tree.release();
 * ```
 */
export function startPipedCommand(
  argv: readonly string[],
  role: string,
  stdio: PipedStdio,
  tree: ProcessTree,
): PipedCommand {
  return libc()
    ? startThroughLibc(argv, role, stdio, tree)
    : startThroughDeno(argv, role, stdio, tree);
}

function startThroughLibc(
  argv: readonly string[],
  role: string,
  stdio: PipedStdio,
  tree: ProcessTree,
): PipedCommand {
  let devNull = -1;
  const theirs = new Set<number>(); // the ends the command gets; this process lets go
  const endFor = (stream: "stdin" | "stdout" | "stderr", own: number): [number, number] => {
    const how = stdio[stream];
    if (how === "inherit") return [own, -1];
    if (how === "null") {
      if (devNull < 0) theirs.add(devNull = openDevNull());
      return [devNull, -1];
    }
    const [readEnd, writeEnd] = makePipe(stream === "stdin" ? "write" : "read");
    // Pipes of 1 MiB rather than 64 KiB: the copy engine and the commands each move more
    // per system call and wait less on the other (measured: bench/README.md).
    if (stream !== "stderr") growPipe(writeEnd, STREAM_PIPE_BYTES);
    const [their, mine] = stream === "stdin" ? [readEnd, writeEnd] : [writeEnd, readEnd];
    theirs.add(their);
    return [their, mine];
  };
  const [stdinFd, stdinOwn] = endFor("stdin", 0);
  const [stdoutFd, stdoutOwn] = endFor("stdout", 1);
  const [stderrFd, stderrOwn] = endFor("stderr", 2);
  const fds = { stdin: stdinFd, stdout: stdoutFd, stderr: stderrFd };
  const running = startWithFds(argv, role, fds, tree);
  for (const fd of theirs) closeFd(fd);
  return {
    running,
    stdin: stdinOwn >= 0 ? pipeSink(stdinOwn) : undefined,
    stdout: stdoutOwn >= 0 ? pipeSource(stdoutOwn) : undefined,
    stderr: stderrOwn >= 0 ? chunksOfPipe(stderrOwn) : undefined,
    stdinPipe: stdinOwn >= 0 ? nameOf(stdinOwn) : null,
  };
}

function startThroughDeno(
  argv: readonly string[],
  role: string,
  stdio: PipedStdio,
  tree: ProcessTree,
): PipedCommand {
  let child: Deno.ChildProcess | null = null;
  const before = stdio.stdin === "piped" ? pipesOpenForWriting() : null;
  const running = startRole(argv, role, tree, (ownGroup) => {
    // A group of its own is a new session, for Deno.
    const [program, args] = exactInvocation(argv);
    keepInheritedIgnores(); // inherited by the command, as a shell's commands inherit them
    child = new Deno.Command(program, {
      args,
      ...stdio,
      env: tree.environment(role),
      detached: ownGroup,
    }).spawn();
    return { pid: child.pid, status: statusOfChild(child) };
  });
  const started = child as Deno.ChildProcess | null;
  if (!started) return { running, stdinPipe: null };
  // The command's stdin is the one pipe this process newly holds for writing.
  const added = before ? [...pipesOpenForWriting()].filter((pipe) => !before.has(pipe)) : [];
  return {
    running,
    stdin: stdio.stdin === "piped" ? streamSink(started.stdin) : undefined,
    stdout: stdio.stdout === "piped" ? streamSource(started.stdout) : undefined,
    stderr: stdio.stderr === "piped" ? started.stderr : undefined,
    stdinPipe: added.length === 1 ? added[0] : null,
  };
}

/** The file `fd` names in `/proc/self/fd`, or null where that cannot be read. */
function nameOf(fd: number): string | null {
  try {
    return Deno.readLinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

/**
 * The pipes this process holds open for writing, as `/proc/self/fd` names them
 * (`pipe:[1234]`); empty where there is no `/proc`.
 */
function pipesOpenForWriting(): Set<string> {
  const pipes = new Set<string>();
  try {
    for (const entry of Deno.readDirSync("/proc/self/fd")) {
      try {
        const target = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
        if (!target.startsWith("pipe:")) continue;
        const info = Deno.readTextFileSync(`/proc/self/fdinfo/${entry.name}`);
        const flags = info.match(/^flags:\s+([0-7]+)$/m);
        if (flags && (parseInt(flags[1], 8) & 3) === 1) pipes.add(target); // O_WRONLY
      } catch {
        // Closed meanwhile.
      }
    }
  } catch {
    // No /proc: the run ends with the command, as before.
  }
  return pipes;
}
