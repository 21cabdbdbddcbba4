/**
 * A remote half that lies or sends terminal controls: its report is range-checked (a
 * report that does not hold up is a protocol fault, exit 2, never a status), and every
 * string it sends reaches the terminal with its control characters escaped.
 */
import assert from "node:assert/strict";
import { CONTROL_MARKER } from "../../lib/login/control_lines.ts";
import { PROTOCOL_VERSION } from "../../lib/base/version.ts";
import { block, REMOTE_SOCKETPIPE, runCli, SHELL_LOGIN } from "../harness/run.ts";

const LOGIN = [...block("-l", ...SHELL_LOGIN), "-h", "127.0.0.1"];

/** A remote half whose login channel passes through `sed -u "$SED"` on its way back. */
function rewrittenRemoteHalf(): string[] {
  return block("-x", "sh", "-c", `"$0" "$@" | sed -u "$SED"`, ...REMOTE_SOCKETPIPE);
}

/** A stand-in remote half that says `first` and `second`, then waits for the channel to close. */
function scriptedRemoteHalf(first: object, second: object): string[] {
  const [one, two] = [first, second].map((line) => `${CONTROL_MARKER}${JSON.stringify(line)}`);
  return block("-x", "sh", "-c", 'printf "%s\\n" "$1" "$2"; cat >/dev/null', "sh", one, two);
}

/** No raw control character but newline in what socketpipe printed. */
function assertNoControls(stderr: string): void {
  // deno-lint-ignore no-control-regex
  assert.ok(!/[\x00-\x09\x0b-\x1f\x7f]/.test(stderr), JSON.stringify(stderr));
}

for (
  const [what, sed] of [
    ["status 256, which would wrap to 0", `s/"status":{"status":0,/"status":{"status":256,/`],
    ["status -1", `s/"status":{"status":0,/"status":{"status":-1,/`],
    ["status 999", `s/"status":{"status":0,/"status":{"status":999,/`],
    [
      "a signal that does not match its status",
      `s/"status":{"status":0,"signal":null/"status":{"status":0,"signal":"SIGKILL"/`,
    ],
  ] as const
) {
  Deno.test(`a remote report with ${what} is a protocol fault, exit 2`, async () => {
    const run = await runCli([
      ...block("-i", "echo", "hi"),
      ...LOGIN,
      ...rewrittenRemoteHalf(),
      ...block("-r", "cat"),
    ], { environment: { SED: sed } });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.errorLines[0], /^socketpipe: protocol fault: the remote half's report/);
    assert.ok(!run.stderr.includes("exited with status"), run.stderr);
  });
}

Deno.test("an error line from the remote half reaches the terminal with its controls escaped", async () => {
  const run = await runCli([
    ...block("-i", "echo", "hi"),
    ...LOGIN,
    ...scriptedRemoteHalf(
      { event: "hello", version: PROTOCOL_VERSION, program: "9\x1b]0;owned\x07" },
      { event: "error", step: "con\x1b[2Jnect", message: "refused\x07\x1b[31m\nsecond line" },
    ),
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 2, run.stderr);
  assertNoControls(run.stderr);
  assert.equal(run.errorLines.length, 1, run.stderr);
  assert.match(run.errorLines[0], /con\\x1b\[2Jnect: refused\\x07\\x1b\[31m\\x0asecond line/);
});

Deno.test("a remote report with controls in its signal, reason or error is escaped, never printed raw", async () => {
  const run = await runCli([
    ...block("-i", "echo", "hi"),
    ...LOGIN,
    ...rewrittenRemoteHalf(),
    ...block("-r", "cat"),
  ], {
    environment: {
      SED: `s/"failedToStart":null},"cutOff":false,"counts":\\(.*\\),"error":null/` +
        `"failedToStart":"gone\\\\u001b[2J"},"cutOff":false,"counts":\\1,"error":"cut\\\\u0007"/`,
    },
  });
  assert.notEqual(run.code, 0, run.stderr);
  assertNoControls(run.stderr);
});
