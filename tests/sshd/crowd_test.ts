/**
 * Many runs at once in one process, as a script using the library makes them, through the
 * private sshd: every one ends 0, byte-exact, with the open-file limit most hosts give a
 * process (1024).
 */
import assert from "node:assert/strict";
import { DENO, randomFile, REPO } from "../harness/run.ts";
import { shellQuote } from "../../lib/base/shell_quote.ts";
import { sshdAvailable, startSshd } from "../harness/sshd.ts";
import { testWhere } from "../harness/register.ts";

const sshd = sshdAvailable ? await startSshd() : null;
globalThis.addEventListener("unload", () => sshd?.stopSync());

const CALLS = 20;

testWhere(
  sshd ? null : "no sshd installed",
  `${CALLS} socketpipe() calls at once in one process, 1024 files open at most: all exit 0, byte-exact`,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "socketpipe-crowd-" });
    try {
      for (let index = 0; index < CALLS; index++) {
        await randomFile(dir, `in-${index}`, 100_000 + index * 1000);
      }
      const fixture = [
        DENO,
        "run",
        "-A",
        "--quiet",
        `${REPO}/tests/fixtures/concurrent_library.ts`,
        String(CALLS),
        dir,
        ...sshd!.login,
      ];
      const run = await new Deno.Command("sh", {
        args: ["-c", `ulimit -n 1024 && exec ${fixture.map(shellQuote).join(" ")}`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(run.stderr);
      assert.equal(run.code, 0, stderr);
      const outcomes = new TextDecoder().decode(run.stdout).trim().split("\n").map((line) =>
        JSON.parse(line)
      );
      assert.equal(outcomes.length, CALLS, stderr);
      const failed = outcomes.filter((outcome) => outcome.status !== 0 || !outcome.exact);
      assert.deepEqual(failed, [], stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
