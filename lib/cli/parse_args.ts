import { MAX_BUFFER } from "../net/socket_buffers.ts";
import { decodeWords } from "../base/words.ts";
import { UsageError } from "../base/faults.ts";
import type { SocketpipeOptions } from "../local/options.ts";
import { MAX_PEER_TIMEOUT, MAX_TIMEOUT } from "../net/peer_timeout.ts";
import { parseSize } from "../progress/progress.ts";
import { checkRemoteCache, validateOptions } from "../local/validate_options.ts";
import type { CacheAction } from "../provision/remote_cache.ts";

/** What the command line shows of a run besides its lines: the meter and the report. */
export interface RunDisplay {
  /** `--progress` (`-P`): draw the progress line on stderr. */
  progress: boolean;
  /** `--size N`: the main stream's expected size in bytes, for percent and ETA. */
  size?: number;
  /** `--report FILE`: where to write the JSON report at the end (`-`: stderr). */
  report?: string;
  /** `--install`: say at the end whether the remote host was changed. */
  install?: boolean;
}

/** The command line, parsed: what to do. */
export type ParsedCommandLine =
  | { mode: "run"; options: SocketpipeOptions; display: RunDisplay }
  | { mode: "serve"; command: string[]; verbose: boolean }
  | { mode: "cache"; action: CacheAction; login: string[]; remoteCache: string }
  | { mode: "help" }
  | { mode: "version" };

/** The fleet verbs: provision a host and exit, show its cache, remove it. */
const VERBS = ["--install", "--cache-list", "--cache-remove"];

const BLOCK_OPTIONS = {
  "-i": "input",
  "-l": "login",
  "-r": "remote",
  "-o": "output",
  "-x": "remoteSocketpipe",
} as const;

type BlockOption = keyof typeof BLOCK_OPTIONS;

/**
 * Parses socketpipe's command line. Commands are brace blocks: `{` and `}` are separate
 * words and nest, and the words between the outer pair are the command's argv.
 *
 * @throws {UsageError} on anything that is not a valid command line.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseArgs } from "./parse_args.ts";
 * const parsed = parseArgs(["-i", "{", "tar", "cf", "-", "/", "}", "-l", "{", "ssh", "host", "}",
 *   "-r", "{", "dd", "of=/dev/st0", "}"]);
 * assert.equal(parsed.mode, "run");
 * if (parsed.mode === "run") assert.deepEqual(parsed.options.remote, ["dd", "of=/dev/st0"]);
 * ```
 */
export function parseArgs(argv: readonly string[]): ParsedCommandLine {
  // The remote half's command follows its "--": none of its words is socketpipe's.
  if (argv[0] === "-s") return parseServeArgs(argv.slice(1));
  const asked = informationAsked(argv);
  if (asked) return asked;

  const options: Partial<SocketpipeOptions> = {};
  const display: RunDisplay = { progress: false };
  const seen = new Set<string>();
  let verb: string | null = null;
  let index = 0;
  const once = (option: string) => {
    if (seen.has(option)) throw new UsageError(`${option} given more than once`);
    seen.add(option);
  };

  while (index < argv.length) {
    const word = argv[index];
    if (word in BLOCK_OPTIONS) {
      const option = word as BlockOption;
      once(option);
      const { words, next } = readBlock(argv, index + 1, option);
      options[BLOCK_OPTIONS[option]] = words;
      index = next;
    } else if (["-b", "-v", "--copy", "--encrypt"].includes(word)) {
      once(word);
      if (word === "-b") options.batch = true;
      else if (word === "-v") options.verbose = true;
      else if (word === "--copy") options.copy = true;
      else options.encrypt = true;
      index++;
    } else if (VERBS.includes(word)) {
      if (verb) throw new UsageError(`${verb} and ${word} cannot go together`);
      verb = word;
      index++;
    } else if (word === "-P" || word === "--progress") {
      once("--progress");
      display.progress = true;
      index++;
    } else if (word in VALUE_OPTIONS) {
      once(word);
      const value = argv[index + 1];
      if (value === undefined) throw new UsageError(`${word} needs a value`);
      VALUE_OPTIONS[word as ValueOption](value, options, display);
      index += 2;
    } else if (word === "-help") {
      // Not `-h elp`: nobody names a host so.
      throw new UsageError("unknown option '-help': for help, --help");
    } else if (word.startsWith("-h") || word.startsWith("-t")) {
      const option = word.slice(0, 2);
      once(option);
      const attached = word.slice(2);
      const value = attached !== "" ? attached : argv[index + 1];
      if (value === undefined) {
        throw new UsageError(
          option === "-h"
            ? "-h needs a value: this host's address (-h host); for help, --help"
            : "-t needs a value: the seconds to wait for the connection (-t 30)",
        );
      }
      if (option === "-h") options.host = parseHost(value);
      else options.timeout = parseTimeout(value);
      index += attached !== "" ? 1 : 2;
    } else if (word === "{" || word === "}") {
      throw new UsageError(`unexpected '${word}': a block must follow -i, -l, -r, -o or -x`);
    } else {
      throw new UsageError(`unknown option '${word}'`);
    }
  }

  if (verb) return verbCommandLine(verb, options, display);
  // The library's own check, the one there is: what it refuses, the parser refuses.
  validateOptions(options as SocketpipeOptions);
  return { mode: "run", options: options as SocketpipeOptions, display };
}

/**
 * A fleet verb's command line: only the login and the provisioning options. `--install`
 * is a run that provisions the host and runs nothing (`true`), exit 0 once it is ready.
 */
function verbCommandLine(
  verb: string,
  options: Partial<SocketpipeOptions>,
  display: RunDisplay,
): ParsedCommandLine {
  if (options.input || options.output || options.remote || options.remoteSocketpipe) {
    throw new UsageError(`${verb} takes the login (-l { … }) and no -i, -r, -o or -x`);
  }
  if (!options.login) throw new UsageError("missing -l { login command }");
  if (verb === "--install") {
    const run = { ...options, remote: ["true"], output: ["true"] } as SocketpipeOptions;
    validateOptions(run);
    return { mode: "run", options: run, display: { ...display, install: true } };
  }
  if (options.provision) throw new UsageError(`${verb} sends nothing: drop --provision`);
  if (options.remoteCache !== undefined) checkRemoteCache(options.remoteCache);
  const action = verb === "--cache-list" ? "list" : "remove";
  return { mode: "cache", action, login: options.login, remoteCache: options.remoteCache ?? "" };
}

/** The highest `--limit`: 1024G bytes per second, beyond any link's speed. */
const MAX_LIMIT = 1024 ** 4;

/** An amount as `--limit` and `--buffer` take it: bytes, or with K, M or G; else null. */
function amountOf(value: string): number | null {
  return /^\d+(\.\d+)?[KMG]?$/i.test(value) ? parseSize(value) : null;
}

/** The long options that take a value, and how each sets the options. */
const VALUE_OPTIONS = {
  "--peer-timeout": (value: string, options: Partial<SocketpipeOptions>) => {
    if (!/^\d+(\.\d+)?$/.test(value)) {
      throw new UsageError(`bad value for --peer-timeout: '${value}' (seconds, 0 = no bound)`);
    }
    if (Number(value) > MAX_PEER_TIMEOUT) {
      throw new UsageError(
        `--peer-timeout ${value} is too long: at most ${MAX_PEER_TIMEOUT} s (a day); ` +
          `0 leaves a dead peer to the kernel and the login command`,
      );
    }
    options.peerTimeout = Number(value);
  },
  "--listen": (value: string, options: Partial<SocketpipeOptions>) => {
    if (value !== "local" && value !== "remote") {
      throw new UsageError(`bad value for --listen: '${value}' (local or remote)`);
    }
    options.listen = value;
  },
  "--port": (value: string, options: Partial<SocketpipeOptions>) => {
    const match = value.match(/^(\d+)(?:-(\d+))?$/);
    const first = Number(match?.[1]);
    const last = Number(match?.[2] ?? match?.[1]);
    if (!match || first < 1 || last > 65535 || first > last) {
      throw new UsageError(`bad value for --port: '${value}' (N or N-M, 1 to 65535)`);
    }
    options.ports = [first, last];
  },
  "--provision": (value: string, options: Partial<SocketpipeOptions>) => {
    if (value !== "never" && value !== "auto" && value !== "always") {
      throw new UsageError(`bad value for --provision: '${value}' (never, auto or always)`);
    }
    options.provision = value;
  },
  "--bind": (value: string, options: Partial<SocketpipeOptions>) => {
    options.bind = parseHost(value);
  },
  "--size": (value: string, _options: Partial<SocketpipeOptions>, display: RunDisplay) => {
    const size = parseSize(value);
    if (size === null) {
      throw new UsageError(`bad value for --size: '${value}' (bytes, or with K, M, G or T)`);
    }
    display.size = size;
  },
  "--limit": (value: string, options: Partial<SocketpipeOptions>) => {
    const rate = amountOf(value);
    if (!rate || rate > MAX_LIMIT) {
      throw new UsageError(
        `bad value for --limit: '${value}' (bytes per second, with K, M or G, from 1 to 1024G)`,
      );
    }
    options.limit = rate;
  },
  "--buffer": (value: string, options: Partial<SocketpipeOptions>) => {
    const size = amountOf(value);
    if (!size || size > MAX_BUFFER) {
      throw new UsageError(
        `bad value for --buffer: '${value}' (bytes, with K, M or G, from 1 to 1G)`,
      );
    }
    options.buffer = size;
  },
  "--remote-cache": (value: string, options: Partial<SocketpipeOptions>) => {
    options.remoteCache = value;
  },
  "--report": (value: string, _options: Partial<SocketpipeOptions>, display: RunDisplay) => {
    display.report = value;
  },
};
type ValueOption = keyof typeof VALUE_OPTIONS;

/**
 * The words of `argv` that are not inside a block: what follows a block option up to its
 * matching `}` is a command's (an unterminated block takes the rest).
 */
function wordsOutsideBlocks(argv: readonly string[]): string[] {
  const own: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    own.push(argv[index]);
    if (!(argv[index] in BLOCK_OPTIONS) || argv[index + 1] !== "{") continue;
    let depth = 0;
    for (index++; index < argv.length; index++) {
      if (argv[index] === "{") depth++;
      if (argv[index] === "}" && --depth === 0) break;
    }
  }
  return own;
}

/** Reads the block that starts at `argv[start]`, which must be `{`. */
function readBlock(
  argv: readonly string[],
  start: number,
  option: string,
): { words: string[]; next: number } {
  if (argv[start] !== "{") {
    const word = argv[start] ?? "";
    if (word.startsWith("{")) {
      // `-r {cat}`: the shell gave one word, as it does for `{cat}` or `{ cat}`.
      const inside = word.replace(/^\{\s*/, "").replace(/\s*\}$/, "");
      throw new UsageError(
        `${option} ${word}: braces must be separate words: ${option} { ${inside || "…"} }`,
      );
    }
    throw new UsageError(`${option} must be followed by a block: ${option} { command [args…] }`);
  }
  let depth = 1;
  for (let index = start + 1; index < argv.length; index++) {
    if (argv[index] === "{") depth++;
    if (argv[index] === "}" && --depth === 0) {
      const words = argv.slice(start + 1, index);
      if (words.length === 0) throw new UsageError(`empty block after ${option}`);
      return { words, next: index + 1 };
    }
  }
  const glued = argv.slice(start + 1).find((word) => word.length > 1 && word.endsWith("}"));
  throw new UsageError(
    `unterminated block after ${option}: missing '}'` +
      (glued ? ` (braces must be separate words: '${glued.slice(0, -1)} }', not '${glued}')` : ""),
  );
}

function parseHost(value: string): string {
  if (value === "" || value.startsWith("-") || /\s/.test(value)) {
    throw new UsageError(`bad host for -h: '${value}'`);
  }
  return value.startsWith("[") && value.endsWith("]") ? value.slice(1, -1) : value;
}

function parseTimeout(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) {
    throw new UsageError(`bad timeout for -t: '${value}' (seconds, 0 = wait for ever)`);
  }
  if (Number(value) > MAX_TIMEOUT) {
    throw new UsageError(
      `-t ${value} is too long: at most ${MAX_TIMEOUT} s (about 24 days); 0 waits for ever`,
    );
  }
  return Number(value);
}

/**
 * `--help` or `--version` among socketpipe's own words (those outside every block:
 * `-r { grep --version }` is grep's), or null. A script that asks for the version gets it
 * or a usage error: never a version for a command line that meant something else.
 */
function informationAsked(argv: readonly string[]): ParsedCommandLine | null {
  const own = wordsOutsideBlocks(argv);
  if (own.includes("--help")) return { mode: "help" };
  if (!own.includes("--version")) return null;
  if (argv.length > 1) throw new UsageError("--version takes no other word");
  return { mode: "version" };
}

/**
 * `-s [-v] [--hex] -- command…`: the remote half, as the local half starts it; with
 * `--hex`, each word of the command is its bytes in hex (see `base/words.ts`).
 */
function parseServeArgs(argv: readonly string[]): ParsedCommandLine {
  let verbose = false;
  let hex = false;
  let index = 0;
  if (argv[index] === "-v") {
    verbose = true;
    index++;
  }
  if (argv[index] === "--hex") {
    hex = true;
    index++;
  }
  const words = argv.slice(index + 1);
  const command = hex ? decodeWords(words) : words;
  if (argv[index] !== "--" || words.length === 0 || command === null) {
    throw new UsageError(
      "-s is how socketpipe starts its remote half: -s [-v] [--hex] -- command…",
    );
  }
  return { mode: "serve", command, verbose };
}
