/**
 * A FIN withheld on the path: every byte of the remote command's output arrives and the
 * remote half reports its counts, but the segment that would end the stream never does
 * (an nft rule on the local host drops every TCP segment with FIN from the remote host,
 * but ssh's). Once both halves' counts settle the verdict, nothing waits on the data
 * connection without end: the run ends 0, byte-exact, on both data paths, well before the
 * remote host's kernel gives up on its FIN (the peer timeout, 20 s) and resets the
 * connection, which the code before failed with.
 */
import assert from "node:assert/strict";
import { block, REMOTE_SOCKETPIPE, sha256, SOCKETPIPE } from "../harness/run.ts";
import { buildNetwork } from "../harness/netns.ts";
import { sshdAvailable, startSshd } from "../harness/sshd.ts";
import { testWhere } from "../harness/register.ts";

const nftHere = new Deno.Command("sh", { args: ["-c", "command -v nft"], stdout: "null" })
  .outputSync().success;
const built = !sshdAvailable
  ? "no sshd installed"
  : !nftHere
  ? "no nft installed (package nftables)"
  : await buildNetwork();
const net = typeof built === "string" ? null : built;
const why = typeof built === "string" ? built : "";
globalThis.addEventListener("unload", () => net?.destroy());
const sshd = net ? await startSshd({ address: net.remoteAddress, netns: net.remoteNs }) : null;
globalThis.addEventListener("unload", () => sshd?.stopSync());

/**
 * The rule: the local host never sees a bare FIN (one that carries no data) from the remote
 * host, but on ssh's connection. A FIN on the last data segment would take data with it.
 */
async function withholdFins(): Promise<void> {
  const rules = `table inet withheld {
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr ${net!.remoteAddress} tcp sport != ${
    sshd!.port
  } tcp flags & fin == fin ip length < 100 drop
  }
}
`;
  const nft = new Deno.Command("ip", {
    args: ["netns", "exec", net!.localNs, "nft", "-f", "-"],
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

for (const path of ["zero-copy", "--copy"]) {
  testWhere(
    net ? null : why,
    `a FIN withheld after the last byte: the run still ends, 0 and byte-exact (${path})`,
    async () => {
      if (path === "zero-copy") await withholdFins(); // once: the rule stays for both
      const argv = net!.inside(net!.localNs, [
        ...SOCKETPIPE,
        ...(path === "--copy" ? ["--copy"] : []),
        ...block("-l", ...sshd!.login),
        ...block("-x", ...REMOTE_SOCKETPIPE),
        // The pause sends the FIN on its own, after the data.
        ...block("-r", "sh", "-c", `head -c ${SIZE} /dev/zero; sleep 1`),
        ...block("-o", "cat"),
      ]);
      const child = new Deno.Command(argv[0], {
        args: argv.slice(1),
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // A hang is the defect: past a minute (the bound is a second or so), it is stopped.
      const hung = setTimeout(() => child.kill("SIGKILL"), 60_000);
      const { code, stdout, stderr } = await child.output();
      clearTimeout(hung);
      assert.equal(code, 0, new TextDecoder().decode(stderr));
      assert.equal(await sha256(stdout), await sha256(new Uint8Array(SIZE)));
    },
  );
}
