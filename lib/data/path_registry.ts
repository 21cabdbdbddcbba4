/**
 * The data paths, registered once: the wire names them (the session's `dataPath`), `-v`
 * and the report print their names, and a new path is a new file plus one entry here.
 * The order is the order of preference when the local half leaves the choice to each
 * half (`"auto"`): the first that can run on this host.
 *
 * @module
 */
import type { DataPath } from "./data_path.ts";
import { CIPHER } from "../net/data_wire.ts";
import { streamPath } from "./stream_path.ts";
import { zeroCopyPath } from "./zero_copy_path.ts";

/**
 * Every data path by its name, in order of preference.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DATA_PATHS } from "./path_registry.ts";
 * assert.deepEqual(Object.keys(DATA_PATHS), ["zero-copy", "stream"]);
 * assert.equal(DATA_PATHS.stream.name, "stream");
 * ```
 */
export const DATA_PATHS = {
  "zero-copy": zeroCopyPath,
  stream: streamPath,
} as const satisfies Record<string, DataPath>;

/** A data path's name, as the session line carries it. */
export type DataPathName = keyof typeof DATA_PATHS;

/** What the local half asks of both halves: one path by name, or each host's best. */
export type DataPathRequest = DataPathName | "auto";

/** How `-v` says who seals an encrypted run's records. */
function sealedBy(path: DataPath): string {
  return path.engine === "kernel" ? "encrypted by the kernel" : "encrypted in userspace";
}

/**
 * Chooses how this half moves data: the path asked for, else the first registered path
 * that can run here (the zero-copy path needs Linux, FFI and a readable /proc, else the
 * stream path); `encrypted` leaves out the paths that cannot seal the data here. A caller
 * (a test) may impose one; `askedBy` names what asked for the path, if not its option.
 * Returns the path and, for -v, why.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chooseDataPath, DATA_PATHS } from "./path_registry.ts";
 * assert.deepEqual(chooseDataPath("stream").why, "--copy");
 * const { path } = chooseDataPath("auto"); // the first, in order of preference, that can run
 * assert.equal(path, Object.values(DATA_PATHS).find((each) => each.unavailable() === null));
 * const sealed = chooseDataPath("auto", undefined, true); // the kernel seals, where it can
 * assert.match(sealed.why, /^encrypted (by the kernel|in userspace) \(ChaCha20-Poly1305\): /);
 * ```
 */
export function chooseDataPath(
  request: DataPathRequest,
  imposed?: DataPath,
  encrypted = false,
  askedBy?: string,
): { path: DataPath; why: string } {
  if (imposed) return { path: imposed, why: "chosen by the caller" };
  const paths: DataPath[] = request === "auto"
    ? Object.values(DATA_PATHS)
    : [DATA_PATHS[request], ...Object.values(DATA_PATHS)];
  let why = "";
  for (const path of paths) {
    const cannot = path.unavailable() ?? (encrypted ? path.unsealable() : null);
    if (cannot !== null) {
      why ||= cannot; // the best path's reason is the one to say
      continue;
    }
    const because = request === path.name
      ? askedBy ?? path.askedBy ?? "asked for by the local half"
      : path.because;
    return {
      path,
      why: encrypted ? `${sealedBy(path)} (${CIPHER}): ${why || because}` : why || because,
    };
  }
  return { path: streamPath, why };
}

/**
 * The `-v` line's words for an encrypted transfer that ran on another path than the one
 * chosen, because the kernel would not seal the socket (see `Transfer.fellBack`): the
 * path that sealed the records instead, and why.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DATA_PATHS, sealingFellBackLine } from "./path_registry.ts";
 * assert.equal(
 *   sealingFellBackLine({ path: DATA_PATHS.stream, because: "the kernel refused" }),
 *   "data path: stream (encrypted in userspace (ChaCha20-Poly1305): the kernel refused)",
 * );
 * ```
 */
export function sealingFellBackLine(fellBack: { path: DataPath; because: string }): string {
  return `data path: ${fellBack.path.name} (${
    sealedBy(fellBack.path)
  } (${CIPHER}): ${fellBack.because})`;
}

/**
 * The `-v` line of a limited run (`--limit`): the rate, and what holds this half's
 * sending side to it on `path`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DATA_PATHS, limitLine } from "./path_registry.ts";
 * assert.equal(
 *   limitLine(20 * 1024 * 1024, DATA_PATHS.stream),
 *   "sending limited to 20 MiB/s (20971520 bytes/s) by the copy loop",
 * );
 * ```
 */
export function limitLine(limit: number, path: DataPath): string {
  return `sending limited to ${formatRate(limit)} (${limit} bytes/s) by ${path.pacedBy}`;
}

/** `rate` in the largest binary unit that keeps it whole. */
function formatRate(rate: number): string {
  for (const [unit, size] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (rate % size === 0) return `${rate / size} ${unit}/s`;
  }
  return `${rate} bytes/s`;
}
