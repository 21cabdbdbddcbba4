/**
 * Starting and reaping commands through libc, so that a command can be given any file
 * descriptor (the data socket itself) as its stdin and stdout, which `Deno.Command`
 * cannot do.
 *
 * @module
 */
import { signalName } from "../base/command_status.ts";
import { inheritedIgnores, keepInheritedIgnores } from "./inherited_signals.ts";
import {
  cString,
  cStringArray,
  describeErrno,
  Errno,
  lastError,
  LibcError,
  requireLibc,
} from "./libc.ts";

const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETPGROUP = 0x02;
const WNOHANG = 1;
/** Opaque libc structs: more room than glibc needs (80, 336 and 128 bytes). */
const OPAQUE_SIZE = 1024;

/** Where a spawned command's stdin, stdout and stderr come from: file descriptors. */
export interface SpawnFds {
  /** The fd that becomes the command's stdin. */
  stdin: number;
  /** The fd that becomes the command's stdout. */
  stdout: number;
  /** The fd that becomes the command's stderr. */
  stderr: number;
  /** Further fds the command gets, each at the number given: `[source, target]`. */
  extra?: readonly [number, number][];
}

/**
 * Starts `argv` (looked up on PATH) with the given file descriptors as its stdin, stdout
 * and stderr, this process's environment plus `extraEnvironment`, every signal at its
 * default disposition (SIGPIPE above all, and 32 and 33, which glibc would leave
 * ignored) but those this process's caller left ignored (kept ignored, as a shell keeps
 * them), and an empty signal mask; in a process group of
 * its own when `ownProcessGroup` (else in this process's, the terminal's job). Returns
 * the pid; throws a `LibcError` with the cause (see {@link spawnFailure}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawnWithFds, waitForExit } from "./spawn_with_fds.ts";
 * const pid = spawnWithFds(["true"], { stdin: 0, stdout: 1, stderr: 2 });
 * assert.deepEqual(await waitForExit(pid), { status: 0, signal: null, failedToStart: null });
 * ```
 */
export function spawnWithFds(
  argv: readonly string[],
  fds: SpawnFds,
  extraEnvironment: Record<string, string> = {},
  ownProcessGroup = false,
): number {
  try {
    return spawnOnce(argv, fds, extraEnvironment, ownProcessGroup);
  } catch (error) {
    // An executable file that is no binary and has no "#!": as execvp and a shell do,
    // run it with sh (posix_spawnp no longer does since glibc 2.27).
    const script = error instanceof LibcError && error.errno === Errno.ENOEXEC
      ? executableOnPath(argv[0])
      : null;
    if (!script) throw error;
    return spawnOnce(["/bin/sh", script, ...argv.slice(1)], fds, extraEnvironment, ownProcessGroup);
  }
}

/** Where execvp finds `name`: itself if it holds a "/", else the first executable on PATH. */
function executableOnPath(name: string): string | null {
  if (name.includes("/")) return name;
  for (const directory of (Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin").split(":")) {
    const candidate = `${directory || "."}/${name}`;
    try {
      const info = Deno.statSync(candidate);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return candidate;
    } catch {
      // Not there.
    }
  }
  return null;
}

/**
 * `set` (a sigset_t's bytes) holding every signal from 1 to 64 but the inherited ignores.
 * Its bits are set here, not with sigfillset, which leaves out glibc's own 32 and 33.
 */
function toDefault(set: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  set.fill(0);
  for (let signal = 1; signal <= 64; signal++) {
    if (!inheritedIgnores().has(signal)) set[(signal - 1) >> 3] |= 1 << ((signal - 1) & 7);
  }
  return set;
}

function spawnOnce(
  argv: readonly string[],
  fds: SpawnFds,
  extraEnvironment: Record<string, string>,
  ownProcessGroup: boolean,
): number {
  const c = requireLibc();
  keepInheritedIgnores(); // inherited by the command, as a shell's commands inherit them
  const actions = new Uint8Array(OPAQUE_SIZE);
  const attributes = new Uint8Array(OPAQUE_SIZE);
  const allSignals = new Uint8Array(OPAQUE_SIZE);
  const noSignals = new Uint8Array(OPAQUE_SIZE);
  c.posix_spawn_file_actions_init(actions);
  c.posix_spawnattr_init(attributes);
  try {
    // dup2 onto 0, 1, 2 in an order that cannot clobber a source still needed.
    for (const [target, source] of [[0, fds.stdin], [1, fds.stdout], [2, fds.stderr]]) {
      if (source !== target) c.posix_spawn_file_actions_adddup2(actions, source, target);
    }
    for (const [source, target] of fds.extra ?? []) {
      c.posix_spawn_file_actions_adddup2(actions, source, target);
    }
    c.sigemptyset(noSignals);
    c.posix_spawnattr_setsigdefault(attributes, toDefault(allSignals));
    c.posix_spawnattr_setsigmask(attributes, noSignals);
    // A process group of its own (pgid = its pid) only where no terminal's job control
    // is at stake: the remote command, which its watchdog can then stop as a group.
    const group = ownProcessGroup ? POSIX_SPAWN_SETPGROUP : 0;
    c.posix_spawnattr_setflags(
      attributes,
      POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | group,
    );
    const argvStrings = argv.map(cString);
    const environment = Object.entries({ ...Deno.env.toObject(), ...extraEnvironment }).map((
      [k, v],
    ) => cString(`${k}=${v}`));
    const pid = new Int32Array(1);
    const result = c.posix_spawnp(
      new Uint8Array(pid.buffer),
      argvStrings[0],
      actions,
      attributes,
      cStringArray(argvStrings),
      cStringArray(environment),
    );
    // posix_spawnp returns its errno rather than setting it.
    if (result !== 0) throw new LibcError("posix_spawnp", result);
    return pid[0];
  } finally {
    c.posix_spawn_file_actions_destroy(actions);
    c.posix_spawnattr_destroy(attributes);
  }
}

/**
 * What a failed spawn means for the command's status: posix_spawnp's "not found" as
 * Deno's NotFound (127, as a shell says), any other of its errnos in plain words (126);
 * any other error as it is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Errno, LibcError } from "./libc.ts";
 * import { spawnFailure } from "./spawn_with_fds.ts";
 * assert.ok(spawnFailure(new LibcError("posix_spawnp", Errno.ENOENT)) instanceof Deno.errors.NotFound);
 * assert.equal((spawnFailure(new LibcError("posix_spawnp", Errno.EACCES)) as Error).message, "permission denied");
 * ```
 */
export function spawnFailure(error: unknown): unknown {
  if (!(error instanceof LibcError) || error.call !== "posix_spawnp") return error;
  if (error.errno === Errno.ENOENT) return new Deno.errors.NotFound("not found");
  return new Error(error.errno === Errno.EACCES ? "permission denied" : describeErrno(error.errno));
}

/**
 * Waits, on a worker thread, for a child to end; resolves with its exit status and, if a
 * signal ended it, the signal's name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawnWithFds, waitForExit } from "./spawn_with_fds.ts";
 * const pid = spawnWithFds(["sh", "-c", "exit 3"], { stdin: 0, stdout: 1, stderr: 2 });
 * assert.deepEqual((await waitForExit(pid)).status, 3);
 * ```
 */
export async function waitForExit(
  pid: number,
): Promise<{ status: number; signal: string | null; failedToStart: null }> {
  const c = requireLibc();
  const status = new Int32Array(1);
  const statusBytes = new Uint8Array(status.buffer);
  for (;;) {
    if (await c.waitpidBlocking(pid, statusBytes, 0) === pid) break;
    // The blocking wait failed on a worker thread, whose errno is out of reach: ask again
    // without blocking, here, where a failure's errno is this thread's own. 0 means still
    // running (the wait was interrupted): wait again.
    const now = c.waitpid(pid, statusBytes, WNOHANG);
    if (now === pid) break;
    if (now === -1) throw lastError(`waitpid(${pid})`);
  }
  const raw = status[0];
  const signal = raw & 0x7f;
  if (signal === 0) return { status: (raw >> 8) & 0xff, signal: null, failedToStart: null };
  return { status: 128 + signal, signal: signalName(signal), failedToStart: null };
}
