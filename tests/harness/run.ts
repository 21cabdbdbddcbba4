/** Helpers shared by the tests: run socketpipe's CLI and look at what it did. */
import { exactInvocation } from "../../lib/platform/exact_spawn.ts";

export const REPO = decodeURIComponent(new URL("../..", import.meta.url).pathname).replace(
  /\/$/,
  "",
);
export const MAIN = `${REPO}/main.ts`;
export const DENO = Deno.execPath();
/** How the tests start socketpipe: the same deno and the repository's main.ts. */
export const SOCKETPIPE = [DENO, "run", "-A", "--quiet", MAIN];
/** How the tests start the remote half (`-x`): as {@link SOCKETPIPE}. */
export const REMOTE_SOCKETPIPE = SOCKETPIPE;

export interface CliRun {
  code: number;
  stdout: Uint8Array;
  stderr: string;
  /** stderr's lines starting with "socketpipe: ". */
  errorLines: string[];
}

/** How a test starts socketpipe: the words before its arguments. */
export interface CliProgram {
  /**
   * The command that runs socketpipe.
   * @default {[DENO, "run", "-A", "--quiet", MAIN]}
   */
  program?: string[];
}

/** Starts the CLI with `args` in the background. */
export function spawnCli(
  args: string[],
  options:
    & CliProgram
    & Pick<Deno.CommandOptions, "stdin" | "stdout" | "stderr">
    & { environment?: Record<string, string> } = {},
): Deno.ChildProcess {
  // Exactly: a word may hold bytes that are not UTF-8, which Deno.Command alone would lose.
  const [command, commandArgs] = exactInvocation([...(options.program ?? SOCKETPIPE), ...args]);
  return new Deno.Command(command, {
    args: commandArgs,
    stdin: options.stdin ?? "null",
    stdout: options.stdout ?? "piped",
    stderr: options.stderr ?? "piped",
    env: options.environment,
  }).spawn();
}

/** Runs the CLI with `args`, optionally feeding `stdin`, and collects what it did. */
export async function runCli(
  args: string[],
  options: CliProgram & { stdin?: Uint8Array | string; environment?: Record<string, string> } = {},
): Promise<CliRun> {
  const child = spawnCli(args, {
    program: options.program,
    environment: options.environment,
    stdin: options.stdin === undefined ? "null" : "piped",
  });
  if (options.stdin !== undefined) {
    feed(
      child,
      typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
    );
  }
  const output = await child.output();
  const stderr = new TextDecoder().decode(output.stderr);
  return {
    code: output.code,
    stdout: output.stdout,
    stderr,
    errorLines: stderr.split("\n").filter((line) => line.startsWith("socketpipe: ")),
  };
}

/** Writes `bytes` to a child's piped stdin and closes it (a child that stops reading is fine). */
export function feed(child: Deno.ChildProcess, bytes: Uint8Array): void {
  const writer = child.stdin.getWriter();
  writer.write(bytes).then(() => writer.close()).catch(() => {});
}

/** Runs `argv` with `stdin` as its input (else /dev/null); collects its status and output. */
export async function runFeeding(
  argv: readonly string[],
  options: { stdin?: Uint8Array; env?: Record<string, string>; cwd?: string } = {},
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: options.env,
    cwd: options.cwd,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin) feed(child, options.stdin);
  const output = await child.output();
  return {
    code: output.code,
    stdout: output.stdout,
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/**
 * Runs the CLI with files as its stdin and stdout (for streams too large to hold), and
 * collects its status and stderr.
 */
export async function runCliWithFiles(
  args: string[],
  files: { stdin?: string; stdout?: string },
): Promise<CliRun> {
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      'exec "$@" <"$SP_STDIN" >"$SP_STDOUT"',
      "sh",
      ...SOCKETPIPE,
      ...args,
    ],
    env: { SP_STDIN: files.stdin ?? "/dev/null", SP_STDOUT: files.stdout ?? "/dev/null" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  });
  const output = await child.output();
  const stderr = new TextDecoder().decode(output.stderr);
  return {
    code: output.code,
    stdout: new Uint8Array(0),
    stderr,
    errorLines: stderr.split("\n").filter((line) => line.startsWith("socketpipe: ")),
  };
}

/**
 * A local login that treats its arguments exactly as ssh does (joined with spaces and
 * parsed by a shell), so that quoting is tested as it happens over ssh.
 */
export const SHELL_LOGIN = ["sh", "-c", 'eval "$*"', "sh"];

/** `-l { sh -c 'eval "$*"' sh } -h 127.0.0.1 -x { deno run main.ts }`: for fast tests. */
export const LOCAL_LOGIN = [
  "-l",
  "{",
  ...SHELL_LOGIN,
  "}",
  "-h",
  "127.0.0.1",
  "-x",
  "{",
  ...REMOTE_SOCKETPIPE,
  "}",
];

/** The words `-x { … }` for the tests' remote half. */
export const REMOTE_HALF = ["-x", "{", ...REMOTE_SOCKETPIPE, "}"];

/** Wraps words in a brace block: block("-r", "dd") → ["-r", "{", "dd", "}"]. */
export function block(option: string, ...words: string[]): string[] {
  return [option, "{", ...words, "}"];
}

/** The sha256 of bytes or a file, in hex. */
export async function sha256(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? await Deno.readFile(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The sha256 of a (large) file, computed by sha256sum so memory stays small. */
export async function sha256File(path: string): Promise<string> {
  const out = await new Deno.Command("sha256sum", { args: [path], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split(" ")[0];
}

/** Writes `size` random bytes to a new file in `dir`. */
export async function randomFile(dir: string, name: string, size: number): Promise<string> {
  const path = `${dir}/${name}`;
  const result = await new Deno.Command("sh", {
    args: ["-c", `head -c ${size} /dev/urandom > '${path}'`],
  }).output();
  if (!result.success) throw new Error(`could not write ${path}`);
  return path;
}

/** Processes whose command line contains `marker` (other than the search itself). */
export function processesMatching(marker: string): Promise<string[]> {
  // As `pgrep -af marker`, and also every process whose environment holds the marker
  // (grandchildren such as a `sleep` carry it only there).
  const pattern = new RegExp(marker);
  const found: string[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0")
        .join(" ").trim();
      if (cmdline === "") continue; // a zombie: it has ended, its parent has yet to reap it
      const environ = Deno.readTextFileSync(`/proc/${entry.name}/environ`);
      if (pattern.test(cmdline) || environ.includes(marker)) found.push(`${entry.name} ${cmdline}`);
    } catch {
      // Ended meanwhile.
    }
  }
  return Promise.resolve(found);
}

/**
 * How long a test waits for what a run left to be gone: generous, since a busy host (a
 * second suite beside this one) runs watchdogs late. How soon they go on an idle host is
 * not the tests' to assert.
 */
export const LEFTOVERS_GONE_MS = 30_000;

/** Polls until no process matches `marker`, or the deadline; returns what remains. */
export async function waitUntilGone(marker: string, deadlineMs: number): Promise<string[]> {
  const deadline = Date.now() + deadlineMs;
  let remaining = await processesMatching(marker);
  while (remaining.length && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    remaining = await processesMatching(marker);
  }
  return remaining;
}

/** Polls until a process matches `marker`, or throws at the deadline. */
export async function waitUntilRunning(marker: string, deadlineMs: number): Promise<string[]> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const found = await processesMatching(marker);
    if (found.length) return found;
    if (Date.now() > deadline) throw new Error(`no process matching ${marker} appeared`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Reads `conn` until the peer closes it (or resets it); returns how many bytes came. */
export async function bytesUntilClosed(conn: Deno.Conn): Promise<number> {
  const buffer = new Uint8Array(65536);
  let total = 0;
  try {
    for (let count; (count = await conn.read(buffer)) !== null;) total += count;
  } catch {
    // Reset: closed.
  }
  return total;
}

/** A process's peak RSS (VmHWM) in MB, or 0 once it is gone. */
export function peakRssMb(pid: number): number {
  try {
    const match = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmHWM:\s+(\d+) kB/m);
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * A run's remote half, over a local login: the Deno process whose command line holds `-s`
 * and `marker` (a word of the remote command); null until it runs.
 */
export function remoteHalfWithMarker(marker: string): number | null {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const words = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      const comm = Deno.readTextFileSync(`/proc/${entry.name}/comm`).trim();
      if (comm === "deno" && words.includes("-s") && words.includes(marker)) {
        return Number(entry.name);
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return null;
}
