/**
 * What an option is: one declaration holds its names, how its value is read and checked
 * (with the one wording both the command line and the library give), its default, and its
 * `--help` entry. The options that reach the remote half add how they ride the session
 * line and what they do to the data connection (`connection_options.ts`).
 *
 * @module
 */
import { UsageError } from "../base/faults.ts";

/** How an option appears on the command line. */
export type OptionForm =
  /** A word alone: `-v`, `--copy`. */
  | "flag"
  /** A word and its value: `--limit 20M` (`-h` and `-t` also take it attached: `-t30`). */
  | "value"
  /** A word and a brace block: `-r { command }`. */
  | "block"
  /** A word that is the run's whole purpose: `--install`, `--help`. */
  | "verb";

/** One option of the command line, declared once. */
export interface OptionDeclaration<T = unknown> {
  /** Its names, the one shown first (`-P`, `--progress`). */
  readonly names: readonly string[];
  /** How it appears on the command line. */
  readonly form: OptionForm;
  /**
   * Where its value goes: a key of `SocketpipeOptions` ("options") or of the command
   * line's display ("display"); none for a verb.
   */
  readonly into?: { readonly target: "options" | "display"; readonly key: string };
  /** What its value is called in the synopsis and `--help` (`RATE`). */
  readonly value?: string;
  /**
   * A block's synopsis entry (`-i { input command [args…] }`); another option's is its
   * first name and its value (`--limit RATE`).
   */
  readonly synopsis?: string;
  /** Takes its value glued to its name (`-t30`), as socketpipe 1.x did. */
  readonly attached?: boolean;
  /** The line for its name without a value, when a bare "needs a value" would not do. */
  readonly whenMissing?: string;
  /**
   * The value a command line's word stands for, or null when it is no value of this
   * option at all (the line then says what the option takes).
   */
  parse?(text: string): T | null;
  /**
   * What is wrong with a value, in the option's own words (`--peer-timeout 0.1 is too
   * short: …`), or null when it is right. The command line and the library both ask it.
   */
  check(value: unknown): string | null;
  /** Its value when it is not given, where it has one. */
  readonly default?: T;
  /** What the option takes, for the line of a bad value (`seconds, 0 = no bound`). */
  readonly takes: string;
  /** Its `--help` entry: the lines after the option's own column, already wrapped. */
  readonly help: string;
}

/**
 * The line for a value that is no value of `option`: the one wording, whether the value
 * came from the command line or from a library caller.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { badValue } from "./option.ts";
 * assert.equal(
 *   badValue({ names: ["--listen"], takes: "local or remote" }, "here"),
 *   "bad value for --listen: 'here' (local or remote)",
 * );
 * ```
 */
export function badValue(
  option: Pick<OptionDeclaration, "names" | "takes">,
  value: unknown,
): string {
  const shown = typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  return `bad value for ${option.names[0]}: '${shown}' (${option.takes})`;
}

/**
 * The value of `option` that `text` gives, checked; a {@link UsageError} with the one
 * wording otherwise.
 *
 * @throws {UsageError} on a text that is no right value of the option.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { valueOf } from "./option.ts";
 * const port = {
 *   names: ["--port"], form: "value", takes: "N", help: "",
 *   parse: (text: string) => /^\d+$/.test(text) ? Number(text) : null,
 *   check: (value: unknown) => (value as number) <= 65535 ? null : "too high",
 * } as const;
 * assert.equal(valueOf(port, "80"), 80);
 * assert.throws(() => valueOf(port, "eighty"), { message: "bad value for --port: 'eighty' (N)" });
 * assert.throws(() => valueOf(port, "70000"), { message: "too high" });
 * ```
 */
export function valueOf<T>(option: OptionDeclaration<T>, text: string): T {
  const value = option.parse ? option.parse(text) : text as T;
  if (value === null) throw new UsageError(badValue(option, text));
  const wrong = option.check(value);
  if (wrong === null) return value;
  // A value the option cannot have is shown as the user wrote it (`99999999999G`).
  throw new UsageError(wrong === badValue(option, value) ? badValue(option, text) : wrong);
}

/**
 * A number of seconds as the command line writes it (`30`, `2.5`), or null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { seconds } from "./option.ts";
 * assert.deepEqual(["30", "2.5", "-1", "1e3", "soon"].map(seconds), [30, 2.5, null, null, null]);
 * ```
 */
export function seconds(text: string): number | null {
  return /^\d+(\.\d+)?$/.test(text) ? Number(text) : null;
}

/**
 * An amount of bytes as `--limit` and `--buffer` take it: a whole number, or with K, M or
 * G (powers of 1024); else null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { amount } from "./option.ts";
 * assert.deepEqual(["512", "64M", "1.5k", "1T", "1e6", "20 M"].map(amount), [
 *   512, 64 * 1024 ** 2, 1536, null, null, null,
 * ]);
 * ```
 */
export function amount(text: string): number | null {
  return sizeOf(text, "KMG");
}

/**
 * A size as `--size` takes it: bytes, or with K, M, G or T (powers of 1024, `KiB` and
 * `KB` read as `K`); else null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { size } from "./option.ts";
 * assert.deepEqual(["1T", "10GiB", "3KB", "lots"].map(size), [1024 ** 4, 10 * 1024 ** 3, 3072, null]);
 * ```
 */
export function size(text: string): number | null {
  const match = text.match(/^(\d+(?:\.\d+)?)([KMGT]?)i?B?$/i);
  return match ? sizeOf(`${match[1]}${match[2]}`, "KMGT") : null;
}

function sizeOf(text: string, units: string): number | null {
  const match = text.match(/^(\d+(?:\.\d+)?)([A-Z]?)$/i);
  const unit = match?.[2].toUpperCase() ?? "";
  if (!match || (unit !== "" && !units.includes(unit))) return null;
  return Math.round(Number(match[1]) * 1024 ** (unit ? units.indexOf(unit) + 1 : 0));
}

/**
 * Whether `value` is a whole number from `least` to `most`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wholeFrom } from "./option.ts";
 * assert.deepEqual([0, 1, 1.5, 10, 11, "5"].map((v) => wholeFrom(v, 1, 10)), [
 *   false, true, false, true, false, false,
 * ]);
 * ```
 */
export function wholeFrom(value: unknown, least: number, most: number): value is number {
  return Number.isSafeInteger(value) && (value as number) >= least && (value as number) <= most;
}
