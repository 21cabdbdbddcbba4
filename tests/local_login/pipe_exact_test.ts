/**
 * socketpipe against its oracle, a plain pipe: for each command shape, the same three
 * commands run as `set -o pipefail; input | remote | output` and through socketpipe on
 * both data paths, and must give the same bytes (sha256 of stdout and of every file the
 * commands write) and the same exit status. The shapes are the ones that break a naive
 * design: background, delayed, nohup'd and setsid'd writers, background readers on every
 * role, holders that outlive the command, readers that stop early, grandchildren.
 *
 * Every command runs with a marker in its environment; a run counts as over only when no
 * process carrying it is left (background holders end on their own, as in a pipe).
 */
import assert from "node:assert/strict";
import { block, LOCAL_LOGIN, runCli, runFeeding, sha256 } from "../harness/run.ts";
import { DATA_PATHS } from "../harness/register.ts";

interface Shape {
  name: string;
  /** Whether socketpipe's (and the pipe's) stdin is the data file; else /dev/null. */
  stdin?: boolean;
  input?: string;
  remote: string;
  output?: string;
  /**
   * Each command is an executable file without "#!" holding its text, run by its path
   * (execvp, and a shell, run such a file with sh); else each runs as `sh -c TEXT`.
   */
  scripts?: boolean;
}

const SHAPES: Shape[] = [
  { name: "plain", input: 'cat "$F"', remote: "cat", output: "cat" },
  { name: "background writer", input: 'cat "$F" &', remote: 'sha256sum > "$D/r"' },
  {
    name: "background reader on the input (of socketpipe's stdin)",
    stdin: true,
    input: "exec 3<&0; cat <&3 &",
    remote: 'sha256sum > "$D/r"',
  },
  { name: "delayed writer", input: '(sleep 0.3; cat "$F") &', remote: 'sha256sum > "$D/r"' },
  { name: "nohup'd writer", input: 'nohup cat "$F" 2>/dev/null &', remote: 'sha256sum > "$D/r"' },
  { name: "setsid writer", input: 'setsid cat "$F" &', remote: 'sha256sum > "$D/r"' },
  { name: "grandchild writer", input: '( (cat "$F") & ); exit 0', remote: 'sha256sum > "$D/r"' },
  {
    name: "background writers in turn",
    input: '(cat "$F"; cat "$F") &',
    remote: 'sha256sum > "$D/r"',
  },
  {
    name: "background sleeper holding the fd",
    input: 'cat "$F"; sleep 1 &',
    remote: 'sha256sum > "$D/r"',
  },
  {
    name: "writer that comes back later",
    input: 'cat "$F"; (sleep 0.3; echo late) &',
    remote: 'sha256sum > "$D/r"',
  },
  {
    name: "background sleeper without the fd",
    input: 'cat "$F"; sleep 1 >/dev/null &',
    remote: 'sha256sum > "$D/r"',
  },
  {
    name: "background reader on the output",
    input: 'cat "$F"',
    remote: "cat",
    output: 'exec 3<&0; cat <&3 > "$D/o" &',
  },
  {
    name: "delayed background reader on the output",
    input: 'cat "$F"',
    remote: "cat",
    output: 'exec 3<&0; (sleep 0.3; cat <&3 > "$D/o") &',
  },
  {
    name: "background reader on the remote",
    input: 'cat "$F"',
    remote: 'exec 3<&0; sha256sum <&3 > "$D/r" &',
  },
  {
    name: "delayed background reader on the remote",
    input: 'cat "$F"',
    remote: 'exec 3<&0; (sleep 0.3; sha256sum <&3 > "$D/r") &',
  },
  {
    // All of it fits in a pipe: the copy is over long before the reader starts reading.
    name: "delayed background reader on the remote, input smaller than a pipe holds",
    input: 'head -c 1000 "$F"',
    remote: 'exec 3<&0; (sleep 0.3; sha256sum <&3 > "$D/r") &',
  },
  {
    name: "background writer on the remote",
    input: 'cat "$F"',
    remote: 'cat > "$D/r"; cat "$F" &',
    output: "sha256sum",
  },
  {
    name: "grandchild writer on the remote",
    input: 'cat "$F"',
    remote: 'cat >/dev/null; ( (cat "$F") & ); exit 0',
    output: "sha256sum",
  },
  {
    name: "remote writer that comes back later",
    input: 'cat "$F"',
    remote: 'cat > "$D/r"; (sleep 0.3; echo late) &',
    output: "cat",
  },
  {
    name: "remote sleeper holding the fd",
    input: 'cat "$F"',
    remote: 'sha256sum > "$D/r"; sleep 1 &',
    output: "wc -c",
  },
  { name: "remote reader that stops early", input: "yes", remote: 'head -c 1000 > "$D/r"' },
  { name: "output reader that stops early", remote: "yes", output: "head -c 1000" },
  { name: "remote that never reads", input: "yes", remote: "true" },
  {
    name: "remote that never reads, input in a pipeline",
    input: "yes | cat",
    remote: "exit 0",
  },
  { name: "remote exit status", input: 'cat "$F"', remote: "cat >/dev/null; exit 7" },
  { name: "input exit status", input: 'cat "$F"; exit 3', remote: 'cat > "$D/r"' },
  {
    name: "output exit status",
    input: 'cat "$F"',
    remote: "cat",
    output: "cat >/dev/null; exit 5",
  },
  {
    name: "the rightmost failure wins",
    input: 'cat "$F"; exit 3',
    remote: "cat >/dev/null; exit 7",
    output: "cat; exit 5",
  },
  { name: "input killed by a signal", input: "kill -TERM $$", remote: 'cat > "$D/r"' },
  { name: "no input: the remote reads end of file", remote: "echo hello; cat", output: "cat" },
  // Orphans whose environment never named the run (the command's first process is gone
  // before any walk of the tree: only being an orphan of the run says whose they are).
  {
    name: "orphaned writer without SOCKETPIPE_RUN",
    input: `exec env -u SOCKETPIPE_RUN sh -c '(sleep 0.2; cat "$F") &'`,
    remote: 'sha256sum > "$D/r"',
  },
  {
    name: "orphaned writer with a cleaned environment",
    input: `exec env -i F="$F" /bin/sh -c '(sleep 0.2; exec /bin/cat "$F") &'`,
    remote: 'sha256sum > "$D/r"',
  },
  {
    name: "delayed orphaned reader with a cleaned environment on the remote",
    input: 'cat "$F"',
    remote:
      `exec env -i D="$D" /bin/sh -c 'exec 3<&0; (sleep 0.3; /usr/bin/sha256sum <&3 > "$D/r") &'`,
  },
  {
    name: "orphaned reader without SOCKETPIPE_RUN on the output",
    input: 'cat "$F"',
    remote: "cat",
    output: `exec env -u SOCKETPIPE_RUN sh -c 'exec 3<&0; (sleep 0.3; cat <&3 > "$D/o") &'`,
  },
  {
    // Both local commands hold the one socket: the orphan's role marker says whose it is,
    // and the input's end is not held up by the output's reader (which would deadlock).
    name: "orphaned reader without SOCKETPIPE_RUN on the output, found only after its shell left",
    input: 'sleep 0.3; cat "$F"',
    remote: "cat",
    output: `exec env -u SOCKETPIPE_RUN sh -c 'exec 3<&0; (sleep 0.1; cat <&3 > "$D/o") &'`,
  },
  {
    name: "orphaned writer without SOCKETPIPE_RUN on the remote",
    input: 'cat > "$D/r"',
    remote: `cat; exec env -u SOCKETPIPE_RUN sh -c '(sleep 0.2; cat "$F") &'`,
    output: "sha256sum",
  },
  // Readers that stop early on a stream the socket's buffers hold whole (a pipe does not).
  {
    name: "remote reader that stops early, the stream smaller than the socket buffers",
    input: 'cat "$F"',
    remote: 'head -c 1000 > "$D/r"',
  },
  { name: "remote that never reads a small stream", input: 'cat "$F"', remote: "true" },
  {
    name: "output reader that stops early on a small stream",
    remote: 'cat "$F"',
    output: "head -c 10",
  },
  { name: "output that never reads a small stream", remote: 'cat "$F"', output: "true" },
  // Executable files with no "#!", run directly, on every role.
  {
    name: "scripts without #! on every role",
    scripts: true,
    input: 'cat "$F"',
    remote: 'sha256sum > "$D/r"; cat "$F"',
    output: "wc -c",
  },
  // Every signal is 128 + N, on both hosts.
  { name: "input killed by SIGSYS", input: "kill -SYS $$", remote: 'cat > "$D/r"' },
  { name: "input killed by SIGSTKFLT", input: "kill -16 $$", remote: 'cat > "$D/r"' },
  { name: "remote killed by SIGPROF", input: 'cat "$F"', remote: "kill -PROF $$" },
  { name: "remote killed by a real-time signal", input: 'cat "$F"', remote: "kill -34 $$" },
  { name: "remote killed by SIGRTMAX", remote: "kill -64 $$", output: "cat" },
  { name: "output killed by SIGPWR", remote: "echo hi", output: "kill -PWR $$" },
  { name: "output killed by SIGVTALRM", remote: "echo hi", output: "kill -VTALRM $$" },
  { name: "no output: the remote's stdout is discarded", input: 'cat "$F"', remote: "cat" },
];

interface Observed {
  status: number;
  stdout: string;
  files: Record<string, string>;
}

const workspace = await Deno.makeTempDir({ prefix: "socketpipe-pipe-exact-" });
const dataFile = `${workspace}/F`;
const data = new Uint8Array(2 * 1024 * 1024);
for (let at = 0; at < data.length; at += 65536) {
  crypto.getRandomValues(data.subarray(at, at + 65536));
}
await Deno.writeFile(dataFile, data);

/** Runs `shape` through `run` in a fresh directory, waiting until its processes end. */
async function observe(
  label: string,
  run: (environment: Record<string, string>) => Promise<{ code: number; stdout: Uint8Array }>,
): Promise<Observed> {
  const directory = await Deno.makeTempDir({ dir: workspace, prefix: `${label}-` });
  const marker = crypto.randomUUID();
  const result = await run({ F: dataFile, D: directory, PIPE_EXACT_MARK: marker });
  await waitForMarkedProcesses(marker);
  const files: Record<string, string> = {};
  for (
    const entry of [...Deno.readDirSync(directory)].sort((a, b) => a.name.localeCompare(b.name))
  ) {
    files[entry.name] = await sha256(`${directory}/${entry.name}`);
  }
  return { status: result.code, stdout: await sha256(result.stdout), files };
}

/** Waits until no process carries `marker` in its environment: background holders end. */
async function waitForMarkedProcesses(marker: string): Promise<void> {
  const needle = `PIPE_EXACT_MARK=${marker}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const marked = [...Deno.readDirSync("/proc")].filter((entry) => {
      if (!/^\d+$/.test(entry.name)) return false;
      try {
        return Deno.readTextFileSync(`/proc/${entry.name}/environ`).split("\0").includes(needle);
      } catch {
        return false;
      }
    });
    if (marked.length === 0) return;
    if (Date.now() > deadline) {
      for (const entry of marked) Deno.kill(Number(entry.name), "SIGKILL");
      throw new Error(
        `processes of the run still running after 30 s: ${marked.map((e) => e.name)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A role's command: `sh -c TEXT`, or for {@link Shape.scripts} the file that holds TEXT. */
function commandOf(shape: Shape, role: "input" | "remote" | "output"): string[] {
  const text = shape[role] ?? "";
  if (!shape.scripts) return ["sh", "-c", text];
  const path = `${workspace}/${shape.name.replaceAll(/\W/g, "-")}-${role}`;
  Deno.writeTextFileSync(path, `${text}\n`, { mode: 0o755 });
  Deno.chmodSync(path, 0o755);
  return [path];
}

/** The oracle: the same commands in a plain pipe, with set -o pipefail. */
function throughPipe(shape: Shape) {
  return async (environment: Record<string, string>) => {
    const run = (n: number) => shape.scripts ? `"$${n}"` : `sh -c "$${n}"`;
    const input = shape.input ? `${run(1)} | ` : "";
    const output = shape.output ? ` | ${run(3)}` : " > /dev/null";
    const stdin = shape.input ? "" : " < /dev/null";
    const pipeline = `set -o pipefail; ${input}${run(2)}${stdin}${output}`;
    const word = (role: "input" | "remote" | "output") =>
      shape[role] === undefined ? "" : commandOf(shape, role).at(-1)!;
    const argv = ["bash", "-c", pipeline, "bash", word("input"), word("remote"), word("output")];
    const { code, stdout } = await runFeeding(argv, {
      stdin: shape.stdin ? data : undefined,
      env: environment,
    });
    return { code, stdout };
  };
}

/** The same commands through socketpipe on a data path. */
function throughSocketpipe(shape: Shape, pathArgs: string[]) {
  return async (environment: Record<string, string>) => {
    const args = [
      ...pathArgs,
      ...(shape.input ? block("-i", ...commandOf(shape, "input")) : []),
      ...LOCAL_LOGIN,
      ...block("-r", ...commandOf(shape, "remote")),
      ...(shape.output ? block("-o", ...commandOf(shape, "output")) : []),
    ];
    return await runCli(args, { environment, stdin: shape.stdin ? data : undefined });
  };
}

/** The stream sealed in records: every shape holds with `--encrypt` too. */
const ENCRYPTED = { label: "--encrypt", args: ["--encrypt"] };
/** The stream framed to survive cuts: every shape holds with `--reconnect` too. */
const RESUMABLE = { label: "--reconnect", args: ["--reconnect", "30"] };

let exact = 0;
let ran = 0;
for (const shape of SHAPES) {
  Deno.test(`pipe-exact: ${shape.name}`, async () => {
    ran++;
    const expected = await observe("pipe", throughPipe(shape));
    for (const path of [...DATA_PATHS, ENCRYPTED, RESUMABLE]) {
      const observed = await observe(path.label, throughSocketpipe(shape, path.args));
      assert.deepEqual(observed, expected, `${shape.name} [${path.label}] differs from a pipe`);
    }
    exact++;
  });
}

Deno.test("pipe-exact: every shape that ran", () => {
  // Under --filter only some shapes run: the count is of those, and says so.
  const filtered = ran < SHAPES.length ? ` (${SHAPES.length - ran} filtered out)` : "";
  console.log(`pipe-exact: ${exact}/${ran} shapes${filtered}`);
  assert.equal(exact, ran);
});

Deno.test("pipe-exact: clean up", async () => {
  await Deno.remove(workspace, { recursive: true });
});
