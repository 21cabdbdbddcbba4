/**
 * socketpipe connects a local input command and/or a local output command to a remote
 * command on another host over one direct, token-authenticated TCP connection. The
 * remote half is started through a login command (usually `ssh host`); the data then
 * bypasses the login command entirely.
 *
 * ```ts ignore
 * import { socketpipe } from "./mod.ts";
 *
 * const result = await socketpipe({
 *   input: ["tar", "cf", "-", "/home"],
 *   login: ["ssh", "backup-host"],
 *   remote: ["dd", "of=/dev/st0", "bs=32k"],
 * });
 * if (result.status !== 0) throw new Error(result.messages.join("\n"));
 * console.log(`${result.local.sent} bytes backed up`);
 * ```
 *
 * @module
 */
export { socketpipe } from "./lib/local/local_half.ts";
export type {
  RunControl,
  SocketpipeOptions,
  SocketpipeResult,
} from "./lib/local/socketpipe_types.ts";
export type { Settings } from "./lib/session/connection_options.ts";
export { parseArgs, type ParsedCommandLine, type RunDisplay } from "./lib/cli/parse_args.ts";
export type { ProvisionMode, ProvisionProgress } from "./lib/provision/provision.ts";
export type { CacheAction } from "./lib/provision/remote_cache.ts";
export { runCommandLine } from "./lib/cli/cli.ts";
export { Fault, UsageError } from "./lib/base/faults.ts";
export type { FaultClass, FaultStep } from "./lib/base/faults.ts";
export type { CommandStatus } from "./lib/base/command_status.ts";
export type { RoleReport } from "./lib/local/outcome.ts";
export type { ByteCounts } from "./lib/data/data_path.ts";
export {
  formatBytes,
  type Moved,
  type MovedSoFar,
  type Progress,
  progressLine,
} from "./lib/progress/progress.ts";
export { REPORT_VERSION, versionedReport } from "./lib/cli/versioned_report.ts";
export { PROTOCOL_VERSION, VERSION } from "./lib/base/version.ts";
