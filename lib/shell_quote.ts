const SAFE_WORD = /^[A-Za-z0-9_\/.,:=+@%^-]+$/;

/**
 * Quotes a word for a POSIX shell so that the shell yields exactly that word. Words made
 * only of safe characters stay as they are, so that simple commands still read naturally
 * (and pass unchanged through a login command that runs no shell, such as `env`).
 *
 * @example
 * ```ts
 * import { shellQuote } from "./shell_quote.ts";
 * shellQuote("dd");            // "dd"
 * shellQuote("cat > /tmp/x");  // "'cat > /tmp/x'"
 * shellQuote("it's");          // "'it'\\''s'"
 * ```
 */
export function shellQuote(word: string): string {
  if (SAFE_WORD.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
