/**
 * Words that every shell a login may run (sh, bash, dash, busybox, ksh, zsh, fish, csh)
 * yields unchanged without quotes. Not `=` first (zsh expands `=ls` to a path), nor `^`
 * (a pipe in the Bourne shell, a glob in zsh), nor `%` (a job in fish and csh), nor `~`.
 */
const SAFE_WORD = /^[A-Za-z0-9_\/.,:+@-][A-Za-z0-9_\/.,:=+@-]*$/;

/**
 * Quotes a word for the shell a login runs so that it yields exactly that word: inside
 * single quotes, with every `'`, `\` and `!` outside them, backslashed (fish reads `\\`
 * and `\'` inside single quotes as escapes, csh expands `!` there, even in `csh -c`). Words made only of safe
 * characters stay as they are, so that simple commands still read naturally (and pass
 * unchanged through a login command that runs no shell, such as `env`). A newline is
 * carried by every shell but the csh family, which cannot take one inside quotes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shellQuote } from "./shell_quote.ts";
 * assert.equal(shellQuote("dd"), "dd");
 * assert.equal(shellQuote("cat > /tmp/x"), "'cat > /tmp/x'");
 * assert.equal(shellQuote("it's"), "'it'\\''s'");
 * assert.equal(shellQuote("=ls"), "'=ls'");
 * ```
 */
export function shellQuote(word: string): string {
  if (SAFE_WORD.test(word)) return word;
  if (word === "") return "''";
  return word.split(/(['\\!])/).map((part) =>
    part === "'" || part === "\\" || part === "!" ? `\\${part}` : part === "" ? "" : `'${part}'`
  ).join("");
}

/**
 * Formats an argv as it is written on socketpipe's command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatBlock } from "./shell_quote.ts";
 * assert.deepEqual(formatBlock(["sh", "-c", "cat > x"]), "{ sh -c 'cat > x' }");
 * ```
 */
export function formatBlock(argv: readonly string[]): string {
  return `{ ${argv.map(shellQuote).join(" ")} }`;
}
