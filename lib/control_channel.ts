/**
 * The marker that starts every control line. Anything else on the login channel is noise
 * from the remote host (a login banner, an rc file's echo) and is shown, not obeyed.
 */
export const CONTROL_MARKER = "#socketpipe:";

/** The longest control line, in bytes, newline included. */
export const MAX_CONTROL_LINE = 64 * 1024;

/** One message on the login channel: a JSON object with an `event` name. */
export interface ControlMessage {
  event: string;
  [field: string]: unknown;
}

/** What the line reader does with lines that are not control messages. */
export interface ControlReaderOptions {
  /** Called with each line that is not a control message, cut to a readable length. */
  onNoise(line: string): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NOISE_SHOWN = 200;

/**
 * Encodes a control message as one marked line.
 *
 * @example
 * ```ts
 * import { encodeControlMessage } from "./control_channel.ts";
 * encodeControlMessage({ event: "hello", version: 1 }); // bytes of '#socketpipe:{"event":"hello","version":1}\n'
 * ```
 */
export function encodeControlMessage(message: ControlMessage): Uint8Array {
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
function parseControlLine(line: string): ControlMessage | string {
  if (!line.startsWith(CONTROL_MARKER)) return line;
  try {
    const value = JSON.parse(line.slice(CONTROL_MARKER.length));
    if (
      value && typeof value === "object" && !Array.isArray(value) && typeof value.event === "string"
    ) {
      return value as ControlMessage;
    }
  } catch {
    // Reported below as a garbled line.
  }
  return `garbled control line ignored: ${line}`;
}

/**
 * Reads control messages from a byte stream, one per line, showing every other line
 * through `onNoise`. Lines longer than {@link MAX_CONTROL_LINE} are skipped whole (and
 * reported), so a flood of text cannot grow memory. Ends at the end of the stream.
 *
 * @example
 * ```ts
 * import { readControlMessages } from "./control_channel.ts";
 * const child = new Deno.Command("echo", { args: ['#socketpipe:{"event":"hello"}'], stdout: "piped" }).spawn();
 * for await (const message of readControlMessages(child.stdout, { onNoise: console.error })) {
 *   console.log(message.event); // "hello"
 * }
 * ```
 */
export async function* readControlMessages(
  stream: ReadableStream<Uint8Array>,
  options: ControlReaderOptions,
): AsyncGenerator<ControlMessage> {
  let pending: Uint8Array = new Uint8Array(0);
  let skipping = false; // inside an oversized line: drop bytes until its newline
  const reportLine = (bytes: Uint8Array) => {
    const parsed = parseControlLine(decoder.decode(bytes).replace(/\r$/, ""));
    if (typeof parsed !== "string") return parsed;
    if (parsed !== "") options.onNoise(shorten(parsed));
    return null;
  };
  for await (const chunk of stream) {
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

function shorten(line: string): string {
  // deno-lint-ignore no-control-regex
  const printable = line.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "?");
  return printable.length > NOISE_SHOWN ? `${printable.slice(0, NOISE_SHOWN)}…` : printable;
}

/**
 * Sends control messages on a byte stream, one whole line per write, in order.
 *
 * @example
 * ```ts
 * import { ControlSender } from "./control_channel.ts";
 * const sender = new ControlSender(Deno.stdout.writable);
 * await sender.send({ event: "hello", version: 1 });
 * ```
 */
export class ControlSender {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #closed = false;

  constructor(stream: WritableStream<Uint8Array>) {
    this.#writer = stream.getWriter();
  }

  /** Sends one message. Fails if the channel is closed. */
  async send(message: ControlMessage): Promise<void> {
    await this.#writer.write(encodeControlMessage(message));
  }

  /** Sends one message, ignoring a channel that is already gone. */
  async trySend(message: ControlMessage): Promise<boolean> {
    if (this.#closed) return false;
    try {
      await this.send(message);
      return true;
    } catch {
      return false;
    }
  }

  /** Closes the channel (the peer reads end of file); safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writer.close().catch(() => {});
  }
}
