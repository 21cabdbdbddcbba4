/**
 * The login: the command (usually `ssh host`) that starts the remote half, whose stdin and
 * stdout are the login channel and whose stderr stays the terminal's (password prompts).
 * How it is started, how its end is explained, how it is stopped.
 *
 * @module
 */
import { settledWithin } from "./_settled_within.ts";
import {
  type CommandStatus,
  describeStatus,
  statusOfChild,
  statusOfSpawnFailure,
} from "./command_status.ts";
import { type Fault, FAULTS } from "./faults.ts";
import type { StepLog } from "./log.ts";
import { formatBlock } from "./outcome.ts";
import { type ProcessTree, stopRole } from "./process_tree.ts";
import { shellQuote } from "./shell_quote.ts";

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
  /** Sends a signal; ignores a login that has already ended. */
  kill(signal: Deno.Signal): void;
  /** Stops the login and every process it started (an ssh ProxyCommand, a wrapper's children). */
  stop(): Promise<void>;
}

/**
 * The login command followed by the remote half's invocation. ssh joins its arguments
 * with spaces for the remote shell, so every word after the login command is quoted:
 * the remote command then receives exactly the argv written in `-r { … }`.
 *
 * @example
 * ```ts
 * import { loginInvocation } from "./login.ts";
 * loginInvocation({ login: ["ssh", "host"], remote: ["sh", "-c", "cat > x"] });
 * // ["ssh", "host", "socketpipe", "-s", "--", "sh", "-c", "'cat > x'"]
 * ```
 */
export function loginInvocation(options: LoginOptions): string[] {
  const remoteHalf = [
    ...(options.starter ?? options.remoteSocketpipe ?? DEFAULT_REMOTE_SOCKETPIPE),
    "-s",
    ...(options.verbose ? ["-v"] : []),
    "--",
    ...options.remote,
  ];
  return [...options.login, ...remoteHalf.map(shellQuote)];
}

/**
 * Starts the login command, or returns the fault that it could not start.
 *
 * @example
 * ```ts ignore
 * import { startLogin } from "./login.ts";
 * import { StepLog } from "./log.ts";
 * const login = startLogin({ login: ["ssh", "host"], remote: ["true"] }, new StepLog(false, "x"));
 * ```
 */
export function startLogin(
  options: LoginOptions,
  log: StepLog,
  tree: ProcessTree,
): LoginConnection | Fault {
  const argv = loginInvocation(options);
  log.step(
    `login: ${[...options.login.map(shellQuote), ...argv.slice(options.login.length)].join(" ")}`,
  );
  let child: Deno.ChildProcess;
  try {
    const command = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: options.onStderr ? "piped" : "inherit",
      env: { ...loginEnvironment(), ...tree.environment("login") },
      clearEnv: true,
    });
    child = command.spawn();
    tree.adopt("login", child.pid);
  } catch (error) {
    const cause = statusOfSpawnFailure(error).failedToStart ?? String(error);
    return FAULTS.loginCouldNotStart.raise(formatBlock(options.login), cause);
  }
  if (options.onStderr) relay(child.stderr, options.onStderr);
  const status = statusOfChild(child);
  return {
    readable: child.stdout,
    writable: child.stdin,
    status,
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
 * Explains a login that ended before the remote half connected: the remote socketpipe
 * not found (127), the login itself failing (255, as ssh does), or anything else.
 *
 * @example
 * ```ts
 * import { explainLoginEnd } from "./login.ts";
 * explainLoginEnd({ login: ["ssh", "host"], remote: ["true"] },
 *   { status: 127, signal: null, failedToStart: null }).line;
 * // "login { ssh host }: remote socketpipe { socketpipe } not found (status 127); …"
 * ```
 */
export function explainLoginEnd(options: LoginOptions, status: CommandStatus): Fault {
  const login = formatBlock(options.login);
  const remoteHalf = formatBlock(options.remoteSocketpipe ?? DEFAULT_REMOTE_SOCKETPIPE);
  if (status.status === 127) return FAULTS.remoteSocketpipeNotFound.raise(login, remoteHalf);
  if (status.status === 255) {
    return FAULTS.loginFailed.raise(login, options.login.map(shellQuote).join(" "));
  }
  return FAULTS.loginEndedEarly.raise(login, describeStatus(status), remoteHalf);
}

/**
 * Waits up to `graceMs` for the login to end on its own (its channel should be closed
 * first), then stops it with every process it started (SIGTERM, then SIGKILL a second
 * later). Resolves once it has ended.
 *
 * @example
 * ```ts ignore
 * import { stopLogin } from "./login.ts";
 * await stopLogin(login, 5000);
 * ```
 */
export async function stopLogin(login: LoginConnection, graceMs: number): Promise<void> {
  if (graceMs > 0 && await settledWithin(login.status, graceMs)) return;
  await login.stop();
}
