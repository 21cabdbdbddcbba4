/**
 * The one check of a run's options, for the library and the command line alike: the
 * command line's parser ends with it, so that a mistake reaches a CLI user as a usage
 * error (exit 1), never as an internal error.
 *
 * @module
 */
import { MAX_BUFFER } from "../net/socket_buffers.ts";
import { UsageError } from "../base/faults.ts";
import { everyShellCarries } from "../base/words.ts";
import type { SocketpipeOptions } from "./options.ts";
import {
  DEFAULT_PEER_TIMEOUT,
  MAX_PEER_TIMEOUT,
  MAX_TIMEOUT,
  MIN_PEER_TIMEOUT,
} from "../net/peer_timeout.ts";

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
  // -x is run by the remote host's login shell, word for word: no word of it may hold what
  // a shell there could take for more than a word (a csh runs what follows a newline).
  const unsafe = options.remoteSocketpipe?.find((word) => !everyShellCarries(word));
  if (unsafe !== undefined) {
    throw new UsageError(
      `-x: the word ${JSON.stringify(unsafe)} holds a character outside printable ASCII, which ` +
        "not every login shell carries (csh runs what follows a newline): name the remote " +
        "socketpipe in printable characters",
    );
  }
  if (options.remoteSocketpipe && options.provision && options.provision !== "never") {
    throw new UsageError(`--provision ${options.provision} sends socketpipe itself; drop -x`);
  }
  if (options.remoteCache !== undefined) {
    checkRemoteCache(options.remoteCache);
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
  if (peerTimeout > 0 && peerTimeout < MIN_PEER_TIMEOUT) {
    // Each half says it is alive every third of the bound: on a busy host, a bound this
    // short would take a moment's delay for a dead peer and fail every run.
    throw new UsageError(
      `--peer-timeout ${peerTimeout} is too short: at least ${MIN_PEER_TIMEOUT} s, ` +
        `or 0 for no bound`,
    );
  }
}

/**
 * Throws a {@link UsageError} unless `path` can name a remote cache: a path in printable
 * ASCII, which the login shell there (any shell) passes on as one word.
 *
 * @throws {UsageError} on a path that is not one.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkRemoteCache } from "./validate_options.ts";
 * checkRemoteCache("/var/cache/backup");
 * assert.throws(() => checkRemoteCache("/tmp/a\ntouch x"), /printable ASCII/);
 * ```
 */
export function checkRemoteCache(path: unknown): void {
  if (typeof path !== "string" || path === "" || !everyShellCarries(path)) {
    throw new UsageError(
      "bad --remote-cache: a directory's path in printable ASCII, which every login shell " +
        "carries as one word",
    );
  }
}
