/**
 * The one check of a run's options, for the library and the command line alike: the
 * command line's parser ends with it, so that a mistake reaches a CLI user as a usage
 * error (exit 1), never as an internal error.
 *
 * @module
 */
import { UsageError } from "../base/faults.ts";
import type { SocketpipeOptions } from "./socketpipe_types.ts";
import { BLOCKS, OPTIONS } from "../session/command_line_options.ts";

/**
 * Throws a {@link UsageError} naming the first thing wrong with `options`: each value as
 * its option's declaration checks it, then what no run can have together.
 *
 * @throws {UsageError} on options no run can have.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateOptions } from "./validate_options.ts";
 * assert.throws(() => validateOptions({ login: ["ssh", "h"], remote: ["cat"] }), {
 *   message: "give -i { input command }, -o { output command }, or both",
 * });
 * assert.throws(() => validateOptions({ login: ["ssh", "h"], remote: ["cat"], limit: 0.5 }), {
 *   message: "bad value for --limit: '0.5' (bytes per second, with K, M or G, from 1 to 1024G)",
 * });
 * ```
 */
export function validateOptions(options: SocketpipeOptions): void {
  for (const required of [BLOCKS.login, BLOCKS.remote]) {
    if (options[required.into!.key as "login" | "remote"] === undefined) {
      throw new UsageError(`missing ${required.names[0]} { ${required.what} }`);
    }
  }
  for (const option of OPTIONS) {
    if (option.into?.target !== "options") continue;
    const value = (options as unknown as Record<string, unknown>)[option.into.key];
    const wrong = value === undefined ? null : option.check(value);
    if (wrong !== null) throw new UsageError(wrong);
  }
  if (options.remoteSocketpipe && options.provision && options.provision !== "never") {
    throw new UsageError(`--provision ${options.provision} sends socketpipe itself; drop -x`);
  }
  if (
    options.remoteCache !== undefined &&
    (options.remoteSocketpipe || options.provision === "never")
  ) {
    throw new UsageError(
      "--remote-cache names where provisioning keeps socketpipe; with -x or " +
        "--provision never nothing is provisioned: drop it",
    );
  }
  if (options.reconnect && options.listen === "remote") {
    throw new UsageError(
      "--reconnect meets the remote half again on this host's listener: drop --listen remote",
    );
  }
  if (!options.input && !options.output) {
    throw new UsageError("give -i { input command }, -o { output command }, or both");
  }
}
