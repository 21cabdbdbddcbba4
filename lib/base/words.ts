/**
 * Words as bytes. A command's argv is bytes, not text: any byte but NUL may stand in a word,
 * and a word must reach the command exactly as the user's shell gave it. socketpipe keeps
 * each word as a string in which every byte that is not part of valid UTF-8 stands as one
 * lone surrogate, U+DC80 + the byte (the convention Python calls "surrogateescape"), so
 * that a word prints as text where it is text and still turns back into its exact bytes.
 *
 * Deno's own `Deno.args` is lossy (invalid UTF-8 becomes U+FFFD and a trailing CR is
 * dropped), and `Deno.Command` turns a lone surrogate into U+FFFD: the words are read
 * from the kernel (`platform/command_line.ts`) and spawned where they survive
 * (`platform/exact_spawn.ts`).
 *
 * @module
 */

const STRICT = new TextDecoder("utf-8", { fatal: true });
const ENCODER = new TextEncoder();
const ESCAPE_BASE = 0xdc00;

/**
 * The word that stands for `bytes`: UTF-8 where they are valid UTF-8, each other byte as
 * U+DC80 + the byte.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wordOfBytes } from "./words.ts";
 * assert.equal(wordOfBytes(new TextEncoder().encode("café")), "café");
 * assert.equal(wordOfBytes(new Uint8Array([0x61, 0xff, 0x0d])), "a\udcff\r");
 * ```
 */
export function wordOfBytes(bytes: Uint8Array): string {
  try {
    return STRICT.decode(bytes);
  } catch {
    // Not all valid UTF-8: decode the valid runs, escape every other byte.
  }
  let word = "";
  let index = 0;
  while (index < bytes.length) {
    const length = validSequenceAt(bytes, index);
    if (length === 0) {
      word += String.fromCharCode(ESCAPE_BASE + bytes[index]);
      index += 1;
    } else {
      word += STRICT.decode(bytes.subarray(index, index + length));
      index += length;
    }
  }
  return word;
}

/** The length of the valid UTF-8 sequence at `index`, or 0 where none starts there. */
function validSequenceAt(bytes: Uint8Array, index: number): number {
  const first = bytes[index];
  if (first < 0x80) return 1;
  const length = first >= 0xc2 && first <= 0xdf
    ? 2
    : first >= 0xe0 && first <= 0xef
    ? 3
    : first >= 0xf0 && first <= 0xf4
    ? 4
    : 0;
  if (length === 0 || index + length > bytes.length) return 0;
  try {
    STRICT.decode(bytes.subarray(index, index + length));
    return length;
  } catch {
    return 0; // an overlong form, a surrogate, a value past U+10FFFF, a bad continuation
  }
}

/**
 * The exact bytes a word stands for (see {@link wordOfBytes}); any other lone surrogate,
 * which no byte string gives, becomes U+FFFD as `TextEncoder` makes it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bytesOfWord } from "./words.ts";
 * assert.deepEqual([...bytesOfWord("a\udcff\r")], [0x61, 0xff, 0x0d]);
 * assert.deepEqual([...bytesOfWord("é")], [0xc3, 0xa9]);
 * ```
 */
export function bytesOfWord(word: string): Uint8Array<ArrayBuffer> {
  if (!hasEscapedBytes(word)) return ENCODER.encode(word);
  const parts: Uint8Array[] = [];
  let run = "";
  for (let index = 0; index < word.length; index++) {
    const unit = word.charCodeAt(index);
    if (unit >= 0xdc80 && unit <= 0xdcff && !isLowHalfOfPair(word, index)) {
      parts.push(ENCODER.encode(run), new Uint8Array([unit - ESCAPE_BASE]));
      run = "";
    } else {
      run += word[index];
    }
  }
  parts.push(ENCODER.encode(run));
  const bytes = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  parts.reduce((offset, part) => (bytes.set(part, offset), offset + part.length), 0);
  return bytes;
}

/** Whether the unit at `index` is the second half of a surrogate pair. */
function isLowHalfOfPair(word: string, index: number): boolean {
  const before = index > 0 ? word.charCodeAt(index - 1) : 0;
  return before >= 0xd800 && before <= 0xdbff;
}

/**
 * Whether `word` holds a byte that is not UTF-8 (which `Deno.Command` would lose).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasEscapedBytes } from "./words.ts";
 * assert.equal(hasEscapedBytes("a\udcff"), true);
 * assert.equal(hasEscapedBytes("a\r😀"), false);
 * ```
 */
export function hasEscapedBytes(word: string): boolean {
  return /(?<![\ud800-\udbff])[\udc80-\udcff]/.test(word);
}

/**
 * Whether every login shell carries `word` unchanged inside quotes: printable ASCII only.
 * A word with any other byte (a newline, which no csh can quote; a CR; bytes that a shell
 * in another locale may re-encode) must travel encoded ({@link encodeWords}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { everyShellCarries } from "./words.ts";
 * assert.equal(everyShellCarries("cat > 'my file'"), true);
 * assert.equal(everyShellCarries("a\nb"), false);
 * assert.equal(everyShellCarries("café"), false);
 * ```
 */
export function everyShellCarries(word: string): boolean {
  return /^[\x20-\x7e]*$/.test(word);
}

/**
 * Words as the remote half's command line carries them when some word is not one that
 * every shell carries: each word's bytes in hex (an empty word as `-`, which no hex is).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeWords, encodeWords } from "./words.ts";
 * assert.deepEqual(encodeWords(["a\n", ""]), ["610a", "-"]);
 * assert.deepEqual(decodeWords(encodeWords(["\udcff\r", "é", ""])), ["\udcff\r", "é", ""]);
 * ```
 */
export function encodeWords(words: readonly string[]): string[] {
  return words.map((word) => {
    const bytes = bytesOfWord(word);
    if (bytes.length === 0) return "-";
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  });
}

/**
 * The words {@link encodeWords} made; null when one is not its form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeWords } from "./words.ts";
 * assert.deepEqual(decodeWords(["6869"]), ["hi"]);
 * assert.equal(decodeWords(["6g"]), null);
 * ```
 */
export function decodeWords(encoded: readonly string[]): string[] | null {
  const words: string[] = [];
  for (const hex of encoded) {
    if (hex === "-") {
      words.push("");
      continue;
    }
    if (!/^([0-9a-f]{2})+$/.test(hex)) return null;
    const bytes = new Uint8Array(hex.length / 2);
    for (let index = 0; index < bytes.length; index++) {
      bytes[index] = parseInt(hex.slice(2 * index, 2 * index + 2), 16);
    }
    words.push(wordOfBytes(bytes));
  }
  return words;
}
