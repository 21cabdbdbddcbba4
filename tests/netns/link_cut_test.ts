/**
 * Faults on a real two-host network (namespaces joined by a veth pair, sshd on the
 * "remote" host): cut links, a crashed host, an idle transfer. No -h: the remote half
 * finds the local host through its own $SSH_CLIENT.
 */
import assert from "node:assert/strict";
import { block, REMOTE_SOCKETPIPE, SOCKETPIPE } from "../harness/run.ts";
import { buildNetwork } from "../harness/netns.ts";
import { sshdAvailable, startSshd } from "../harness/sshd.ts";
import { testWhere } from "../harness/register.ts";

const PEER_TIMEOUT = 6;
const built = sshdAvailable ? await buildNetwork() : "no sshd installed";
const net = typeof built === "string" ? null : built;
const why = typeof built === "string" ? built : "";
globalThis.addEventListener("unload", () => net?.destroy());
const sshd = net ? await startSshd({ address: net.remoteAddress, netns: net.remoteNs }) : null;
globalThis.addEventListener("unload", () => sshd?.stopSync());
const decoder = new TextDecoder();

let faults = 0;
let survived = 0;
globalThis.addEventListener("unload", () => {
  if (net) console.log(`faults survived: ${survived}/${faults}`);
});

function networkTest(name: string, fn: () => Promise<void>) {
  testWhere(net ? null : why, name, async () => {
    faults++;
    await fn();
    survived++;
  });
}

/**
 * Starts socketpipe (with -v) on the local host: `connected` settles once the local half
 * says it met the remote half (a cut before that is a cut of the meeting, not of the
 * transfer); `ended` gives its status and everything it wrote to stderr.
 */
function startOnLocalHost(args: string[]) {
  const argv = net!.inside(net!.localNs, [
    ...SOCKETPIPE,
    "-v",
    "--peer-timeout",
    String(PEER_TIMEOUT),
    ...args,
    ...block("-l", ...sshd!.login),
    ...block("-x", ...REMOTE_SOCKETPIPE),
  ]);
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  let stderr = "";
  let onConnected = () => {};
  const connected = new Promise<void>((resolve) => onConnected = resolve);
  const collected = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      if (Deno.env.get("NET_DEBUG")) console.error(chunk.trimEnd());
      stderr += chunk;
      if (/^socketpipe: connected (from|to) /m.test(stderr)) onConnected();
    }
  })();
  const ended = (async () => {
    const [status, stdout] = await Promise.all([
      child.status,
      new Response(child.stdout).arrayBuffer(),
      collected,
    ]);
    return { code: status.code, stdout: new Uint8Array(stdout), stderr };
  })();
  return { child, connected, ended };
}

/** Waits for the local half's "connected" line, or fails with what it said instead. */
async function untilConnected(run: ReturnType<typeof startOnLocalHost>): Promise<void> {
  const early = await Promise.race([run.connected, run.ended]);
  if (early) assert.fail(`ended before it connected (${early.code}): ${early.stderr}`);
}

/**
 * The executable name of a process. From /proc/<pid>/comm, not cmdline: reading cmdline
 * takes the process's memory lock, and can block while it is being spawned or exec'd.
 */
function commandName(pid: number): string | null {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
  } catch {
    return null; // gone
  }
}

/** Waits until a process named `name` runs in `ns`. */
async function waitForProcess(ns: string, name: string, deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    for (const pid of await net!.pids(ns)) {
      if (commandName(pid) === name) return;
    }
    if (Date.now() > deadline) throw new Error(`no process named ${name} in ${ns}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The processes left in the remote namespace other than sshd, after a grace period. */
async function leftOnRemoteHost(graceMs: number): Promise<string[]> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const left: string[] = [];
    for (const pid of await net!.pids(net!.remoteNs)) {
      const name = commandName(pid);
      if (name && name !== "sshd" && name !== "sshd-session") left.push(`${pid} ${name}`);
    }
    if (!left.length || Date.now() > deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

for (
  const [direction, args, remotePattern] of [
    ["input → remote", [
      ...block("-i", "head", "-c", "1073741824", "/dev/zero"),
      ...block("-r", "dd", "of=/dev/null", "bs=64k"),
    ], "dd"],
    ["remote → output", [
      ...block("-r", "head", "-c", "1073741824", "/dev/zero"),
      ...block("-o", "dd", "of=/dev/null", "bs=64k"),
    ], "head"],
  ] as const
) {
  for (const copy of [false, true, "--encrypt"] as const) {
    networkTest(
      `link cut in the middle of a 1 GB transfer (${direction}${
        copy === true ? ", --copy" : copy ? `, ${copy}` : ""
      }): both halves end non-zero within the bound, nothing left running`,
      async () => {
        const report = await Deno.makeTempFile({ prefix: "socketpipe-cut-report-" });
        const run = startOnLocalHost([
          ...(copy === true ? ["--copy"] : copy ? [copy] : []),
          "--report",
          report,
          ...args,
        ]);
        await untilConnected(run);
        await waitForProcess(net!.remoteNs, remotePattern, 20_000);
        await net!.setLink(false);
        const cutAt = Date.now();
        try {
          const output = await run.ended;
          const seconds = (Date.now() - cutAt) / 1000;
          const stderr = output.stderr;
          assert.notEqual(output.code, 0, stderr);
          assert.equal(output.code, 2, stderr);
          assert.match(
            stderr,
            /^socketpipe: (remote half stopped answering|data connection: .*timed out)/mi,
          );
          assert.ok(seconds < PEER_TIMEOUT * 3, `the local half took ${seconds} s after the cut`);
          assert.deepEqual(await leftOnRemoteHost(PEER_TIMEOUT * 3000), []);
          // A script knows to try again: the link failed while the data moved.
          const { fault } = JSON.parse(await Deno.readTextFile(report));
          assert.equal(fault.step, "transfer", stderr);
          assert.equal(fault.retry, true, stderr);
          // Nothing came toward the local host but the remote half's end of stream (a FIN,
          // which the kernel counts as a byte): no byte may be said to have arrived.
          if (direction === "input → remote") {
            const { local } = JSON.parse(await Deno.readTextFile(report));
            assert.equal(local.received, 0, stderr);
            assert.doesNotMatch(stderr, /received 1\b|, 1 B received/, stderr);
          }
        } finally {
          await net!.setLink(true);
          await Deno.remove(report).catch(() => {});
        }
      },
    );
  }
}

networkTest(
  "an idle transfer (remote sleep 20, then output) over the same network ends with 0",
  async () => {
    const { ended } = startOnLocalHost([
      ...block("-r", "sh", "-c", "sleep 20; echo done"),
      ...block("-o", "cat"),
    ]);
    const output = await ended;
    assert.equal(output.code, 0, output.stderr);
    assert.equal(decoder.decode(output.stdout), "done\n");
  },
);

// Last: it kills sshd too.
networkTest(
  "the remote host crashes (every process killed at once): the local half ends with 2 and says so",
  async () => {
    const run = startOnLocalHost([
      ...block("-i", "head", "-c", "1073741824", "/dev/zero"),
      ...block("-r", "dd", "of=/dev/null", "bs=64k"),
    ]);
    await untilConnected(run);
    await waitForProcess(net!.remoteNs, "dd", 20_000);
    const crashedAt = Date.now();
    await crashRemoteHost();
    const output = await run.ended;
    const seconds = (Date.now() - crashedAt) / 1000;
    const stderr = output.stderr;
    assert.equal(output.code, 2, stderr);
    assert.match(
      stderr,
      /^socketpipe: (remote half vanished|remote half stopped answering|data connection: )/m,
    );
    assert.ok(seconds < PEER_TIMEOUT * 3, `the local half took ${seconds} s after the crash`);
  },
);

/**
 * Kills every process on the remote host, again and again until none is left: a process
 * that was forking when it was killed may leave a child the first pass did not see.
 */
async function crashRemoteHost(): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pids = await net!.pids(net!.remoteNs);
    if (!pids.length) return;
    if (Date.now() > deadline) throw new Error(`still on the remote host: ${pids.join(" ")}`);
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
