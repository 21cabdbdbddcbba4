/**
 * Test hosts as network namespaces joined by veth pairs, with addresses that exist only
 * inside them: any row of hosts ({@link buildHosts}), or the two-host network most tests
 * use ({@link buildNetwork}). Needs root and `ip` (iproute2). Everything is removed by
 * `destroy()`, which the tests also call on unload.
 */

/** The two-host network: "local" and "remote". */
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
  /**
   * Cuts or restores the link (the local end goes down or up). Restoring it also forgets
   * what each host learned of the other's hardware address, so that an address
   * resolution begun during the cut cannot fail the next test's first connection.
   */
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

/** Test hosts: a network namespace each, joined by veth links; removed by `destroy()`. */
export interface TestHosts {
  /** Each host's namespace, by the name the test gave it. */
  namespaces: Record<string, string>;
  /** Each link's two ends (interface names), in the order the links were given. */
  links: { ends: [string, string] }[];
  /** Removes every namespace (and with them the links). */
  destroy(): void;
}

/**
 * Builds `hosts` (a namespace each, its loopback up) joined by `links`, each
 * `[host, address/prefix, host, address/prefix]`; or returns why they cannot be built
 * here. Names are unique per build, whatever else runs.
 */
export async function buildHosts(
  hosts: readonly string[],
  links: readonly (readonly [string, string, string, string])[],
): Promise<TestHosts | string> {
  if (Deno.uid() !== 0) return "needs root";
  // Random: test files that run at once may share a process, and so a pid.
  const tag = crypto.randomUUID().replaceAll("-", "").slice(0, 8);
  const namespaces = Object.fromEntries(hosts.map((host) => [host, `sp-${host}-${tag}`]));
  const destroy = () => {
    for (const ns of Object.values(namespaces)) {
      new Deno.Command("ip", { args: ["netns", "del", ns], stdout: "null", stderr: "null" })
        .outputSync();
    }
  };
  const made: { ends: [string, string] }[] = [];
  try {
    for (const ns of Object.values(namespaces)) {
      await ip("netns", "add", ns);
      await ip("-n", ns, "link", "set", "lo", "up");
    }
    for (const [index, [host1, address1, host2, address2]] of links.entries()) {
      const ends: [string, string] = [`sp${index}a${tag}`, `sp${index}b${tag}`];
      await ip("link", "add", ends[0], "type", "veth", "peer", "name", ends[1]);
      for (const [end, host, address] of [[ends[0], host1, address1], [ends[1], host2, address2]]) {
        await ip("link", "set", end, "netns", namespaces[host]);
        await ip("-n", namespaces[host], "addr", "add", address, "dev", end);
        await ip("-n", namespaces[host], "link", "set", end, "up");
      }
      made.push({ ends });
    }
  } catch (error) {
    destroy();
    return `ip netns is not usable here (${error instanceof Error ? error.message : error})`;
  }
  return { namespaces, links: made, destroy };
}

/** Builds the two-host network, or returns why it cannot be built here. */
export async function buildNetwork(): Promise<TestNetwork | string> {
  const hosts = await buildHosts(["local", "remote"], [
    ["local", "10.231.0.1/24", "remote", "10.231.0.2/24"],
  ]);
  if (typeof hosts === "string") return hosts;
  const { local: localNs, remote: remoteNs } = hosts.namespaces;
  const [localLink, remoteLink] = hosts.links[0].ends;
  return {
    localNs,
    remoteNs,
    localAddress: "10.231.0.1",
    remoteAddress: "10.231.0.2",
    localLink,
    remoteLink,
    inside: (ns, argv) => ["ip", "netns", "exec", ns, ...argv],
    async setLink(up) {
      await ip("-n", localNs, "link", "set", localLink, up ? "up" : "down");
      if (!up) return;
      await ip("-n", localNs, "neigh", "flush", "dev", localLink);
      await ip("-n", remoteNs, "neigh", "flush", "dev", remoteLink);
    },
    async pids(ns) {
      const out = await new Deno.Command("ip", { args: ["netns", "pids", ns], stdout: "piped" })
        .output();
      return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim()).map(Number);
    },
    destroy: hosts.destroy,
  };
}

/**
 * The two-host network for a test that also needs `nft` (firewall rules on a host), or why
 * it cannot be built here (the caller starts its sshd; `sshdAvailable` says whether it can).
 */
export async function buildNetworkWithNft(sshdAvailable: boolean): Promise<TestNetwork | string> {
  if (!sshdAvailable) return "no sshd installed";
  const nftHere = new Deno.Command("sh", { args: ["-c", "command -v nft"], stdout: "null" })
    .outputSync().success;
  return nftHere ? await buildNetwork() : "no nft installed (package nftables)";
}
