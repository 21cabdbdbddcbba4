/**
 * `--reconnect` on a real two-host network, through the real sshd: 1 GiB a way while the
 * data connection's packets are dropped for 3 s, five times (ssh's own connection left
 * alone), and once (the third) with ssh's dropped too. Each cut passes the dead-peer
 * bound, so each is a real cut: the halves meet again and go on, and after the third the
 * local half logs in again and the remote half takes that login; the bytes are held to a
 * plain pipe's. Four runs at once share the outages: to the remote host, from it (with
 * --encrypt), and both ways at once, with and without --encrypt.
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

/** Which way the stream goes: to the remote host, from it, or through it and back. */
type Shape = "in" | "out" | "both";

/** The commands of each shape; `sums` is where the remote host writes what it got. */
function commandsOf(shape: Shape, sums: string): string[] {
  switch (shape) {
    case "in":
      return [
        ...block("-i", "sh", "-c", produce),
        ...block("-r", "sh", "-c", `sha256sum > ${sums}`),
      ];
    case "out":
      return [...block("-r", "sh", "-c", produce), ...block("-o", "sha256sum")];
    case "both":
      return [
        ...block("-i", "sh", "-c", produce),
        ...block("-r", "cat"),
        ...block("-o", "sha256sum"),
      ];
  }
}

/**
 * Starts socketpipe on the local host: `size` bytes of the shape; resolves with its status,
 * the sum of what arrived (on this host, or for "in" on the remote one), its stderr and
 * its report.
 */
function start(shape: Shape, encrypt: boolean) {
  const dir = Deno.makeTempDirSync({ prefix: "socketpipe-reconnect-netns-" });
  const argv = net!.inside(net!.localNs, [
    ...SOCKETPIPE,
    "-v",
    "--report",
    `${dir}/report.json`,
    "--peer-timeout",
    "2",
    "--reconnect",
    "30",
    "--limit",
    "40M",
    ...(encrypt ? ["--encrypt"] : []),
    ...block("-l", ...sshd!.login),
    ...block("-x", ...REMOTE_SOCKETPIPE),
    ...commandsOf(shape, `${dir}/remote.sum`),
  ]);
  const child = new Deno.Command(argv[0], { args: argv.slice(1), stdout: "piped", stderr: "piped" })
    .spawn();
  const ended = Promise.all([
    child.status,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]).then(async ([status, stdout, said]) => {
    const sum = shape === "in" ? await Deno.readTextFile(`${dir}/remote.sum`) : stdout;
    const report = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
    await Deno.remove(dir, { recursive: true });
    return { status, sum, said, report };
  });
  return { shape, encrypt, ended };
}

testWhere(
  net ? null : why,
  "--reconnect through sshd: 1 GiB to the remote host, from it, and both ways at once, with and " +
    "without --encrypt, through five 3 s outages of the data connection and one of ssh's too, " +
    "arrive exact; the report counts the cuts and the bytes sent again",
  async () => {
    const runs = [
      start("in", false),
      start("out", true),
      start("both", false),
      start("both", true),
    ];
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
      const { status, sum, said, report } = await run.ended;
      const which = `${run.shape}${run.encrypt ? " --encrypt" : ""}: ${said}`;
      assert.equal(status.code, 0, which);
      assert.equal(sum, expected, which);
      const joins = said.match(/^socketpipe: data connection joined again/gm) ?? [];
      assert.ok(joins.length >= 5, which);
      assert.match(said, /^socketpipe: login joined again after \d+\.\d s \(login cut 1\)$/m);
      // Each host counts the cuts it survived and what it sent again; this one the login's.
      const [cuts, again] = report.applied.local.reconnect.match(/\d+/g).map(Number);
      assert.ok(cuts >= 5, which);
      assert.match(report.applied.local.reconnect, /; 1 login cut survived$/, which);
      assert.match(report.applied.remote.reconnect, /^\d+ cuts survived; \d+ bytes sent again$/);
      // What was on its way when the link went was sent again, by whichever host sent.
      const sentAgain = again + Number(report.applied.remote.reconnect.match(/\d+/g)[1]);
      assert.ok(sentAgain > 0, which);
    }
  },
);
