/**
 * The last few lines a command wrote on its stderr, kept while they pass through: what a
 * script reads in the report when a command failed ("No space left on device").
 *
 * @module
 */

/** How many lines are kept. */
export const LAST_LINES = 3;
/** The most characters kept of one line. */
const LINE_LIMIT = 200;

/**
 * Keeps the last {@link LAST_LINES} non-blank lines of what is added, each cut to 200
 * characters; memory stays bounded whatever passes (a line without end included).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LastLines } from "./last_lines.ts";
 * const tail = new LastLines();
 * tail.add(new TextEncoder().encode("one\ntwo\n\nthree\nfour: No sp"));
 * tail.add(new TextEncoder().encode("ace left on device\n"));
 * assert.deepEqual(tail.lines(), ["two", "three", "four: No space left on device"]);
 * ```
 */
export class LastLines {
  #decoder = new TextDecoder();
  #lines: string[] = [];
  #partial = "";

  /** Adds what the command wrote next. */
  add(chunk: Uint8Array): void {
    const text = this.#partial + this.#decoder.decode(chunk, { stream: true });
    const lines = text.split("\n");
    this.#partial = lines.pop()!.slice(0, LINE_LIMIT); // the start of a line says most
    for (const line of lines) this.#keep(line);
  }

  /** The lines kept, oldest first, with an unfinished last line. */
  lines(): string[] {
    const kept = [...this.#lines];
    const partial = this.#partial.trim();
    if (partial) kept.push(partial.slice(0, LINE_LIMIT));
    return kept.slice(-LAST_LINES);
  }

  #keep(line: string): void {
    const trimmed = line.trim();
    if (!trimmed) return;
    this.#lines.push(trimmed.slice(0, LINE_LIMIT));
    if (this.#lines.length > LAST_LINES) this.#lines.shift();
  }
}
