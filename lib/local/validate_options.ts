/**
 * The one check of a run's options, for the library and the command line alike: the
 * command line's parser ends with it, so that a mistake reaches a CLI user as a usage
 * error (exit 1), never as an internal error.
 *
 * @module
 */
import { MAX_BUFFER } from "../net/socket_buffers.ts";
import { UsageError } from "../base/faults.ts";
import type { SocketpipeOptions } from "./options.ts";
import { DEFAULT_PEER_TIMEOUT, MAX_PEER_TIMEOUT, MAX_TIMEOUT } from "../net/peer_timeout.ts";

/** What each block option's command is, for the line that says it is missing. */
const BLOCK_WHAT: Record<string, string> = {
  "-l": "login command",
  "-r": "remote command",
  "-i": "input command",
  "-o": "output command",
  "-x": "remote socketpipe command",
};

/**
 * Throws a {@link UsageError} naming the first thing wrong with `options`.
 *
 * @throws {UsageError} on options no run can have.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateOptions } from "./validate_options.ts";
 * assert.throws(() => validateOptions({ login: ["ssh", "h"], remote: ["cat"] }), {
 *   message: "give -i { input command }, -o { output command }, or both",
 * });
 * ```
 */
export function validateOptions(options: SocketpipeOptions): void {
  const block = (name: string, argv: readonly string[] | undefined, required: boolean) => {
    if (argv === undefined) {
      if (required) throw new UsageError(`missing ${name} { ${BLOCK_WHAT[name]} }`);
    } else if (
      !Array.isArray(argv) || argv.length === 0 || argv.some((w) => typeof w !== "string")
    ) {
      throw new UsageError(`${name} needs a command: a non-empty list of words`);
    }
  };
  block("-l", options.login, true);
  block("-r", options.remote, true);
  block("-i", options.input, false);
  block("-o", options.output, false);
  block("-x", options.remoteSocketpipe, false);
  if (options.remoteSocketpipe && options.provision && options.provision !== "never") {
    throw new UsageError(`--provision ${options.provision} sends socketpipe itself; drop -x`);
  }
  if (options.remoteCache !== undefined) {
    // deno-lint-ignore no-control-regex
    if (typeof options.remoteCache !== "string" || !/^[^\x00-\x1f]+$/.test(options.remoteCache)) {
      throw new UsageError("bad --remote-cache: a directory's path, on one line");
    }
    if (options.remoteSocketpipe || options.provision === "never") {
      throw new UsageError(
        "--remote-cache names where provisioning keeps socketpipe; with -x or " +
          "--provision never nothing is provisioned: drop it",
      );
    }
  }
  if (!["auto", "always", "never", undefined].includes(options.provision)) {
    throw new UsageError(`bad --provision: ${options.provision} (never, auto or always)`);
  }
  if (!options.input && !options.output) {
    throw new UsageError("give -i { input command }, -o { output command }, or both");
  }
  const timeout = options.timeout ?? 0;
  if (typeof timeout !== "number" || !(timeout >= 0) || timeout > MAX_TIMEOUT) {
    throw new UsageError(
      `bad timeout: ${timeout} (seconds up to ${MAX_TIMEOUT}, 0 = wait for ever)`,
    );
  }
  const buffer = options.buffer;
  if (
    buffer !== undefined && !(Number.isSafeInteger(buffer) && buffer >= 1 && buffer <= MAX_BUFFER)
  ) {
    throw new UsageError(`bad buffer: ${buffer} (bytes, a whole number from 1 to ${MAX_BUFFER})`);
  }
  if (
    options.limit !== undefined && !(Number.isSafeInteger(options.limit) && options.limit >= 1)
  ) {
    throw new UsageError(`bad limit: ${options.limit} (bytes per second, a whole number ≥ 1)`);
  }
  const peerTimeout = options.peerTimeout ?? DEFAULT_PEER_TIMEOUT;
  if (typeof peerTimeout !== "number" || !(peerTimeout >= 0) || peerTimeout > MAX_PEER_TIMEOUT) {
    throw new UsageError(
      `bad peer timeout: ${peerTimeout} (seconds up to ${MAX_PEER_TIMEOUT}, 0 = no bound)`,
    );
  }
}
