/**
 * Provisioning over a link that dies mid-way never hangs: once the bootstrap has spoken,
 * a send that makes no progress, or silence, for --peer-timeout ends the run with a line
 * naming the step that stalled. The "remote host" here is a stand-in bootstrap that says
 * it needs the runtime, takes 300 kB of it and then reads no more, as a cut link leaves
 * ssh; a real password prompt (nothing said yet) is never cut off.
 */
import assert from "node:assert/strict";
import { CONTROL_MARKER } from "../../lib/login/control_lines.ts";
import { block, spawnCli, waitUntilGone } from "../harness/run.ts";

const NEED = `${CONTROL_MARKER}${
  JSON.stringify({ event: "need", bundle: true, runtime: true, gzip: false, using: "nothing" })
}`;

Deno.test("a runtime send that stalls after the bootstrap spoke ends within --peer-timeout, naming the step", async () => {
  const started = Date.now();
  const marker = `stall-${crypto.randomUUID()}`;
  const child = spawnCli([
    "--peer-timeout",
    "2",
    ...block("-i", "echo", "hi"),
    ...block(
      "-l",
      "sh",
      "-c",
      'printf "%s\\n" "$0"; head -c 300000 >/dev/null; exec sleep 1000',
      NEED,
    ),
    ...block("-r", "cat"),
  ], { environment: { STALL_MARK: marker } });
  // A hang fails the test rather than holding the suite (the stand-in holds stderr).
  const deadline = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const stderrText = new Response(child.stderr).text();
  const output = await child.status;
  clearTimeout(deadline);
  const seconds = (Date.now() - started) / 1000;
  for (const line of await waitUntilGone(marker, 2_000)) {
    Deno.kill(Number(line.split(" ")[0]), "SIGKILL");
  }
  const stderr = await stderrText;
  await child.stdout.cancel();
  assert.equal(output.code, 2, `exit ${output.code} after ${seconds} s: ${stderr}`);
  assert.match(
    stderr,
    /^socketpipe: provision: stalled sending the (bundle|runtime) \(\d+ bytes taken\): nothing from the remote host for 2 s/m,
  );
  assert.ok(seconds < 15, `ended after ${seconds} s`);
});

Deno.test("before the bootstrap says anything (a password prompt) the wait is not cut off by --peer-timeout", async () => {
  const child = spawnCli([
    "--peer-timeout",
    "2",
    ...block("-i", "echo", "hi"),
    ...block("-l", "sh", "-c", "exec sleep 1000"),
    ...block("-r", "cat"),
  ]);
  const ended = child.status;
  const early = await Promise.race([
    ended.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000)),
  ]);
  child.kill("SIGTERM");
  const { code } = await ended;
  await child.output().catch(() => {});
  assert.equal(early, false, "a silent login before its first word is not cut off");
  assert.equal(code, 143);
});
