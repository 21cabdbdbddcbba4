/**
 * The login: the command (usually `ssh host`) that starts the remote half, whose stdin and
 * stdout are the login channel and whose stderr stays the terminal's (password prompts).
 * How it is started and how it is stopped (how its end is explained: `login_end.ts`).
 *
 * @module
 */
import { settledWithin } from "../base/settled_within.ts";
import { type CommandStatus, statusOfChild, statusOfSpawnFailure } from "../base/command_status.ts";
import { type Fault, FAULTS } from "../base/faults.ts";
import type { StepLog } from "../base/log.ts";
import { type ProcessTree, RUN_VARIABLE, stopRole } from "../process/process_tree.ts";
import { formatBlock, shellQuote } from "../base/shell_quote.ts";
import { shownSafely } from "./control_lines.ts";
import { exactInvocation } from "../platform/exact_spawn.ts";
import { stopsIgnoredVariable } from "../platform/ignore_stops.ts";
import { encodeWords, everyShellCarries } from "../base/words.ts";

/** Milliseconds the login command may take to end after the remote half's last report. */
export const LOGIN_GRACE_MS = 5000;

/** How socketpipe is started on the remote host when `-x` is not given. */
export const DEFAULT_REMOTE_SOCKETPIPE: readonly string[] = ["socketpipe"];

/** What the login needs to know of a run's options. */
export interface LoginOptions {
  /** The login command, e.g. `["ssh", "host"]`. */
  login: readonly string[];
  /** The remote command. */
  remote: readonly string[];
  /** How to start socketpipe on the remote host (`-x`). */
  remoteSocketpipe?: readonly string[];
  /** Whether the remote half prints its steps. */
  verbose?: boolean;
  /** Words that start the remote half in place of `-x` (a provisioning bootstrap). */
  starter?: readonly string[];
  /** The run's name, given to the remote half as `SOCKETPIPE_RUN` (see ProcessTree). */
  run?: string;
  /**
   * Takes what the login writes on its stderr (the remote host's lines), instead of its
   * going straight to this process's stderr: for a progress meter that must step aside.
   */
  onStderr?(bytes: Uint8Array): void;
}

/**
 * A running login: the login channel's two streams, how the login ended, and a way to
 * stop it. A test can supply one made of streams, to run the local half in-process.
 */
export interface LoginConnection {
  /** What the remote half writes: the login command's stdout. */
  readonly readable: ReadableStream<Uint8Array>;
  /** What the remote half reads: the login command's stdin. */
  readonly writable: WritableStream<Uint8Array>;
  /** Resolves when the login has ended. */
  readonly status: Promise<CommandStatus>;
  /**
   * The last line the login wrote on its stderr (ssh's own cause, when ssh failed), shown
   * safely; "" when it wrote none. Waits a moment for the stream to end first.
   */
  lastWords?(): Promise<string>;
  /** Sends a signal; ignores a login that has already ended. */
  kill(signal: Deno.Signal): void;
  /** Stops the login and every process it started (an ssh ProxyCommand, a wrapper's children). */
  stop(): Promise<void>;
}

/**
 * The login command followed by the remote half's invocation. ssh joins its arguments
 * with spaces for the remote shell, so every word after the login command is quoted:
 * the remote command then receives exactly the argv written in `-r { … }`. Where a word
 * of it is not printable ASCII (a newline, which no csh can quote; a CR; bytes a shell in
 * another locale may re-encode), the whole command travels as hex (`--hex`), which every
 * shell passes on unchanged, and the remote half turns back into the exact bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loginInvocation } from "./login.ts";
 * assert.deepEqual(
 *   loginInvocation({ login: ["ssh", "host"], remote: ["sh", "-c", "cat > x"] }),
 *   ["ssh", "host", "socketpipe", "-s", "--", "sh", "-c", "'cat > x'"],
 * );
 * assert.deepEqual(
 *   loginInvocation({ login: ["ssh", "host"], remote: ["printf", "a\n"] }),
 *   ["ssh", "host", "socketpipe", "-s", "--hex", "--", "7072696e7466", "610a"],
 * );
 * ```
 */
export function loginInvocation(options: LoginOptions): string[] {
  // `env` names the run there in every login shell (csh's too, which has no `VAR=x cmd`).
  const named = options.run ? ["env", `${RUN_VARIABLE}=${options.run}`] : [];
  const remoteHalf = [
    ...named,
    ...(options.starter ?? options.remoteSocketpipe ?? DEFAULT_REMOTE_SOCKETPIPE),
    "-s",
    ...(options.verbose ? ["-v"] : []),
    ...(options.remote.every(everyShellCarries)
      ? ["--", ...options.remote]
      : ["--hex", "--", ...encodeWords(options.remote)]),
  ];
  return [...options.login, ...remoteHalf.map(shellQuote)];
}

/**
 * Starts the login command, or returns the fault that it could not start.
 *
 * @example Not run as a test: it logs in to a host.
 * ```ts ignore
 * import { startLogin } from "./login.ts";
 * import { StepLog } from "../base/log.ts";
 * const login = startLogin({ login: ["ssh", "host"], remote: ["true"] }, new StepLog(false, "x"));
 * ```
 */
export function startLogin(
  options: LoginOptions,
  log: StepLog,
  tree: ProcessTree,
): LoginConnection | Fault {
  const argv = loginInvocation({ ...options, run: tree.run });
  log.step(
    `login: ${[...options.login.map(shellQuote), ...argv.slice(options.login.length)].join(" ")}`,
  );
  let child: Deno.ChildProcess;
  try {
    const [program, args] = exactInvocation(argv);
    const command = new Deno.Command(program, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { ...loginEnvironment(), ...tree.environment("login"), ...stopsIgnoredVariable() },
      clearEnv: true,
    });
    child = command.spawn();
    tree.adopt("login", child.pid);
  } catch (error) {
    const cause = statusOfSpawnFailure(error).failedToStart ?? String(error);
    return FAULTS.loginCouldNotStart.of(formatBlock(options.login), cause);
  }
  const tail = new StderrTail();
  const relayed = relay(child.stderr, (bytes) => {
    tail.take(bytes);
    if (options.onStderr) options.onStderr(bytes);
    else writeAll(Deno.stderr, bytes);
  });
  const status = statusOfChild(child);
  return {
    readable: child.stdout,
    writable: child.stdin,
    status,
    lastWords: async () => {
      await settledWithin(relayed, STDERR_GRACE_MS);
      return tail.lastLine();
    },
    kill(signal) {
      try {
        child.kill(signal);
      } catch {
        // Already ended.
      }
    },
    stop: () => stopRole(tree, "login", status),
  };
}

/** How long the login's stderr may stay open after the login ended (a ProxyCommand's). */
const STDERR_GRACE_MS = 300;

/** How much of the login's stderr is kept to explain its end. */
const TAIL_BYTES = 4096;

/** The end of what the login wrote on its stderr. */
class StderrTail {
  #kept = new Uint8Array(0);

  take(bytes: Uint8Array): void {
    const joined = new Uint8Array(this.#kept.length + bytes.length);
    joined.set(this.#kept);
    joined.set(bytes, this.#kept.length);
    this.#kept = joined.slice(-TAIL_BYTES);
  }

  /** The last non-empty line, without ssh's carriage returns, shown safely and kept short. */
  lastLine(): string {
    const lines = new TextDecoder().decode(this.#kept).split(/\r?\n/)
      .map((line) => line.replace(/\r/g, "").trim()).filter((line) => line !== "");
    const last = shownSafely(lines.at(-1) ?? "");
    return last.length > 200 ? `${last.slice(0, 200)}…` : last;
  }
}

/** Writes all of `bytes` to `file`; a stderr that is gone takes nothing. */
function writeAll(file: { writeSync(bytes: Uint8Array): number }, bytes: Uint8Array): void {
  try {
    for (let done = 0; done < bytes.length;) done += file.writeSync(bytes.subarray(done));
  } catch {
    // Nowhere to write.
  }
}

/** Passes every chunk of `stream` to `take` until it ends. */
async function relay(stream: ReadableStream<Uint8Array>, take: (bytes: Uint8Array) => void) {
  try {
    for await (const bytes of stream) take(bytes);
  } catch {
    // The login has gone.
  }
}

/**
 * This process's environment for the login command, less `$SSH_CLIENT` and
 * `$SSH_CONNECTION`: a login that runs locally (`-l { env }`) must not make the remote
 * half connect back to whatever host this session itself came from.
 */
function loginEnvironment(): Record<string, string> {
  const environment = Deno.env.toObject();
  delete environment.SSH_CLIENT;
  delete environment.SSH_CONNECTION;
  return environment;
}

/**
 * Waits up to `graceMs` for the login to end on its own (its channel should be closed
 * first), then stops it with every process it started (SIGTERM, then SIGKILL a second
 * later). Resolves once it has ended.
 *
 * @example Not run as a test: it logs in to a host.
 * ```ts ignore
 * import { stopLogin } from "./login.ts";
 * await stopLogin(login, 5000);
 * ```
 */
export async function stopLogin(login: LoginConnection, graceMs: number): Promise<void> {
  if (graceMs > 0 && await settledWithin(login.status, graceMs)) return;
  await login.stop();
}
