/**
 * Three hosts in a row (network namespaces L — A — B, sshd on A and on B; L cannot reach
 * B): a socketpipe inside `-r` on A carries the stream on to B. The middle host connects
 * for one hop (to L's listener) and listens for the other (B connects to it, or, with
 * --listen remote, A connects to B).
 */
import assert from "node:assert/strict";
import { block, REMOTE_SOCKETPIPE, runFeeding, sha256, SOCKETPIPE } from "../harness/run.ts";
import { type PrivateSshd, sshdAvailable, startSshd } from "../harness/sshd.ts";

const decoder = new TextDecoder();
const tag = `${Deno.pid % 100000}`;
const names = { l: `sp-cl-${tag}`, a: `sp-ca-${tag}`, b: `sp-cb-${tag}` };

async function ip(...args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`ip ${args.join(" ")}: ${decoder.decode(out.stderr).trim()}`);
}

function destroy() {
  for (const ns of Object.values(names)) {
    new Deno.Command("ip", { args: ["netns", "del", ns], stdout: "null", stderr: "null" })
      .outputSync();
  }
}

/** L — A on 10.232.0.0/24, A — B on 10.233.0.0/24; null and why if it cannot be built. */
async function buildChain(): Promise<string | null> {
  if (!sshdAvailable) return "no sshd installed";
  if (Deno.uid() !== 0) return "needs root";
  try {
    for (const ns of Object.values(names)) {
      await ip("netns", "add", ns);
      await ip("-n", ns, "link", "set", "lo", "up");
    }
    const links = [
      [names.l, `cla${tag}`, "10.232.0.1/24", names.a, `cal${tag}`, "10.232.0.2/24"],
      [names.a, `cab${tag}`, "10.233.0.1/24", names.b, `cba${tag}`, "10.233.0.2/24"],
    ];
    for (const [ns1, link1, address1, ns2, link2, address2] of links) {
      await ip("link", "add", link1, "type", "veth", "peer", "name", link2);
      await ip("link", "set", link1, "netns", ns1);
      await ip("link", "set", link2, "netns", ns2);
      await ip("-n", ns1, "addr", "add", address1, "dev", link1);
      await ip("-n", ns2, "addr", "add", address2, "dev", link2);
      await ip("-n", ns1, "link", "set", link1, "up");
      await ip("-n", ns2, "link", "set", link2, "up");
    }
    return null;
  } catch (error) {
    destroy();
    return `ip netns is not usable here (${error instanceof Error ? error.message : error})`;
  }
}

const why = await buildChain();
globalThis.addEventListener("unload", () => !why && destroy());
const sshdA: PrivateSshd | null = why
  ? null
  : await startSshd({ address: "10.232.0.2", netns: names.a });
const sshdB: PrivateSshd | null = why
  ? null
  : await startSshd({ address: "10.233.0.2", netns: names.b });
globalThis.addEventListener("unload", () => {
  sshdA?.stopSync();
  sshdB?.stopSync();
});

const data = new Uint8Array(2 * 1024 * 1024);
for (let at = 0; at < data.length; at += 65536) {
  crypto.getRandomValues(data.subarray(at, at + 65536));
}

/** L: data on stdin → (A: socketpipe → B: `command`) → stdout. */
async function chain(secondHop: string[], command: string[]) {
  const inner = [
    ...REMOTE_SOCKETPIPE,
    ...secondHop,
    ...block("-i", "cat"),
    ...block("-l", ...sshdB!.login),
    ...block("-x", ...REMOTE_SOCKETPIPE),
    ...block("-r", ...command),
    ...block("-o", "cat"),
  ];
  const argv = [
    "ip",
    "netns",
    "exec",
    names.l,
    ...SOCKETPIPE,
    ...block("-i", "cat"),
    ...block("-l", ...sshdA!.login),
    ...block("-x", ...REMOTE_SOCKETPIPE),
    ...block("-r", ...inner),
    ...block("-o", "cat"),
  ];
  return await runFeeding(argv, { stdin: data });
}

for (const secondHop of [[], ["--listen", "remote"]]) {
  const how = secondHop.length ? "A connects to B (--listen remote)" : "B connects to A";
  Deno.test({
    name: why
      ? `a chain L → A → B, ${how} (not run: ${why})`
      : `a chain L → A → B, ${how}: byte-exact, exit 0`,
    ignore: why !== null,
    async fn() {
      const run = await chain(secondHop, ["sha256sum"]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(decoder.decode(run.stdout).split(" ")[0], await sha256(data));
    },
  });
}

Deno.test({
  name: why
    ? `a failure on B is reported on L with B's line (not run: ${why})`
    : "a failure on B is reported on L with B's line, and its status",
  ignore: why !== null,
  async fn() {
    const run = await chain([], ["sh", "-c", "cat > /dev/null; exit 3"]);
    assert.equal(run.code, 3, run.stderr);
    // A's socketpipe says what failed on B; A's remote half passes its stderr on to L.
    assert.match(
      run.stderr,
      /^socketpipe: remote command \{ sh -c 'cat > \/dev\/null; exit 3' \} exited with status 3$/m,
    );
    assert.match(
      run.stderr,
      /^socketpipe: remote command \{ .*main\.ts .* \} exited with status 3$/m,
    );
  },
});
