/**
 * Spawning with `Deno.Command` without losing a byte of a word. Deno hands a command its
 * arguments as UTF-8 and turns every lone surrogate, which stands for a byte that is not
 * UTF-8 (see `base/words.ts`), into U+FFFD. Where a word holds such a byte, the command is
 * started by `/bin/sh`, whose script (ASCII only) rebuilds each word from octal escapes
 * with `printf` and `exec`s the command: no process stays between.
 *
 * @module
 */
import { bytesOfWord, hasEscapedBytes } from "../base/words.ts";

/**
 * The program and arguments to give `Deno.Command` so that the command gets exactly
 * `argv`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exactInvocation } from "./exact_spawn.ts";
 * assert.deepEqual(exactInvocation(["printf", "%s", "a\r"]), ["printf", ["%s", "a\r"]]);
 * const [program, args] = exactInvocation(["printf", "%s", "a\udcff"]);
 * const { stdout } = new Deno.Command(program, { args }).outputSync();
 * assert.deepEqual([...stdout], [0x61, 0xff]);
 * ```
 */
export function exactInvocation(argv: readonly string[]): [string, string[]] {
  if (!argv.some(hasEscapedBytes)) return [argv[0], argv.slice(1)];
  const names = argv.map((_, index) => `w${index}`);
  const build = argv.map((word, index) =>
    // The "x" keeps a trailing newline from the command substitution, which strips it.
    `${names[index]}=$(printf '${octal(bytesOfWord(word))}x'); ${names[index]}=\${${
      names[index]
    }%x}`
  );
  const script = `${build.join("; ")}; exec ${names.map((name) => `"$${name}"`).join(" ")}`;
  return ["/bin/sh", ["-c", script, "sh"]];
}

/** `bytes` as a printf format that prints them: letters and digits as they are. */
function octal(bytes: Uint8Array): string {
  return Array.from(
    bytes,
    (byte) =>
      /[A-Za-z0-9_./]/.test(String.fromCharCode(byte)) // never "-" first: an option to printf
        ? String.fromCharCode(byte)
        : `\\${byte.toString(8).padStart(3, "0")}`,
  ).join("");
}
