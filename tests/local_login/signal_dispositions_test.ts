/**
 * Signals as a shell gives them: what socketpipe's caller left ignored (`nohup`'s SIGHUP,
 * a script's background job's SIGINT) stays ignored, for socketpipe and for every command,
 * and nothing else is ignored in a command (glibc's own 32 and 33 included), on both data
 * paths: socketpipe starts the commands itself (posix_spawn), not through Deno.Command. A
 * plain pipe under the same caller is the oracle.
 */
import assert from "node:assert/strict";
import { block, REMOTE_HALF, runCli, SOCKETPIPE, spawnCli } from "../harness/run.ts";
import { testEachPath, testWhere } from "../harness/register.ts";

const LOGIN = block("-l", "sh", "-c", 'eval "$*"', "sh");
const SHOW = "grep ^SigIgn /proc/$$/status";

/**
 * What each of a plain pipe's commands shows under a caller that ignored `signals`, in a
 * shell started cleanly (a login shell, a terminal's): exactly those. (A shell that this
 * test's own Deno.Command starts would show glibc's 32 and 33 ignored too, the defect.)
 */
function pipeOracle(signals: number[]): string {
  const mask = signals.reduce((bits, signal) => bits | (1n << BigInt(signal - 1)), 0n);
  return `SigIgn:\t${mask.toString(16).padStart(16, "0")}\n`.repeat(3);
}

const CALLERS: [string, string, number[]][] = [
  ["a plain caller", "", []],
  ["nohup's caller", "trap '' HUP;", [1]],
  ["a script's background job", "trap '' INT QUIT;", [2, 3]],
];

for (const [caller, trap, ignored] of CALLERS) {
  testEachPath(
    `every command starts with the signal dispositions a shell gives (${caller})`,
    async (path) => {
      const run = await runCli([
        ...path.args,
        ...block("-i", "sh", "-c", SHOW),
        ...LOGIN,
        "-h",
        "127.0.0.1",
        ...REMOTE_HALF,
        ...block("-r", "sh", "-c", `cat; ${SHOW}`),
        ...block("-o", "sh", "-c", `cat; ${SHOW}`),
      ], { program: ["sh", "-c", `${trap} exec "$@"`, "sh", ...SOCKETPIPE] });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(new TextDecoder().decode(run.stdout), pipeOracle(ignored));
    },
  );
}

testEachPath(
  "a command killed by signal 32 ends the run as it ends a pipe (exit 160)",
  async (path) => {
    const run = await runCli([
      ...path.args,
      ...block("-i", "true"),
      ...LOGIN,
      "-h",
      "127.0.0.1",
      ...REMOTE_HALF,
      ...block("-r", "sh", "-c", "cat >/dev/null; kill -32 $$"),
      ...block("-o", "cat"),
    ]);
    // As a pipe in a cleanly started shell ends: 128 + 32.
    assert.equal(run.code, 160, run.stderr);
  },
);

testWhere(
  null,
  "under nohup, SIGHUP neither stops socketpipe nor its commands: the run ends 0",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "socketpipe-nohup-" });
    try {
      const fifo = `${dir}/go`;
      new Deno.Command("mkfifo", { args: [fifo] }).outputSync();
      const child = spawnCli([
        ...block("-i", "sh", "-c", `touch ${dir}/started; read line < ${fifo}; echo "$line"`),
        ...LOGIN,
        "-h",
        "127.0.0.1",
        ...REMOTE_HALF,
        ...block("-r", "cat"),
        ...block("-o", "cat"),
      ], { program: ["sh", "-c", `trap '' HUP; exec "$@"`, "sh", ...SOCKETPIPE] });
      const output = child.output();
      // Once the input command runs, socketpipe has taken every signal it takes.
      while (!(await Deno.stat(`${dir}/started`).catch(() => null))) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      Deno.kill(child.pid, "SIGHUP");
      await Deno.writeTextFile(fifo, "still here\n");
      const { code, stdout, stderr } = await output;
      assert.equal(code, 0, new TextDecoder().decode(stderr));
      assert.equal(new TextDecoder().decode(stdout), "still here\n");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
