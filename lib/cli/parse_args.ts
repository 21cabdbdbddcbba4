import { decodeWords } from "../base/words.ts";
import { UsageError } from "../base/faults.ts";
import type { SocketpipeOptions } from "../local/socketpipe_types.ts";
import { validateOptions } from "../local/validate_options.ts";
import type { CacheAction } from "../provision/remote_cache.ts";
import { OPTIONS } from "../session/command_line_options.ts";
import { type OptionDeclaration, valueOf } from "../session/option.ts";

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

/** The options that take a block. */
const BLOCK_OPTIONS = new Set(
  OPTIONS.filter((option) => option.form === "block").map((option) => option.names[0]),
);

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

  const into = { options: {} as Record<string, unknown>, display: { progress: false } };
  const seen = new Set<string>();
  let verb: string | null = null;
  let index = 0;
  while (index < argv.length) {
    const word = argv[index];
    const option = optionNamed(word);
    if (option === null) throw new UsageError(unknownWord(word));
    if (option.form === "verb") {
      if (verb) throw new UsageError(`${verb} and ${word} cannot go together`);
      verb = word;
      index++;
      continue;
    }
    const name = option.names.at(-1)!;
    if (seen.has(name)) throw new UsageError(`${name} given more than once`);
    seen.add(name);
    const target = into[option.into!.target] as Record<string, unknown>;
    if (option.form === "block") {
      const { words, next } = readBlock(argv, index + 1, word);
      target[option.into!.key] = words;
      index = next;
    } else if (option.form === "flag") {
      target[option.into!.key] = true;
      index++;
    } else {
      const attached = option.names.includes(word) ? "" : word.slice(option.names[0].length);
      const text = attached !== "" ? attached : argv[index + 1];
      if (text === undefined) {
        throw new UsageError(option.whenMissing ?? `${word} needs a value`);
      }
      target[option.into!.key] = valueOf(option, text);
      index += attached !== "" ? 1 : 2;
    }
  }

  const options = into.options as unknown as SocketpipeOptions;
  const display = into.display as RunDisplay;
  if (verb) return verbCommandLine(verb, options, display);
  // The library's own check, the one there is: what it refuses, the parser refuses.
  validateOptions(options);
  return { mode: "run", options, display };
}

/** Every option by each of its names. */
const BY_NAME = new Map(OPTIONS.flatMap((option) => option.names.map((name) => [name, option])));

/** The option `word` names, alone or with its value attached (`-t30`), or null. */
function optionNamed(word: string): OptionDeclaration | null {
  // Not `-h elp`: nobody names a host so.
  if (word === "-help") return null;
  return BY_NAME.get(word) ??
    OPTIONS.find((option) => option.attached && word.startsWith(option.names[0])) ?? null;
}

/** The line for a word that is no option. */
function unknownWord(word: string): string {
  if (word === "-help") return "unknown option '-help': for help, --help";
  if (word === "{" || word === "}") {
    return `unexpected '${word}': a block must follow -i, -l, -r, -o or -x`;
  }
  return `unknown option '${word}'`;
}

/**
 * A fleet verb's command line: only the login and the provisioning options. `--install`
 * is a run that provisions the host and runs nothing (`true`), exit 0 once it is ready.
 */
function verbCommandLine(
  verb: string,
  options: SocketpipeOptions,
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
  const action = verb === "--cache-list" ? "list" : "remove";
  return { mode: "cache", action, login: options.login, remoteCache: options.remoteCache ?? "" };
}

/**
 * The words of `argv` that are not inside a block: what follows a block option up to its
 * matching `}` is a command's (an unterminated block takes the rest).
 */
function wordsOutsideBlocks(argv: readonly string[]): string[] {
  const own: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    own.push(argv[index]);
    if (!BLOCK_OPTIONS.has(argv[index]) || argv[index + 1] !== "{") continue;
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
