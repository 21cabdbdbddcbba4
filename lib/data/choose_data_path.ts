import type { DataPath } from "./data_path.ts";
import { libc, libcUnavailableReason } from "../platform/libc.ts";
import { streamPath } from "./stream_path.ts";
import { zeroCopyPath } from "./zero_copy_path.ts";

/**
 * Chooses how this half moves data: the zero-copy path where it can run (Linux, FFI
 * permitted, /proc readable), else the stream path; `--copy` forces the stream path, and
 * a caller (a test) may impose one. Returns the path and, for -v, why.
 *
 * @example
 * ```ts
 * import { chooseDataPath } from "./choose_data_path.ts";
 * const { path, why } = chooseDataPath(false);
 * console.error(`data path: ${path.name} (${why})`);
 * ```
 */
export function chooseDataPath(
  forceCopy: boolean,
  imposed?: DataPath,
): { path: DataPath; why: string } {
  if (imposed) return { path: imposed, why: "chosen by the caller" };
  if (forceCopy) return { path: streamPath, why: "--copy" };
  if (!libc()) return { path: streamPath, why: libcUnavailableReason() ?? "libc unavailable" };
  if (Deno.permissions.querySync({ name: "read", path: "/proc/self/fd" }).state !== "granted") {
    return {
      path: streamPath,
      why: "reading /proc/self/fd is not permitted (run with --allow-read or -A for zero-copy)",
    };
  }
  return { path: zeroCopyPath, why: "the commands get the socket itself" };
}
