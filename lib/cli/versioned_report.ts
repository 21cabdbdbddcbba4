/**
 * `--report`: a run's result as one JSON object, for scripts that must not parse lines.
 * Its shape is {@link SocketpipeResult}'s (what `socketpipe()` resolves with) plus a
 * `version`, which changes only when a field changes meaning or goes away.
 *
 * @module
 */
import type { SocketpipeResult } from "../local/socketpipe_types.ts";

/** The report's format version. */
export const REPORT_VERSION = 1;

/**
 * The report of a run: `{ version, status, messages, dataPath, input, remote, output,
 * local, durations, provisioned, encryption, applied }`. A role that never ran is absent
 * (input, output) or null (remote); `provisioned` is absent when nothing was sent,
 * `encryption` without `--encrypt`, `applied` when no option did anything to report.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { versionedReport } from "./versioned_report.ts";
 * const report = versionedReport({
 *   status: 2, messages: ["login { ssh h } failed (status 255); …"], dataPath: "none",
 *   remote: null, local: { sent: 0, received: 0, delivered: 0 },
 *   durations: { setupSeconds: 0.3, transferSeconds: 0 },
 * });
 * assert.deepEqual(JSON.stringify(report).startsWith('{"version":1,"status":2'), true);
 * ```
 */
export function versionedReport(result: SocketpipeResult): { version: number } & SocketpipeResult {
  return {
    version: REPORT_VERSION,
    status: result.status,
    messages: result.messages,
    ...(result.fault ? { fault: result.fault } : {}),
    dataPath: result.dataPath,
    ...(result.input ? { input: result.input } : {}),
    remote: result.remote,
    ...(result.output ? { output: result.output } : {}),
    local: result.local,
    durations: result.durations,
    ...(result.provisioned ? { provisioned: result.provisioned } : {}),
    ...(result.encryption ? { encryption: result.encryption } : {}),
    ...(result.applied ? { applied: result.applied } : {}),
  };
}
