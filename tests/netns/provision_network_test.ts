/**
 * A link cut while the runtime is being provisioned, on a real two-host network
 * (namespaces joined by a veth pair, shaped with tbf so that the runtime takes seconds to
 * send; sshd on the "remote" host, whose sessions have no Deno): the local half ends
 * within --peer-timeout of the send stalling, with a line naming the step, never hangs;
 * the bootstrap on the remote host, whose sshd does not notice the cut, ends itself once
 * the payload has stopped arriving for as long.
 */
import assert from "node:assert/strict";
import { block, SOCKETPIPE } from "../harness/run.ts";
import { buildNetwork } from "../harness/netns.ts";
import { bareSessionPath, sshdAvailable, startSshd } from "../harness/sshd.ts";
import { testWhere } from "../harness/register.ts";

const PEER_TIMEOUT = 4;
const built = sshdAvailable ? await buildNetwork() : "no sshd installed";
const net = typeof built === "string" ? null : built;
const why = typeof built === "string" ? built : "";
globalThis.addEventListener("unload", () => net?.destroy());
const system = await Deno.makeTempDir({ prefix: "socketpipe-system-" });
globalThis.addEventListener("unload", () => Deno.removeSync(system, { recursive: true }));
/** The remote host's session PATH: the system's commands, but neither deno nor socketpipe. */
const sessionPath = bareSessionPath(system);
const sshd = net
  ? await startSshd({ address: net.remoteAddress, netns: net.remoteNs, sessionPath })
  : null;
globalThis.addEventListener("unload", () => sshd?.stopSync());

async function inside(ns: string, argv: string[]): Promise<void> {
  const [command, ...args] = net!.inside(ns, argv);
  const result = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" })
    .output();
  if (!result.success) {
    throw new Error(`${argv.join(" ")}: ${new TextDecoder().decode(result.stderr)}`);
  }
}

/** The bootstrap's processes still in the remote namespace after `withinMs` (then killed). */
async function bootstrapLeft(withinMs: number): Promise<string[]> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const left: string[] = [];
    for (const pid of await net!.pids(net!.remoteNs)) {
      try {
        const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").join(" ");
        if (/socketpipe-bootstrap|^head -c/.test(cmdline)) left.push(`${pid} ${cmdline}`);
      } catch {
        // Gone.
      }
    }
    if (left.length === 0 || Date.now() > deadline) {
      for (const line of left) Deno.kill(Number(line.split(" ")[0]), "SIGKILL");
      return left;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Shapes the local host's link to `rate` (tbf), for a slow link. */
function shape(rate: string): Promise<void> {
  return inside(net!.localNs, [
    "tc",
    "qdisc",
    "add",
    "dev",
    net!.localLink,
    "root",
    "tbf",
    "rate",
    rate,
    "burst",
    "64kb",
    "latency",
    "400ms",
  ]);
}

function unshape(): Promise<void> {
  return inside(net!.localNs, ["tc", "qdisc", "del", "dev", net!.localLink, "root"]).catch(
    () => {},
  );
}

/** The partial files (`*.part`) anywhere under `dir`. */
function partials(dir: string): string[] {
  const found: string[] = [];
  const walk = (at: string) => {
    for (const entry of Deno.readDirSync(at)) {
      const path = `${at}/${entry.name}`;
      if (entry.isDirectory) walk(path);
      else if (/\.part/.test(entry.name)) found.push(path);
    }
  };
  walk(dir);
  return found;
}

testWhere(
  net ? null : why,
  "a first run over a 16 Mbit/s link succeeds: the remote host says it lives while it unpacks and checks",
  async () => {
    const cache = await Deno.makeTempDir({ prefix: "socketpipe-provision-slow-" });
    await shape("16mbit");
    try {
      const argv = net!.inside(net!.localNs, [
        ...SOCKETPIPE,
        ...block("-i", "echo", "hi"),
        ...block("-l", ...sshd!.login, "env", `XDG_CACHE_HOME=${cache}`),
        ...block("-r", "cat"),
        ...block("-o", "cat"),
      ]);
      const result = await new Deno.Command(argv[0], {
        args: argv.slice(1),
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(result.stderr);
      assert.equal(result.code, 0, stderr);
      assert.equal(new TextDecoder().decode(result.stdout), "hi\n");
      assert.match(stderr, /provision: sending socketpipe .* the Deno \S+ runtime/);
      assert.deepEqual(partials(cache), []);
    } finally {
      await unshape();
      await Deno.remove(cache, { recursive: true }).catch(() => {});
    }
  },
);

testWhere(
  net ? null : why,
  "a link cut while the runtime is being sent ends the run within --peer-timeout, naming the step",
  async () => {
    const cache = await Deno.makeTempDir({ prefix: "socketpipe-provision-cut-" });
    // About 5 MB/s: the runtime (some 50 MB compressed) takes seconds to send.
    await shape("40mbit");
    const argv = net!.inside(net!.localNs, [
      ...SOCKETPIPE,
      "-v",
      "--peer-timeout",
      String(PEER_TIMEOUT),
      ...block("-i", "echo", "hi"),
      ...block("-l", ...sshd!.login, "env", `XDG_CACHE_HOME=${cache}`),
      ...block("-r", "cat"),
    ]);
    const child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdout: "null",
      stderr: "piped",
    })
      .spawn();
    const lines: string[] = [];
    const sending = (async () => {
      const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = "";
      let seen = false;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return seen;
        buffered += value;
        const parts = buffered.split("\n");
        buffered = parts.pop()!;
        lines.push(...parts);
        if (
          !seen && parts.some((line) => /provision: the remote host uses .*a new Deno/.test(line))
        ) {
          seen = true;
          // Let a few MB of the runtime go, then cut.
          setTimeout(() => net!.setLink(false).then(() => cutAt.resolve(Date.now())), 1500);
        }
      }
    })();
    const cutAt = Promise.withResolvers<number>();
    const deadline = setTimeout(() => child.kill("SIGKILL"), 60_000);
    try {
      const { code } = await child.status;
      // What holds stderr after a hang (the login, killed with it) must not hold the test.
      await Promise.race([sending, new Promise((resolve) => setTimeout(resolve, 5000))]);
      const stderr = lines.join("\n");
      assert.equal(code, 2, stderr);
      assert.match(
        stderr,
        /^socketpipe: provision: stalled sending the runtime \(\d+ bytes taken\): nothing from the remote host for 4 s/m,
      );
      const seconds = (Date.now() - await cutAt.promise) / 1000;
      assert.ok(seconds < PEER_TIMEOUT * 3, `the local half took ${seconds} s after the cut`);
      assert.deepEqual(await bootstrapLeft(PEER_TIMEOUT * 3000), [], "left on the remote host");
    } finally {
      clearTimeout(deadline);
      await net!.setLink(true);
      await unshape();
      await Deno.remove(cache, { recursive: true }).catch(() => {});
    }
  },
);
