/**
 * `--reconnect` on a real two-host network, through the real sshd: 1 GiB each way while
 * the data connection's packets are dropped for 3 s, five times (ssh's own connection
 * left alone), and once more with ssh's dropped too. Each cut passes the dead-peer bound,
 * so each is a real cut: the halves meet again and go on, and after the sixth the local
 * half logs in again and the remote half takes that login; the bytes each way are held
 * to a plain pipe's. Two runs at once, one with --encrypt, share the outages.
 */
import assert from "node:assert/strict";
import { block, REMOTE_SOCKETPIPE, SOCKETPIPE } from "../harness/run.ts";
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
 * Drops, on the local host, every packet from the remote host but ssh's (with `ssh`, ssh's
 * too); or, with "off", lets them through.
 */
async function blackHole(on: "data" | "ssh" | "off"): Promise<void> {
  const but = on === "ssh" ? "" : `tcp sport != ${sshd!.port} `;
  const script = on !== "off"
    ? `table inet blackhole {
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr ${net!.remoteAddress} ${but}drop
  }
}
`
    : "delete table inet blackhole\n";
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", net!.localNs, "nft", "-f", "-"],
    stdin: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  await child.status;
}

/** The stream each test sends: `size` bytes of z, and its sha256 as sha256sum prints it. */
const size = 1024 * 1024 * 1024;
const produce = `head -c ${size} /dev/zero | tr '\\0' z`;
const expected = net
  ? new TextDecoder().decode(
    (await new Deno.Command("sh", { args: ["-c", `${produce} | sha256sum`], stdout: "piped" })
      .output()).stdout,
  )
  : "";

/** Starts socketpipe on the local host: `size` bytes through the remote `cat` and back. */
function start(encrypt: boolean) {
  const argv = net!.inside(net!.localNs, [
    ...SOCKETPIPE,
    "-v",
    "--peer-timeout",
    "2",
    "--reconnect",
    "30",
    "--limit",
    "40M",
    ...(encrypt ? ["--encrypt"] : []),
    ...block("-i", "sh", "-c", produce),
    ...block("-l", ...sshd!.login),
    ...block("-x", ...REMOTE_SOCKETPIPE),
    ...block("-r", "cat"),
    ...block("-o", "sha256sum"),
  ]);
  const child = new Deno.Command(argv[0], { args: argv.slice(1), stdout: "piped", stderr: "piped" })
    .spawn();
  return {
    ended: Promise.all([
      child.status,
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]),
  };
}

testWhere(
  net ? null : why,
  "--reconnect through sshd, with and without --encrypt at once: 1 GiB each way through " +
    "five 3 s outages of the data connection and one of ssh's too arrive exact",
  async () => {
    const runs = [start(false), start(true)];
    try {
      for (const cut of ["data", "data", "ssh", "data", "data", "data"] as const) {
        // Long enough to meet again and move data: an outage that began while the halves
        // were still meeting would only make the meeting wait, not cut again.
        await new Promise((resolve) => setTimeout(resolve, 2000));
        await blackHole(cut);
        await new Promise((resolve) => setTimeout(resolve, 3000));
        await blackHole("off");
      }
    } finally {
      await blackHole("off").catch(() => {});
    }
    for (const run of runs) {
      const [status, stdout, said] = await run.ended;
      assert.equal(status.code, 0, said);
      assert.equal(stdout, expected, said);
      const joins = said.match(/^socketpipe: data connection joined again/gm) ?? [];
      assert.ok(joins.length >= 5, said);
      assert.match(said, /^socketpipe: login joined again after \d+\.\d s \(login cut 1\)$/m);
      assert.match(
        said,
        new RegExp(`^socketpipe: ${size} bytes sent, ${size} bytes received$`, "m"),
      );
    }
  },
);
