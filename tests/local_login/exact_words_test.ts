/**
 * Words arrive exactly: a word of every byte value 1–255, a word ending in CR, a lone CR
 * and an empty word reach the remote command's argv byte for byte (read back with `od`)
 * through every login shell a remote host may run, with `-x` and provisioned; the local
 * commands get theirs exactly on both data paths. A csh login shell carries a newline too
 * (it never sees one: such a command travels as hex), so nothing after it runs there.
 */
import assert from "node:assert/strict";
import { block, REMOTE_HALF, runCli } from "../harness/run.ts";
import { shellMissing, testWhere } from "../harness/register.ts";
import { wordOfBytes } from "../../lib/base/words.ts";

const SHELLS = ["sh", "bash", "dash", "busybox", "zsh", "ksh", "mksh", "fish", "csh", "tcsh"];

const EVERY_BYTE = wordOfBytes(Uint8Array.from({ length: 255 }, (_, index) => index + 1));
const WORDS = [EVERY_BYTE, "a\r", "\r", "", "\udcff\udcfe", "name\ntouch INJECTED\n"];

/** What `od -An -tx1 -v` prints for each word, one block a word, as the command does. */
const EXPECTED = WORDS.map((word) =>
  bytesOf(word).map((byte) => byte.toString(16).padStart(2, "0")).join(" ")
);

/** A word's exact bytes, counted here independently of lib/base/words.ts. */
function bytesOf(word: string): number[] {
  return [...word].flatMap((unit) => {
    const code = unit.charCodeAt(0);
    return code >= 0xdc80 && code <= 0xdcff ? [code - 0xdc00] : [...new TextEncoder().encode(unit)];
  });
}

/** A command that writes each of its words through `od`, then a line "." after each. */
const OD_EACH = ["sh", "-c", 'for word do printf %s "$word" | od -An -tx1 -v; echo .; done', "sh"];

/** The words back from `od`'s output: each word's bytes in hex, spaces between. */
function wordsFromOd(output: Uint8Array): string[] {
  return new TextDecoder().decode(output).split(".\n").slice(0, -1)
    .map((block) => block.split(/\s+/).filter((hex) => hex !== "").join(" "));
}

function installed(program: string): boolean {
  return new Deno.Command("sh", { args: ["-c", `command -v ${program}`], stdout: "null" })
    .outputSync().success;
}

/** A login that runs its words through `shell`, as sshd runs a user's login shell. */
function loginThrough(shell: string, cwd: string): string[] {
  const run = shell === "busybox" ? "busybox sh" : shell.endsWith("csh") ? `${shell} -f` : shell;
  return block("-l", "sh", "-c", `cd ${cwd} && exec ${run} -c "$*"`, "sh");
}

const cache = await Deno.makeTempDir({ prefix: "socketpipe-exact-words-" });
globalThis.addEventListener("unload", () => Deno.removeSync(cache, { recursive: true }));

for (const shell of SHELLS) {
  testWhere(
    shellMissing(shell, installed(shell)),
    `through a ${shell} login every byte of every word reaches the remote command (-x)`,
    async () => {
      const where = await Deno.makeTempDir({ dir: cache });
      const run = await runCli([
        ...block("-i", "true"),
        ...loginThrough(shell, where),
        "-h",
        "127.0.0.1",
        ...REMOTE_HALF,
        ...block("-r", ...OD_EACH, ...WORDS),
        ...block("-o", "cat"),
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(wordsFromOd(run.stdout), EXPECTED);
      // What followed the newline was a word's bytes, never a command of the shell's.
      assert.deepEqual([...Deno.readDirSync(where)], []);
    },
  );
}

testWhere(
  shellMissing("tcsh", installed("tcsh")),
  "through a tcsh login a provisioned remote half gets every byte of every word",
  async () => {
    const where = await Deno.makeTempDir({ dir: cache });
    const run = await runCli([
      ...block("-i", "true"),
      ...loginThrough("tcsh", where),
      "-h",
      "127.0.0.1",
      ...block("-r", ...OD_EACH, ...WORDS),
      ...block("-o", "cat"),
    ], { environment: { XDG_CACHE_HOME: `${cache}/provisioned` } });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(wordsFromOd(run.stdout), EXPECTED);
    assert.deepEqual([...Deno.readDirSync(where)], []);
  },
);

for (const path of ["zero-copy", "--copy"]) {
  testWhere(null, `the local commands get every byte of every word (${path})`, async () => {
    const run = await runCli([
      ...(path === "--copy" ? ["--copy"] : []),
      ...block("-i", ...OD_EACH, ...WORDS),
      ...block("-l", "sh", "-c", 'eval "$*"', "sh"),
      "-h",
      "127.0.0.1",
      ...REMOTE_HALF,
      ...block("-r", "cat"),
      ...block("-o", "sh", "-c", 'cat; printf %s "$1" | od -An -tx1 -v; echo .', "sh", EVERY_BYTE),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(wordsFromOd(run.stdout), [...EXPECTED, EXPECTED[0]]);
  });
}

testWhere(
  null,
  "-x words that a login shell could split are refused before the login",
  async () => {
    const run = await runCli([
      ...block("-i", "true"),
      ...block("-l", "sh", "-c", "echo LOGGED-IN >&2", "sh"),
      ...block("-x", "socketpipe\ntouch x"),
      ...block("-r", "cat"),
    ]);
    assert.equal(run.code, 1);
    assert.match(run.errorLines[0], /^socketpipe: -x: the word .* printable ASCII/);
    assert.doesNotMatch(run.stderr, /LOGGED-IN/);
  },
);

testWhere(null, "a --remote-cache path a login shell could split is refused", async () => {
  const run = await runCli([
    ...block("-i", "true"),
    ...block("-l", "sh", "-c", "echo LOGGED-IN >&2", "sh"),
    "--remote-cache",
    "/tmp/c\ntouch x",
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 1);
  assert.match(run.errorLines[0], /^socketpipe: bad --remote-cache: .*printable ASCII/);
  assert.doesNotMatch(run.stderr, /LOGGED-IN/);
});

testWhere(
  null,
  "every byte of every word reaches a remote command on the stream path",
  async () => {
    const run = await runCli([
      "--copy",
      ...block("-i", "true"),
      ...block("-l", "sh", "-c", 'eval "$*"', "sh"),
      "-h",
      "127.0.0.1",
      ...REMOTE_HALF,
      ...block("-r", ...OD_EACH, ...WORDS),
      ...block("-o", "cat"),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(wordsFromOd(run.stdout), EXPECTED);
  },
);
