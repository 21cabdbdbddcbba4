/**
 * A two-host test network: network namespaces "local" and "remote" joined by a veth pair,
 * with addresses that exist only inside them. Needs root and `ip` (iproute2). Everything
 * is removed by `destroy()`, which the tests also call on unload.
 */

export interface TestNetwork {
  localNs: string;
  remoteNs: string;
  localAddress: string;
  remoteAddress: string;
  /** The local end of the link, inside localNs. */
  localLink: string;
  /** The remote end of the link, inside remoteNs. */
  remoteLink: string;
  /** Prefixes argv so that it runs inside a namespace. */
  inside(ns: string, argv: string[]): string[];
  /** Cuts or restores the link (the local end goes down or up). */
  setLink(up: boolean): Promise<void>;
  /** pids of the processes in a namespace. */
  pids(ns: string): Promise<number[]>;
  destroy(): void;
}

async function ip(...args: string[]): Promise<void> {
  const result = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (!result.success) {
    throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(result.stderr).trim()}`);
  }
}

let built = 0;

/** Builds the network, or returns why it cannot be built here. */
export async function buildNetwork(): Promise<TestNetwork | string> {
  if (Deno.uid() !== 0) return "needs root";
  // Unique per build: test files of one run share the process.
  const tag = `${Deno.pid % 100000}${built++ % 10}`;
  const localNs = `sp-local-${tag}`;
  const remoteNs = `sp-remote-${tag}`;
  const localLink = `spl${tag}`;
  const remoteLink = `spr${tag}`;
  const destroy = () => {
    for (const ns of [localNs, remoteNs]) {
      new Deno.Command("ip", { args: ["netns", "del", ns], stdout: "null", stderr: "null" })
        .outputSync();
    }
  };
  try {
    await ip("netns", "add", localNs);
    await ip("netns", "add", remoteNs);
    await ip("link", "add", localLink, "type", "veth", "peer", "name", remoteLink);
    await ip("link", "set", localLink, "netns", localNs);
    await ip("link", "set", remoteLink, "netns", remoteNs);
    await ip("-n", localNs, "addr", "add", "10.231.0.1/24", "dev", localLink);
    await ip("-n", remoteNs, "addr", "add", "10.231.0.2/24", "dev", remoteLink);
    for (const [ns, link] of [[localNs, localLink], [remoteNs, remoteLink]]) {
      await ip("-n", ns, "link", "set", link, "up");
      await ip("-n", ns, "link", "set", "lo", "up");
    }
  } catch (error) {
    destroy();
    return `ip netns is not usable here (${error instanceof Error ? error.message : error})`;
  }
  return {
    localNs,
    remoteNs,
    localAddress: "10.231.0.1",
    remoteAddress: "10.231.0.2",
    localLink,
    remoteLink,
    inside: (ns, argv) => ["ip", "netns", "exec", ns, ...argv],
    setLink: (up) => ip("-n", localNs, "link", "set", localLink, up ? "up" : "down"),
    async pids(ns) {
      const out = await new Deno.Command("ip", { args: ["netns", "pids", ns], stdout: "piped" })
        .output();
      return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim()).map(Number);
    },
    destroy,
  };
}
