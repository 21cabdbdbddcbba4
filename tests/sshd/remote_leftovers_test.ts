/**
 * After a run ends, by any path, nothing it started is left on the remote host, whatever
 * its state or environment, through a real sshd: a daemon the remote command started
 * with a cleaned environment in a session of its own, and a remote half stopped with
 * SIGSTOP and never continued (its watchdog sees the login gone and ends it).
 */
import assert from "node:assert/strict";
import {
  block,
  LEFTOVERS_GONE_MS,
  processesMatching,
  REMOTE_HALF,
  runCli,
  spawnCli,
  waitUntilGone,
} from "../harness/run.ts";
import { type PrivateSshd, sshdAvailable, startSshd } from "../harness/sshd.ts";
import { DATA_PATHS, testWhere } from "../harness/register.ts";

const noSshd = sshdAvailable ? null : "no sshd installed";
const sshd: PrivateSshd | null = noSshd ? null : await startSshd();
globalThis.addEventListener("unload", () => sshd?.stopSync());
const LOGIN = sshd ? block("-l", ...sshd.login) : [];
const unique = () => `sp${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;

/** Kills what is left (so that a failure leaves nothing either) and asserts it was nothing. */
async function assertNothingLeft(marker: string, withinMs: number): Promise<void> {
  const left = await waitUntilGone(marker, withinMs);
  for (const line of left) {
    try {
      Deno.kill(Number(line.split(" ")[0]), "SIGKILL");
    } catch {
      // Gone.
    }
  }
  assert.deepEqual(left, [], `left on the remote host after ${withinMs / 1000} s`);
}

/** Whether `pid` has started its watchdog (a child `sh -c … socketpipe-watchdog …`). */
function hasWatchdog(pid: number): boolean {
  try {
    const children = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).split(" ");
    return children.filter((child) => child).some((child) =>
      Deno.readTextFileSync(`/proc/${child}/cmdline`).includes("socketpipe-watchdog")
    );
  } catch {
    return false;
  }
}

/**
 * The remote half's pid once it runs and has started its watchdog (Deno running main.ts -s, not ssh, whose words name
 * it too), and with `commandToo` once its command runs as well.
 */
async function waitForRemoteHalf(marker: string, commandToo: boolean): Promise<[string]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const found = (await processesMatching(marker)).map((line) => line.split(" "));
    const half = found.find((words) =>
      words[1].endsWith("deno") && words.includes("-s") && !words.includes("-l")
    );
    const command = found.some((words) => /(^|\/)sh$/.test(words[1]) && words[2] === "-c");
    if (half && (!commandToo || command) && hasWatchdog(Number(half[0]))) return [half[0]];
    if (Date.now() > deadline) throw new Error(`the remote half did not start: ${found}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

for (const path of DATA_PATHS) {
  const label = (name: string) => `${name} [${path.label}]`;

  testWhere(
    noSshd,
    label("a daemon the remote command started with env -i and setsid does not outlive the run"),
    async () => {
      const marker = unique();
      const run = await runCli([
        ...path.args,
        ...block("-i", "echo", "hi"),
        ...LOGIN,
        ...REMOTE_HALF,
        ...block(
          "-r",
          "sh",
          "-c",
          `env -i HOME=/ setsid sh -c 'sleep 1000; exit' ${marker} </dev/null >/dev/null 2>&1 & cat`,
        ),
        ...block("-o", "cat"),
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(new TextDecoder().decode(run.stdout), "hi\n");
      await assertNothingLeft(marker, LEFTOVERS_GONE_MS);
    },
  );

  for (const when of ["before it meets the local half", "while its command runs"] as const) {
    testWhere(
      noSshd,
      label(
        `a remote half stopped with SIGSTOP ${when} and never continued is gone once the run has ended`,
      ),
      async () => {
        const marker = unique();
        const silent = when === "before it meets the local half"
          ? Deno.listen({ hostname: "127.0.0.1", port: 0 })
          : null;
        const child = spawnCli([
          ...path.args,
          "--peer-timeout",
          "2",
          // Before the meeting (held off: the remote half dials a listener of this test's
          // that never speaks, while the local half listens on another loopback address),
          // a stopped remote half cannot be told from a password prompt: -t ends the wait.
          ...(silent
            ? [
              "-t",
              "4",
              "-h",
              "127.0.0.1",
              "--bind",
              "127.0.0.2",
              "--port",
              String(silent.addr.port),
            ]
            : []),
          ...block("-i", "sleep", "1000"),
          ...LOGIN,
          ...REMOTE_HALF,
          ...block("-r", "sh", "-c", `cat; : ${marker}`),
        ], { stderr: "piped", stdout: "null" });
        const remoteHalf = await waitForRemoteHalf(marker, when === "while its command runs");
        Deno.kill(Number(remoteHalf[0]), "SIGSTOP");
        const { code } = await child.status;
        assert.equal(code, 2);
        await assertNothingLeft(marker, LEFTOVERS_GONE_MS);
        await child.stderr.cancel();
        silent?.close();
      },
    );
  }

  testWhere(
    noSshd,
    label("a remote watchdog stopped with SIGSTOP does not outlive a run that ends cleanly"),
    async () => {
      const marker = unique();
      const child = spawnCli([
        ...path.args,
        ...block("-i", "sh", "-c", `sleep 1; echo ${marker}`),
        ...LOGIN,
        ...REMOTE_HALF,
        ...block("-r", "sh", "-c", `cat; : ${marker}`),
        ...block("-o", "cat"),
      ], { stderr: "piped" });
      const [half] = await waitForRemoteHalf(marker, true);
      const watchdog = Deno.readTextFileSync(`/proc/${half}/task/${half}/children`).split(" ")
        .find((pid) =>
          pid && Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes("socketpipe-watchdog")
        );
      assert.ok(watchdog, "the remote half's watchdog");
      Deno.kill(Number(watchdog), "SIGSTOP");
      const output = await child.output();
      assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
      assert.equal(new TextDecoder().decode(output.stdout), `${marker}\n`);
      const deadline = Date.now() + LEFTOVERS_GONE_MS;
      while (Date.now() < deadline && isAlive(Number(watchdog))) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const alive = isAlive(Number(watchdog));
      if (alive) Deno.kill(Number(watchdog), "SIGKILL");
      assert.equal(alive, false, "the stopped watchdog is gone");
    },
  );
}

/** Whether `pid` is a process that has not ended (a zombie has). */
function isAlive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z/.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
}
