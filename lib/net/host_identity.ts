/**
 * Which network a half is in. Loopback is private to a network namespace: 127.0.0.1 on
 * the remote host is the remote host itself (or a process there posing as the local
 * half), so loopback addresses are tried only when both halves share one namespace. That
 * is decided from the kernel's boot id and the network namespace's inode, which both
 * halves can read, never by guessing: `/etc/machine-id` alone is shared by containers and
 * namespaces of one machine.
 *
 * @module
 */

/**
 * This process's network identity: `<boot id>/<network namespace>`, or null where it
 * cannot be read (not Linux, no permission): then no two halves count as one network.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { networkIdentity } from "./host_identity.ts";
 * const identity = networkIdentity(); // e.g. "3f2b…/net:[4026531840]"
 * assert.ok(identity === null || /^[0-9a-f-]+\/net:\[\d+\]$/.test(identity), identity ?? "");
 * ```
 */
export function networkIdentity(): string | null {
  try {
    const boot = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
    const namespace = Deno.readLinkSync("/proc/self/ns/net");
    return boot && namespace ? `${boot}/${namespace}` : null;
  } catch {
    return null;
  }
}

/**
 * Whether two identities name one network namespace (false when either is unknown).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sameNetwork } from "./host_identity.ts";
 * assert.deepEqual(sameNetwork("a/net:[1]", "a/net:[1]"), true);
 * assert.deepEqual(sameNetwork(null, null), false);
 * ```
 */
export function sameNetwork(a: string | null, b: string | null): boolean {
  return a !== null && b !== null && a === b;
}

/**
 * Whether `address` is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x.y.z).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLoopback } from "./host_identity.ts";
 * assert.deepEqual(isLoopback("127.0.0.53"), true);
 * assert.deepEqual(isLoopback("10.0.0.1"), false);
 * ```
 */
export function isLoopback(address: string): boolean {
  const plain = address.replace(/^\[|\]$/g, "").toLowerCase();
  return plain === "::1" || /^(::ffff:)?127\./.test(plain) || plain === "localhost";
}

/**
 * The addresses of this host's own interfaces, in its network namespace (empty where they
 * cannot be read). Another host's listener is never at one of them: a process there that
 * answers is a process of this host, whoever runs it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ownAddresses } from "./host_identity.ts";
 * assert.ok(ownAddresses().includes("127.0.0.1"));
 * ```
 */
export function ownAddresses(): string[] {
  try {
    return Deno.networkInterfaces().map((entry) => entry.address);
  } catch {
    return [];
  }
}

/**
 * Whether `address` names the same host address as one of `addresses` (`::ffff:10.0.0.2`
 * is `10.0.0.2`; a zone or brackets do not count).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isOneOf } from "./host_identity.ts";
 * assert.ok(isOneOf("::ffff:10.0.0.2", ["10.0.0.2"]));
 * assert.ok(!isOneOf("10.0.0.3", ["10.0.0.2"]));
 * ```
 */
export function isOneOf(address: string, addresses: readonly string[]): boolean {
  const plain = (text: string) =>
    text.replace(/^\[|\]$/g, "").replace(/%.*$/, "").replace(/^::ffff:(?=\d+\.)/i, "")
      .toLowerCase();
  const wanted = plain(address);
  return addresses.some((candidate) => plain(candidate) === wanted);
}
