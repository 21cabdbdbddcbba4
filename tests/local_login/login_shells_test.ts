/**
 * The login shell the remote host runs can be any of sh, bash, dash, busybox, ksh, mksh,
 * zsh, fish, csh or tcsh: the remote command gets exactly the words of `-r { … }` through
 * each, and the provisioning loader runs through each. A login here runs its words as
 * ssh does: joined with spaces, through that shell's `-c`.
 */
import assert from "node:assert/strict";
import { block, REMOTE_HALF, runCli } from "../harness/run.ts";
import { shellMissing, testWhere } from "../harness/register.ts";

const SHELLS = ["sh", "bash", "dash", "busybox", "zsh", "ksh", "mksh", "fish", "csh", "tcsh"];
const WORDS = ["=ls", "it's", "a!b", "\\\\two", "$HOME", "%1", "a^b", "~root", "two words", "*"];

function installed(program: string): boolean {
  return new Deno.Command("sh", { args: ["-c", `command -v ${program}`], stdout: "null" })
    .outputSync().success;
}

/** A login that runs its words through `shell`, as sshd runs a user's login shell. */
function loginThrough(shell: string): string[] {
  const run = shell === "busybox" ? "busybox sh" : shell.endsWith("csh") ? `${shell} -f` : shell;
  return block("-l", "sh", "-c", `exec ${run} -c "$*"`, "sh");
}

const cache = await Deno.makeTempDir({ prefix: "socketpipe-login-shells-" });
globalThis.addEventListener("unload", () => Deno.removeSync(cache, { recursive: true }));

for (const shell of SHELLS) {
  const here = installed(shell);
  testWhere(
    shellMissing(shell, here),
    `through a ${shell} login the remote command gets exactly its words`,
    async () => {
      const run = await runCli([
        ...block("-i", "true"),
        ...loginThrough(shell),
        "-h",
        "127.0.0.1",
        ...REMOTE_HALF,
        ...block("-r", "/usr/bin/printf", "%s\\0", ...WORDS),
        ...block("-o", "cat"),
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(new TextDecoder().decode(run.stdout).split("\0").slice(0, -1), WORDS);
    },
  );
}

for (const shell of SHELLS) {
  const here = installed(shell);
  testWhere(
    shellMissing(shell, here),
    `through a ${shell} login the provisioning loader starts the remote half`,
    async () => {
      const run = await runCli([
        ...block("-i", "true"), // writes nothing: the remote command reads nothing
        ...loginThrough(shell),
        "-h",
        "127.0.0.1",
        ...block("-r", "/usr/bin/printf", "%s\\0", ...WORDS),
        ...block("-o", "cat"),
      ], { environment: { XDG_CACHE_HOME: cache } });
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(new TextDecoder().decode(run.stdout).split("\0").slice(0, -1), WORDS);
    },
  );
}

for (const provisioned of [true, false]) {
  testWhere(
    null,
    `a login that prints text without a newline before the command (a wrapper's banner) still meets the remote half${
      provisioned ? ", provisioned" : ", -x"
    }`,
    async () => {
      const run = await runCli([
        ...block("-i", "printf", "data"),
        ...block("-l", "sh", "-c", 'printf banner; eval "$*"', "sh"),
        "-h",
        "127.0.0.1",
        ...(provisioned ? [] : REMOTE_HALF),
        ...block("-r", "cat"),
        ...block("-o", "cat"),
      ], { environment: { XDG_CACHE_HOME: cache } });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(new TextDecoder().decode(run.stdout), "data");
      assert.match(run.stderr, /^socketpipe: login: banner$/m);
    },
  );
}
