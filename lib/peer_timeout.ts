import { socketFdOf } from "./deno_internals.ts";
import { libc, libcUnavailableReason } from "./libc.ts";
import { setPeerTimeout } from "./tcp_socket_options.ts";

/** The default bound, in seconds, on how long a transfer outlives a dead peer. */
export const DEFAULT_PEER_TIMEOUT = 20;

/**
 * Applies the dead-peer bound to the data connection (see {@link setPeerTimeout}), on
 * either data path. Returns null when applied, else why not (0 disables it; without FFI
 * it cannot be set, and only the kernel's own, much longer, timeouts apply).
 *
 * @example
 * ```ts
 * import { applyPeerTimeout } from "./peer_timeout.ts";
 * declare const conn: Deno.TcpConn;
 * const notApplied = applyPeerTimeout(conn, 20);
 * ```
 */
export function applyPeerTimeout(conn: Deno.TcpConn, seconds: number): string | null {
  if (seconds <= 0) return "disabled (--peer-timeout 0)";
  if (!libc()) return libcUnavailableReason();
  try {
    setPeerTimeout(socketFdOf(conn), seconds);
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
