/**
 * socketpipe started with its stdout or stdin closed (`>&-`, `<&-`): Deno would reopen
 * them on /dev/null, so that an output command's bytes vanish with exit 0. The launcher
 * sees them closed first, and the run fails as a pipe's command would, exit 1.
 */
import assert from "node:assert/strict";
import { block, REPO, SHELL_LOGIN } from "../harness/run.ts";

const LAUNCHER = `${REPO}/bin/socketpipe`;
const LOGIN = [...block("-l", ...SHELL_LOGIN), "-h", "127.0.0.1", "--provision", "never"];

/** Runs the launcher through sh with `redirections` (e.g. ">&-") applied to it. */
async function launch(redirections: string, args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command("sh", {
    args: ["-c", `exec "$0" "$@" ${redirections}`, LAUNCHER, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  return {
    code,
    stdout: new TextDecoder().decode(stdout),
    stderr: new TextDecoder().decode(stderr),
  };
}

const remoteHalf = block("-x", Deno.execPath(), "run", "-A", "--quiet", `${REPO}/main.ts`);

Deno.test("started with stdout closed, a run with -o exits 1 with one line, as a pipe's writer fails", async () => {
  const run = await launch(">&-", [
    ...block("-i", "echo", "hi"),
    ...LOGIN,
    ...remoteHalf,
    ...block("-r", "cat"),
    ...block("-o", "cat"),
  ]);
  assert.equal(run.code, 1, run.stderr);
  assert.deepEqual(run.stderr.trim().split("\n"), [
    "socketpipe: standard output is closed (socketpipe was started with >&-): the output " +
    "command would write nowhere; give socketpipe a standard output (>/dev/null to discard)",
  ]);
});

Deno.test("started with stdin closed, a run with -i exits 1 with one line", async () => {
  const run = await launch("<&-", [
    ...block("-i", "cat"),
    ...LOGIN,
    ...remoteHalf,
    ...block("-r", "wc", "-c"),
  ]);
  assert.equal(run.code, 1, run.stderr);
  assert.match(
    run.stderr,
    /^socketpipe: standard input is closed \(socketpipe was started with <&-\)/,
  );
});

Deno.test("a closed stdout that no command would write to is no fault, and the launcher's word reaches no command", async () => {
  const run = await launch("", [
    ...block("-i", "echo", "hi"),
    ...LOGIN,
    ...remoteHalf,
    ...block("-r", "sh", "-c", 'cat; echo "${SOCKETPIPE_CLOSED_STDIO-unset}"'),
    ...block("-o", "cat"),
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, "hi\nunset\n");
  const closed = await launch(">&-", [
    ...block("-i", "echo", "hi"),
    ...LOGIN,
    ...remoteHalf,
    ...block("-r", "cat"),
  ]);
  assert.equal(closed.code, 0, closed.stderr);
});
