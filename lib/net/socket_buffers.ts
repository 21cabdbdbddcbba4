/**
 * `--buffer`: the data socket's own buffers made large, on either data path, so that the
 * slack between a bursty producer and a consumer that stalls is the kernel's, and no
 * byte is copied for it (see bench/README.md for the study that chose this over a
 * buffer in userspace).
 *
 * @module
 */
import type { StepLog } from "../base/log.ts";
import { libc, libcUnavailableReason } from "../platform/libc.ts";
import { socketFdOf } from "../platform/deno_internals.ts";
import { setSocketBuffers } from "../platform/tcp_socket_options.ts";
import { formatBytes } from "../progress/progress.ts";

/** The largest `--buffer` (the kernel's limit for one socket's buffer is about this). */
export const MAX_BUFFER = 1024 ** 3;

/**
 * Gives the data connection buffers of `bytes` each way; says so on the step log, or,
 * where the kernel will not, says why on stderr (the run goes on with the kernel's own
 * buffers).
 *
 * @example Not run as a test: it needs a peer on the other end of a connection.
 * ```ts ignore
 * import { applySocketBuffers } from "./socket_buffers.ts";
 * applySocketBuffers(conn, 64 * 1024 * 1024, log);
 * ```
 */
export function applySocketBuffers(conn: Deno.TcpConn, bytes: number, log: StepLog): void {
  const size = formatBytes(bytes);
  const why = libc() ? setSocketBuffers(socketFdOf(conn), bytes) : libcUnavailableReason();
  if (why === null) log.step(`socket buffers: ${size} each way (--buffer)`);
  else log.always(`--buffer ${size} not set: ${why}; going on with the kernel's own buffers`);
}
