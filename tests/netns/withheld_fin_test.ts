/**
 * A FIN withheld on the path: every byte of a stream arrives and the sender's half says how
 * many it sent, but the segment that would end the stream never does (an nft rule on the
 * receiving host drops every bare TCP FIN from the other host, but ssh's). Once the counts
 * settle it, nothing waits on the data connection without end: the run ends 0, byte-exact,
 * on both data paths and in both directions, well before the sender's kernel gives up on
 * its FIN (the peer timeout, 20 s) and resets the connection, which the code before failed
 * with (and with a relay that acknowledges the FIN itself, it waited for ever).
 */
import assert from "node:assert/strict";
import { block, REMOTE_SOCKETPIPE, sha256, SOCKETPIPE } from "../harness/run.ts";
import { buildNetworkWithNft } from "../harness/netns.ts";
import { sshdAvailable, startSshd } from "../harness/sshd.ts";
import { testWhere } from "../harness/register.ts";

const built = await buildNetworkWithNft(sshdAvailable);
const net = typeof built === "string" ? null : built;
const why = typeof built === "string" ? built : "";
globalThis.addEventListener("unload", () => net?.destroy());
const sshd = net ? await startSshd({ address: net.remoteAddress, netns: net.remoteNs }) : null;
globalThis.addEventListener("unload", () => sshd?.stopSync());

/**
 * Runs `run` while one host never sees a bare FIN (one that carries no data) from the
 * other, but on ssh's connection: the host at the receiving end of the stream under test.
 * A FIN on the last data segment would take data with it.
 */
async function withFinsWithheldFrom<T>(
  sender: "remote" | "local",
  run: () => Promise<T>,
): Promise<T> {
  const sshPort = sshd!.port;
  const [ns, rule] = sender === "remote"
    ? [net!.localNs, `ip saddr ${net!.remoteAddress} tcp sport != ${sshPort}`]
    : [net!.remoteNs, `ip saddr ${net!.localAddress} tcp dport != ${sshPort}`];
  await nft(ns, `${rule} tcp flags & fin == fin ip length < 100 drop`);
  try {
    return await run();
  } finally {
    await new Deno.Command("ip", {
      args: ["netns", "exec", ns, "nft", "delete", "table", "inet", "withheld"],
    })
      .output();
  }
}

/** Adds `rule` to a table of its own on the input hook of the host `ns`. */
async function nft(ns: string, rule: string): Promise<void> {
  const rules = `table inet withheld {
  chain input {
    type filter hook input priority 0; policy accept;
    ${rule}
  }
}
`;
  const nft = new Deno.Command("ip", {
    args: ["netns", "exec", ns, "nft", "-f", "-"],
    stdin: "piped",
    stderr: "piped",
  }).spawn();
  const writer = nft.stdin.getWriter();
  await writer.write(new TextEncoder().encode(rules));
  await writer.close();
  const { success, stderr } = await nft.output();
  assert.ok(success, new TextDecoder().decode(stderr));
}

const SIZE = 3_000_000;

/** Runs socketpipe on the local host; a hang past a minute is killed. */
async function runOnLocalHost(args: string[]) {
  const argv = net!.inside(net!.localNs, [
    ...SOCKETPIPE,
    ...args,
    ...block("-l", ...sshd!.login),
    ...block("-x", ...REMOTE_SOCKETPIPE),
  ]);
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // A hang is the defect: past a minute (the bound is a second or so), it is stopped.
  const hung = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const output = await child.output();
  clearTimeout(hung);
  return { ...output, stderr: new TextDecoder().decode(output.stderr) };
}

for (const path of ["zero-copy", "--copy"]) {
  const pathArgs = path === "--copy" ? ["--copy"] : [];
  testWhere(
    net ? null : why,
    `a FIN withheld after the last byte: the run still ends, 0 and byte-exact (remote → output, ${path})`,
    async () => {
      const { code, stdout, stderr } = await withFinsWithheldFrom("remote", () =>
        runOnLocalHost([
          ...pathArgs,
          // The pause sends the FIN on its own, after the data.
          ...block("-r", "sh", "-c", `head -c ${SIZE} /dev/zero; sleep 1`),
          ...block("-o", "cat"),
        ]));
      assert.equal(code, 0, stderr);
      assert.equal(await sha256(stdout), await sha256(new Uint8Array(SIZE)));
    },
  );
  testWhere(
    net ? null : why,
    `a FIN withheld after the last byte: the run still ends, 0 and byte-exact (input → remote, ${path})`,
    async () => {
      // The remote command's answer comes only once its input has ended: as the pipe
      // "head -c SIZE /dev/zero | wc -c" gives it.
      const { code, stdout, stderr } = await withFinsWithheldFrom("local", () =>
        runOnLocalHost([
          ...pathArgs,
          ...block("-i", "sh", "-c", `head -c ${SIZE} /dev/zero; sleep 1`),
          ...block("-r", "wc", "-c"),
          ...block("-o", "cat"),
        ]));
      assert.equal(code, 0, stderr);
      assert.equal(new TextDecoder().decode(stdout), `${SIZE}\n`);
    },
  );
}
