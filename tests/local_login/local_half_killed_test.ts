/**
 * The local commands die with their socketpipe, as the remote ones do with theirs:
 * killed outright (SIGKILL, which nothing can catch), the local half leaves its watchdog
 * to kill what it started; SIGQUIT and SIGUSR2, which would kill Deno outright, stop the
 * run as SIGTERM does. On both data paths, with grandchildren.
 */
import assert from "node:assert/strict";
import {
  block,
  LEFTOVERS_GONE_MS,
  LOCAL_LOGIN,
  processesMatching,
  spawnCli,
  waitUntilGone,
} from "../harness/run.ts";
import { DATA_PATHS } from "../harness/register.ts";

/** A run whose three commands (and a grandchild of each local one) sleep for ever. */
function startSleepingRun(pathArgs: string[], marker: string): Deno.ChildProcess {
  return spawnCli([
    ...pathArgs,
    ...block("-i", "sh", "-c", `sleep 1000 & wait`),
    ...LOCAL_LOGIN,
    ...block("-r", "sh", "-c", "cat; sleep 1000"),
    ...block("-o", "sh", "-c", `cat >/dev/null & sleep 1000; wait`),
  ], { environment: { LEFTOVER_MARK: marker }, stderr: "piped", stdout: "null" });
}

/**
 * Asserts that no process of the run is left (killing any that is, so that a failure
 * leaves nothing either); returns what socketpipe wrote on stderr.
 */
async function assertNothingLeft(child: Deno.ChildProcess, marker: string): Promise<string> {
  // A leftover holds the stderr pipe: read it only once they are gone.
  const stderr = new Response(child.stderr).text();
  const left = await waitUntilGone(marker, LEFTOVERS_GONE_MS);
  for (const line of left) Deno.kill(Number(line.split(" ")[0]), "SIGKILL");
  const text = await stderr;
  assert.deepEqual(left, [], `nothing of the run is left: ${text}`);
  return text;
}

/**
 * Waits until every role is up: the two local sleeps and the remote command. Fails at once
 * if the run ends first; the deadline is generous, for a busy host.
 */
async function waitForEveryRole(marker: string, child: Deno.ChildProcess): Promise<void> {
  let ended = false;
  child.status.then(() => ended = true);
  const deadline = Date.now() + 60_000;
  while ((await processesMatching(marker)).filter((p) => / sleep 1000$/.test(p)).length < 3) {
    if (ended) throw new Error("the run ended before its commands had all started");
    if (Date.now() > deadline) throw new Error("the run's commands did not all start");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const path of DATA_PATHS) {
  Deno.test(`a local half killed by SIGKILL leaves none of its commands running [${path.label}]`, async () => {
    const marker = `leftover-${crypto.randomUUID()}`;
    const child = startSleepingRun(path.args, marker);
    await waitForEveryRole(marker, child);
    child.kill("SIGKILL");
    assert.equal((await child.status).code, 137);
    await assertNothingLeft(child, marker);
  });

  for (const [signal, status] of [["SIGQUIT", 131], ["SIGUSR2", 140]] as const) {
    Deno.test(`${signal} stops the run as SIGTERM does: exit ${status}, nothing left [${path.label}]`, async () => {
      const marker = `leftover-${crypto.randomUUID()}`;
      const child = startSleepingRun(path.args, marker);
      await waitForEveryRole(marker, child);
      child.kill(signal);
      const { code } = await child.status;
      const text = await assertNothingLeft(child, marker);
      assert.equal(code, status, text);
      assert.match(text, new RegExp(`^socketpipe: interrupted by ${signal}: `, "m"));
    });
  }
}
