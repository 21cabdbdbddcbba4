/**
 * This process's arguments as the kernel holds them. `Deno.args` replaces bytes that are
 * not UTF-8 with U+FFFD and drops a trailing carriage return; `/proc/self/cmdline` keeps
 * every byte. Its last `Deno.args.length` entries are the program's own arguments, however
 * Deno was started (`deno run … main.ts`, a bundle, a compiled binary).
 *
 * @module
 */
import { wordOfBytes } from "../base/words.ts";

/**
 * The program's arguments, each word exact (see `base/words.ts`): from
 * `/proc/self/cmdline` where it can be read and agrees with `Deno.args` in number, else
 * `Deno.args` itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { commandLineWords } from "./command_line.ts";
 * assert.equal(commandLineWords().length, Deno.args.length);
 * ```
 */
export function commandLineWords(): string[] {
  return wordsFrom(readCmdline(), Deno.args);
}

function readCmdline(): Uint8Array | null {
  try {
    return Deno.readFileSync("/proc/self/cmdline");
  } catch {
    return null; // not Linux, or no /proc
  }
}

/**
 * The last `args.length` NUL-terminated entries of `cmdline` as exact words; `args` when
 * there is no cmdline or it holds fewer entries, or when an entry it gives differs from
 * Deno's in more than Deno's known losses (a sign the cmdline is not this program's).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wordsFrom } from "./command_line.ts";
 * const cmdline = new Uint8Array([0x64, 0, 0x61, 0x0d, 0, 0xff, 0]); // d, a\r, \xff
 * assert.deepEqual(wordsFrom(cmdline, ["a", "\ufffd"]), ["a\r", "\udcff"]);
 * assert.deepEqual(wordsFrom(null, ["a"]), ["a"]);
 * assert.deepEqual(wordsFrom(cmdline, ["x", "\ufffd"]), ["x", "\ufffd"]);
 * ```
 */
export function wordsFrom(cmdline: Uint8Array | null, args: readonly string[]): string[] {
  if (!cmdline || args.length === 0) return [...args];
  const entries: Uint8Array[] = [];
  let start = 0;
  for (let index = 0; index < cmdline.length; index++) {
    if (cmdline[index] === 0) {
      entries.push(cmdline.subarray(start, index));
      start = index + 1;
    }
  }
  if (entries.length < args.length) return [...args];
  const words = entries.slice(-args.length).map(wordOfBytes);
  // Deno's losses: a byte that is not UTF-8 becomes U+FFFD (one per run), a trailing CR goes.
  const lossy = (word: string) => word.replace(/[\udc80-\udcff\ufffd]+/g, "").replace(/\r+$/, "");
  const agrees = words.every((word, index) => lossy(word) === lossy(args[index]));
  return agrees ? words : [...args];
}
