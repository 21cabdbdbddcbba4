/**
 * Three hosts in a row (network namespaces L — A — B, sshd on A and on B; L cannot reach
 * B): a socketpipe inside `-r` on A carries the stream on to B. The middle host connects
 * for one hop (to L's listener) and listens for the other (B connects to it, or, with
 * --listen remote, A connects to B).
 */
import assert from "node:assert/strict";
import { block, REMOTE_SOCKETPIPE, runFeeding, sha256, SOCKETPIPE } from "../harness/run.ts";
import { type PrivateSshd, sshdAvailable, startSshd } from "../harness/sshd.ts";
import { testWhere } from "../harness/register.ts";
import { buildHosts, type TestHosts } from "../harness/netns.ts";

const decoder = new TextDecoder();

/** L — A on 10.232.0.0/24, A — B on 10.233.0.0/24, sshd on A and B; or why not. */
async function buildChain(): Promise<TestHosts | string> {
  if (!sshdAvailable) return "no sshd installed";
  return await buildHosts(["l", "a", "b"], [
    ["l", "10.232.0.1/24", "a", "10.232.0.2/24"],
    ["a", "10.233.0.1/24", "b", "10.233.0.2/24"],
  ]);
}

const hosts = await buildChain();
const why = typeof hosts === "string" ? hosts : null;
const names = typeof hosts === "string" ? { l: "", a: "", b: "" } : hosts.namespaces;
globalThis.addEventListener("unload", () => typeof hosts !== "string" && hosts.destroy());
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
  testWhere(why, `a chain L → A → B, ${how}: byte-exact, exit 0`, async () => {
    const run = await chain(secondHop, ["sha256sum"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(decoder.decode(run.stdout).split(" ")[0], await sha256(data));
  });
}

testWhere(why, "a failure on B is reported on L with B's line, and its status", async () => {
  const run = await chain([], ["sh", "-c", "cat > /dev/null; exit 3"]);
  assert.equal(run.code, 3, run.stderr);
  // A's socketpipe says what failed on B; A's remote half passes its stderr on to L.
  assert.match(
    run.stderr,
    /^socketpipe: remote command \{ sh -c 'cat > \/dev\/null; exit 3' \} exited with status 3 on \S+$/m,
  );
  assert.match(
    run.stderr,
    /^socketpipe: remote command \{ .*main\.ts .* \} exited with status 3 on \S+$/m,
  );
});
