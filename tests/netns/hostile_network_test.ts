/**
 * The meeting on a real two-host network (namespaces joined by a veth pair, sshd on the
 * "remote" host): hostile processes on the remote host (a flood, a process posing as the
 * local half on the remote loopback, a byte-flipping relay), firewalls in both
 * directions (tc filters that drop new inbound connections), and the listening side's
 * --port and --bind. The rule of every case: exit 0 only with the right bytes.
 */
import assert from "node:assert/strict";
import {
  block,
  DENO,
  REMOTE_SOCKETPIPE,
  REPO,
  runFeeding,
  sha256,
  SOCKETPIPE,
} from "../harness/run.ts";
import { buildNetwork, type TestNetwork } from "../harness/netns.ts";
import { type PrivateSshd, sshdAvailable, startSshd } from "../harness/sshd.ts";
import { testWhere } from "../harness/register.ts";

const built = sshdAvailable ? await buildNetwork() : "no sshd installed";
const net: TestNetwork | null = typeof built === "string" ? null : built;
const why = typeof built === "string" ? built : "";
globalThis.addEventListener("unload", () => net?.destroy());
const sshd: PrivateSshd | null = net
  ? await startSshd({ address: net.remoteAddress, netns: net.remoteNs })
  : null;
globalThis.addEventListener("unload", () => sshd?.stopSync());
const decoder = new TextDecoder();
const data = new Uint8Array(4 * 1024 * 1024);
for (let at = 0; at < data.length; at += 65536) {
  crypto.getRandomValues(data.subarray(at, at + 65536));
}
const expected = await sha256(data);
let nextPort = 41000 + (Deno.pid % 50) * 100;

function meetingTest(name: string, fn: () => Promise<void>) {
  testWhere(net ? null : why, name, fn);
}

/** Runs socketpipe on the local host: data on stdin → remote sha256sum → stdout. */
async function transfer(args: string[]): Promise<{ code: number; hash: string; stderr: string }> {
  const argv = net!.inside(net!.localNs, [
    ...SOCKETPIPE,
    ...args,
    ...block("-i", "cat"),
    ...block("-l", ...sshd!.login),
    ...block("-x", ...REMOTE_SOCKETPIPE),
    ...block("-r", "sha256sum"),
    ...block("-o", "cat"),
  ]);
  const { code, stdout, stderr } = await runFeeding(argv, { stdin: data });
  return { code, hash: decoder.decode(stdout).split(" ")[0], stderr };
}

/** Starts the hostile fixture inside `ns`; `ready` resolves with its first line. */
function hostile(ns: string, args: string[]) {
  const argv = net!.inside(ns, [
    DENO,
    "run",
    "-A",
    "--quiet",
    `${REPO}/tests/fixtures/hostile_remote.ts`,
    ...args,
  ]);
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "inherit",
  })
    .spawn();
  const lines: string[] = [];
  const ready = (async () => {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let first: string | null = null;
    let buffered = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        first ??= line;
      }
      if (first !== null) break;
    }
    (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        lines.push(...value.split("\n").filter((l) => l));
      }
    })();
    return first;
  })();
  return {
    ready,
    lines,
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
    },
  };
}

/** Never exit 0 with wrong data; with the real peer reachable, exit 0 and the right hash. */
function assertExactOrLoud(run: { code: number; hash: string; stderr: string }) {
  if (run.code === 0) assert.equal(run.hash, expected, "exit 0 with wrong data");
  else assert.match(run.stderr, /^socketpipe: /m, "a failure without a line");
}

for (const posing of ["pose-take", "pose-feed", "relay"] as const) {
  meetingTest(
    `a process on the remote host floods the listener with 1,000 idle connections and ${posing} on the remote loopback: byte-exact, exit 0`,
    async () => {
      const port = nextPort++;
      const poser = hostile(net!.remoteNs, [
        posing,
        ...(posing === "relay" ? [net!.localAddress] : []),
        String(port),
      ]);
      await poser.ready;
      const flood = hostile(net!.remoteNs, ["flood", net!.localAddress, String(port), "1000"]);
      try {
        const run = await transfer(["--port", String(port)]);
        assertExactOrLoud(run);
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.hash, expected);
        // The remote half never took the remote host's own loopback for the local host.
        assert.deepEqual(poser.lines.filter((line) => line.startsWith("connection")), []);
      } finally {
        await flood.stop();
        await poser.stop();
      }
    },
  );
}

meetingTest(
  "a login that reached the remote host through itself ($SSH_CLIENT one of its own addresses) never makes the remote half dial its own host, where an unprivileged user relays and flips a byte",
  async () => {
    const port = nextPort++;
    // Any user of the remote host may listen on its own address, on the port the session
    // names, and relay both proofs to the real listener.
    const relay = hostile(net!.remoteNs, [
      "relay",
      net!.localAddress,
      String(port),
      net!.remoteAddress,
    ]);
    await relay.ready;
    try {
      // As a login through `ProxyCommand ssh host -W host:22` leaves it: the session seems
      // to come from the remote host itself.
      const login = net!.inside(net!.remoteNs, [
        "env",
        `SSH_CLIENT=${net!.remoteAddress} 50000 22`,
        "sh",
        "-c",
        'eval "$*"',
        "sh",
      ]);
      const argv = net!.inside(net!.localNs, [
        ...SOCKETPIPE,
        "--port",
        String(port),
        ...block("-i", "cat"),
        ...block("-l", ...login),
        ...block("-x", ...REMOTE_SOCKETPIPE),
        ...block("-r", "sha256sum"),
        ...block("-o", "cat"),
      ]);
      const { code, stdout, stderr } = await runFeeding(argv, { stdin: data });
      const run = { code, hash: decoder.decode(stdout).split(" ")[0], stderr };
      assertExactOrLoud(run);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(relay.lines.filter((line) => line.startsWith("connection")), []);
    } finally {
      await relay.stop();
    }
  },
);

/**
 * A firewall on `ns`'s end of the link: TCP connections that arrive there for `port`
 * are rejected (a policy-routing rule, `prohibit`: the kernel answers "administratively
 * prohibited", as a rejecting firewall does). Returns the function that lifts it.
 */
async function rejectInbound(ns: string, link: string, port: number): Promise<() => Promise<void>> {
  const rule = ["pref", "10", "iif", link, "ipproto", "tcp", "dport", String(port), "prohibit"];
  const ip = async (...args: string[]) => {
    const out = await new Deno.Command("ip", { args: ["-n", ns, ...args], stderr: "piped" })
      .output();
    if (!out.success) throw new Error(`ip ${args.join(" ")}: ${decoder.decode(out.stderr)}`);
  };
  // The "local" table is consulted first (pref 0), for delivery to this host: move it
  // after the rule, inside the test's namespace only.
  await ip("rule", "add", "pref", "100", "lookup", "local");
  await ip("rule", "del", "pref", "0");
  await ip("rule", "add", ...rule);
  return async () => {
    await ip("rule", "del", ...rule);
    await ip("rule", "add", "pref", "0", "lookup", "local");
    await ip("rule", "del", "pref", "100");
  };
}

meetingTest(
  "a firewall rejects connections into the local host: the default fails and says --listen remote; --listen remote is byte-exact",
  async () => {
    const port = nextPort++;
    const open = await rejectInbound(net!.localNs, net!.localLink, port);
    try {
      const blocked = await transfer(["-v", "--port", String(port)]);
      assert.equal(blocked.code, 2, blocked.stderr);
      assert.match(blocked.stderr, /could not connect back .*--listen remote/);
      const reversed = await transfer(["--listen", "remote", "--port", String(port)]);
      assert.equal(reversed.code, 0, reversed.stderr);
      assert.equal(reversed.hash, expected);
    } finally {
      await open();
    }
  },
);

meetingTest(
  "a firewall rejects connections into the remote host (but ssh): --listen remote fails and says --listen local; the default is byte-exact",
  async () => {
    const port = nextPort++;
    const open = await rejectInbound(net!.remoteNs, net!.remoteLink, port);
    try {
      const blocked = await transfer(["--listen", "remote", "--port", String(port)]);
      assert.equal(blocked.code, 2, blocked.stderr);
      assert.match(blocked.stderr, /could not reach the remote half's listener .*--listen local/);
      const normal = await transfer(["--port", String(port)]);
      assert.equal(normal.code, 0, normal.stderr);
      assert.equal(normal.hash, expected);
    } finally {
      await open();
    }
  },
);

meetingTest(
  "no direct route either way (as behind a bastion): each way's line says that trying the other cannot help once both fail",
  async () => {
    const port = nextPort++;
    const openLocal = await rejectInbound(net!.localNs, net!.localLink, port);
    const openRemote = await rejectInbound(net!.remoteNs, net!.remoteLink, port);
    try {
      const noRoute =
        /if neither way works, the hosts have no direct route, as through an ssh bastion: nest socketpipe on the bastion \(see BASTIONS in the manual\)/;
      const normal = await transfer(["--port", String(port)]);
      assert.equal(normal.code, 2, normal.stderr);
      assert.match(normal.stderr, /could not connect back .*--listen remote/);
      assert.match(normal.stderr, noRoute);
      const reversed = await transfer(["--listen", "remote", "--port", String(port)]);
      assert.equal(reversed.code, 2, reversed.stderr);
      assert.match(reversed.stderr, /could not reach the remote half's listener .*--listen local/);
      assert.match(reversed.stderr, noRoute);
      assert.doesNotMatch(normal.stderr + reversed.stderr, /os error/);
    } finally {
      await openRemote();
      await openLocal();
    }
  },
);

meetingTest("--port N-M takes the first free port of the range, on either side", async () => {
  const first = nextPort;
  nextPort += 4;
  for (const listen of ["local", "remote"] as const) {
    const ns = listen === "local" ? net!.localNs : net!.remoteNs;
    const squatters = [first, first + 1].map((port) => hostile(ns, ["pose-take", String(port)]));
    await Promise.all(squatters.map((squatter) => squatter.ready));
    try {
      const run = await transfer(["-v", "--listen", listen, "--port", `${first}-${first + 3}`]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.hash, expected);
      assert.match(run.stderr, new RegExp(`listening on \\S+:${first + 2}$`, "m"));
      const none = await transfer(["--listen", listen, "--port", `${first}-${first + 1}`]);
      assert.equal(none.code, 2, none.stderr);
      assert.match(
        none.stderr,
        new RegExp(`listen: .*port ${first}-${first + 1}: every port is in use`),
      );
    } finally {
      for (const squatter of squatters) await squatter.stop();
    }
  }
});

meetingTest("--bind listens on one address of two", async () => {
  const extra = "10.231.0.11";
  await new Deno.Command("ip", {
    args: ["-n", net!.localNs, "addr", "add", `${extra}/24`, "dev", net!.localLink],
  }).output();
  const run = await transfer(["-v", "--bind", extra]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.hash, expected);
  assert.match(run.stderr, new RegExp(`listening on ${extra.replaceAll(".", "\\.")}:\\d+$`, "m"));
  assert.match(
    run.stderr,
    new RegExp(`connected from ${net!.remoteAddress.replaceAll(".", "\\.")}:`),
  );
});

meetingTest(
  "-h names the remote host's own loopback, where a process poses as the local half: the proof fails, the line says so, and no data flows",
  async () => {
    const port = nextPort++;
    for (const posing of ["pose-take", "pose-feed"] as const) {
      const poser = hostile(net!.remoteNs, [posing, String(port)]);
      await poser.ready;
      try {
        const run = await transfer(["--port", String(port), "-h", "127.0.0.1"]);
        assert.equal(run.code, 2, run.stderr);
        assert.match(
          run.stderr,
          /^socketpipe: remote half: connect: the data connection was refused \(127\.0\.0\.1:\d+: the listener (did not prove|closed the connection instead of proving) the token\): that listener is not this run's local half/m,
        );
        assert.notEqual(run.hash, expected);
        const deadline = Date.now() + 5000;
        while (
          !poser.lines.some((line) => line.startsWith("connection ")) && Date.now() < deadline
        ) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      } finally {
        await poser.stop();
      }
      // It saw one connection, and no more than the connecting side's half of the
      // handshake: no data, and nothing it can use (no token crossed the wire).
      const seen = poser.lines.filter((line) => line.startsWith("connection "));
      assert.equal(seen.length, 1, poser.lines.join("\n"));
      assert.ok(Number(seen[0].split(" ")[1]) <= 75, seen[0]);
    }
  },
);
