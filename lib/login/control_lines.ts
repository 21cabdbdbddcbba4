/**
 * The marker that starts every control line. Anything else on the login channel is noise
 * from the remote host (a login banner, an rc file's echo) and is shown, not obeyed.
 */
export const CONTROL_MARKER = "#socketpipe:";

/** The longest control line, in bytes, newline included. */
export const MAX_CONTROL_LINE = 64 * 1024;

/**
 * The framing of the login channel: one JSON object per line, each line starting with a
 * marker so that stray text from a login shell's rc files is recognised, shown, and
 * otherwise ignored; lines have a size cap. What the objects mean is `protocol.ts`'s.
 *
 * @module
 */

/** One marked line's object: a JSON object with an `event` name, not yet checked further. */
export interface MarkedObject {
  /** The message's name. */
  event: string;
  /** Its other fields. */
  [field: string]: unknown;
}

/** What the line reader does with lines that are not control messages. */
export interface MarkedLineReaderOptions {
  /** Called with each line that is not a control message, cut to a readable length. */
  onNoise(line: string): void;
  /** Aborted to stop reading at once: the stream is cancelled, and the reading ends. */
  signal?: AbortSignal;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NOISE_SHOWN = 200;

/**
 * Encodes an object as one marked line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeMarkedLine } from "./control_lines.ts";
 * const bytes = encodeMarkedLine({ event: "alive" });
 * assert.equal(new TextDecoder().decode(bytes), '#socketpipe:{"event":"alive"}\n');
 * ```
 */
export function encodeMarkedLine(message: MarkedObject): Uint8Array<ArrayBuffer> {
  const line = encoder.encode(`${CONTROL_MARKER}${JSON.stringify(message)}\n`);
  if (line.length > MAX_CONTROL_LINE) {
    throw new RangeError(`control message '${message.event}' exceeds ${MAX_CONTROL_LINE} bytes`);
  }
  return line;
}

/**
 * Parses one line (without its newline). Returns the message, or a string saying why the
 * line is noise.
 */
function parseMarkedLine(line: string): MarkedObject | string {
  if (!line.startsWith(CONTROL_MARKER)) return line;
  try {
    const value = JSON.parse(line.slice(CONTROL_MARKER.length));
    if (
      value && typeof value === "object" && !Array.isArray(value) && typeof value.event === "string"
    ) {
      return value as MarkedObject;
    }
  } catch {
    // Reported below as a garbled line.
  }
  return `garbled control line ignored: ${line}`;
}

/**
 * Reads marked objects from a byte stream, one per line, showing every other line
 * through `onNoise`. Lines longer than {@link MAX_CONTROL_LINE} are skipped whole (and
 * reported), so a flood of text cannot grow memory. Ends at the end of the stream, or
 * once `signal` is aborted. A reader that stops taking objects (a `break`) leaves the
 * stream to the next reader, uncancelled: what was not yet read stays in it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readMarkedLines } from "./control_lines.ts";
 * const lines = ReadableStream.from([new TextEncoder().encode('banner\n#socketpipe:{"event":"alive"}\n')]);
 * for await (const object of readMarkedLines(lines, { onNoise: console.error })) {
 *   assert.equal(object.event, "alive");
 * }
 * ```
 */
export async function* readMarkedLines(
  stream: ReadableStream<Uint8Array>,
  options: MarkedLineReaderOptions,
): AsyncGenerator<MarkedObject> {
  const reportLine = (bytes: Uint8Array) => {
    let text = decoder.decode(bytes).replace(/\r$/, "");
    // Text a login printed without a newline (a wrapper's `printf banner`) runs into the
    // first marked line: it is the login's noise, and the message starts at the marker.
    const marker = text.indexOf(CONTROL_MARKER);
    if (marker > 0) {
      options.onNoise(shorten(text.slice(0, marker)));
      text = text.slice(marker);
    }
    const parsed = parseMarkedLine(text);
    if (typeof parsed !== "string") return parsed;
    if (parsed !== "") options.onNoise(shorten(parsed));
    return null;
  };
  const reader = stream.getReader();
  const stop = () => reader.cancel().catch(() => {});
  if (options.signal?.aborted) stop();
  options.signal?.addEventListener("abort", stop, { once: true });
  try {
    yield* objectsFrom(reader, reportLine, options);
  } finally {
    options.signal?.removeEventListener("abort", stop);
    reader.releaseLock();
  }
}

/** The objects of the lines `reader` delivers (see {@link readMarkedLines}). */
async function* objectsFrom(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  reportLine: (bytes: Uint8Array) => MarkedObject | null,
  options: MarkedLineReaderOptions,
): AsyncGenerator<MarkedObject> {
  let pending: Uint8Array = new Uint8Array(0);
  let skipping = false; // inside an oversized line: drop bytes until its newline
  for (;;) {
    const { value: chunk, done } = await reader.read();
    if (done) break;
    let start = 0;
    for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, newline);
      start = newline + 1;
      if (skipping) {
        skipping = false;
        continue;
      }
      const line = pending.length ? concat(pending, piece) : piece;
      pending = new Uint8Array(0);
      if (line.length >= MAX_CONTROL_LINE) {
        options.onNoise(`oversized line ignored (${line.length} bytes)`);
        continue;
      }
      const message = reportLine(line);
      if (message) yield message;
    }
    if (skipping) continue;
    const rest = chunk.subarray(start);
    if (pending.length + rest.length >= MAX_CONTROL_LINE) {
      options.onNoise(`oversized line ignored (more than ${MAX_CONTROL_LINE} bytes)`);
      pending = new Uint8Array(0);
      skipping = true;
    } else if (rest.length) {
      pending = concat(pending, rest);
    }
  }
  if (pending.length && !skipping) {
    const message = reportLine(pending);
    if (message) yield message;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

/**
 * Text from the other host made safe for a terminal: every control character (C0, DEL,
 * C1, newlines included) and every bidirectional override becomes a visible escape
 * (`\x1b`, `\u202e`), so that no byte the remote side sends can move the cursor, set a
 * title, ring the bell or reorder a line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shownSafely } from "./control_lines.ts";
 * assert.equal(shownSafely("red \x1b[31m\x07bell"), "red \\x1b[31m\\x07bell");
 * assert.equal(shownSafely("two\nlines"), "two\\x0alines");
 * ```
 */
export function shownSafely(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

function shorten(line: string): string {
  // deno-lint-ignore no-control-regex
  const printable = line.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "?");
  return printable.length > NOISE_SHOWN ? `${printable.slice(0, NOISE_SHOWN)}…` : printable;
}
