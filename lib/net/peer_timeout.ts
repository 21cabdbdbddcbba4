import { socketFdOf } from "../platform/deno_internals.ts";
import { messageOf } from "../base/message_of.ts";
import { libc, libcUnavailableReason } from "../platform/libc.ts";
import type { StepLog } from "../base/log.ts";
import { setPeerTimeout } from "../platform/tcp_socket_options.ts";

/** The default bound, in seconds, on how long a transfer outlives a dead peer. */
export const DEFAULT_PEER_TIMEOUT = 20;

/** The shortest bound `--peer-timeout` takes (but 0, none), in seconds. */
export const MIN_PEER_TIMEOUT = 2;

/**
 * The longest `--peer-timeout`, in seconds (a day): its keepalive idle time, a third of
 * it, must fit the kernel's TCP_KEEPIDLE (at most 32767 s).
 */
export const MAX_PEER_TIMEOUT = 86400;

/** The longest `-t`, in seconds (about 24 days): the longest timer a runtime can set. */
export const MAX_TIMEOUT = 2147483;

/**
 * Applies the dead-peer bound to the data connection (see {@link setPeerTimeout}), on
 * either data path; says on the step log when it cannot (0 disables it; without FFI it
 * cannot be set, and only the kernel's own, much longer, timeouts apply).
 *
 * @example Not run as a test: it needs a peer on the other end of a connection.
 * ```ts ignore
 * import { applyPeerTimeout } from "./peer_timeout.ts";
 * applyPeerTimeout(conn, 20, log);
 * ```
 */
export function applyPeerTimeout(conn: Deno.TcpConn, seconds: number, log: StepLog): void {
  const notApplied = (why: string | null) => log.step(`no dead-peer bound: ${why}`);
  if (seconds <= 0) return notApplied("disabled (--peer-timeout 0)");
  if (!libc()) return notApplied(libcUnavailableReason());
  try {
    setPeerTimeout(socketFdOf(conn), seconds);
  } catch (error) {
    notApplied(messageOf(error));
  }
}
