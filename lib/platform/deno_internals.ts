/**
 * Two workarounds that rely on how Deno's runtime holds a TCP connection, which no Deno API
 * promises: finding the connection's file descriptor, and taking it out of Deno's event
 * loop. Verified on {@link VERIFIED_ON_DENO}; `tests/in_process/deno_internals_test.ts` is the canary
 * that fails loudly if a Deno upgrade breaks either assumption.
 *
 * - Deno does not expose a `Deno.TcpConn`'s fd, so it is found in /proc/self/fd by its
 *   local and peer ports (getsockname and getpeername).
 * - Deno's reactor (tokio, on epoll) keeps watching the socket while the commands use it,
 *   and every arriving segment wakes the loop for nothing; deleting the fd from every
 *   epoll set of the process stops that. The connection itself must not be closed while
 *   the commands hold the socket: closing a `Deno.TcpConn` shuts its sending side.
 *
 * @module
 */
import { requireLibc } from "./libc.ts";

/** The Deno version these workarounds were verified on. */
export const VERIFIED_ON_DENO = "2.9.6";

const EPOLL_CTL_DEL = 2;
const AF_INET = 2;
const AF_INET6 = 10;

/**
 * Finds the file descriptor of a TCP connection, which Deno does not expose, by matching
 * its local and peer ports with getsockname and getpeername.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { socketFdOf } from "./deno_internals.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * assert.ok(socketFdOf(conn) > 2); // e.g. 12
 * conn.close();
 * listener.close();
 * ```
 */
export function socketFdOf(conn: Deno.TcpConn): number {
  const matches: number[] = [];
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    const fd = Number(entry.name);
    if (isSocketOf(fd, conn)) matches.push(fd);
  }
  if (matches.length !== 1) {
    throw new Error(
      `found ${matches.length} file descriptors for the data connection, expected 1 ` +
        `(verified on Deno ${VERIFIED_ON_DENO}, running ${Deno.version.deno})`,
    );
  }
  return matches[0];
}

/**
 * Whether `fd` is still the socket of `conn` (its local and peer ports): false once it is
 * closed, or its number has been given to another file since.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isSocketOf, socketFdOf } from "./deno_internals.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * const fd = socketFdOf(conn);
 * assert.equal(isSocketOf(fd, conn), true);
 * conn.close();
 * assert.equal(isSocketOf(fd, conn), false);
 * listener.close();
 * ```
 */
export function isSocketOf(fd: number, conn: Deno.TcpConn): boolean {
  return portOf("getsockname", fd) === conn.localAddr.port &&
    portOf("getpeername", fd) === conn.remoteAddr.port;
}

function portOf(call: "getsockname" | "getpeername", fd: number): number | null {
  const address = new Uint8Array(128);
  const length = new Uint32Array([128]);
  if (requireLibc()[call](fd, address, new Uint8Array(length.buffer)) !== 0) return null;
  const family = address[0] | (address[1] << 8);
  if (family !== AF_INET && family !== AF_INET6) return null;
  return (address[2] << 8) | address[3];
}

/**
 * Removes a file descriptor from every epoll set of this process (Deno's event loop),
 * so that data arriving on it no longer wakes the loop. The descriptor stays open.
 * Returns how many epoll sets it was removed from (1 on the verified Deno).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { detachFromEventLoops, socketFdOf } from "./deno_internals.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * assert.deepEqual(detachFromEventLoops(socketFdOf(conn)), 1);
 * listener.close();
 * ```
 */
export function detachFromEventLoops(fd: number): number {
  const c = requireLibc();
  let removed = 0;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`) !== "anon_inode:[eventpoll]") continue;
    } catch {
      continue; // closed meanwhile
    }
    if (c.epoll_ctl(Number(entry.name), EPOLL_CTL_DEL, fd, null) === 0) removed++;
  }
  return removed;
}
