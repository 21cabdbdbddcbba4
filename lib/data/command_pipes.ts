/**
 * The ends of a command's pipes as the stream path's copy loops use them: its stdin, to
 * write (a {@link CommandSink}), and its stdout, to read (a {@link CommandSource}). Where
 * socketpipe made the pipes itself (FFI), it knows exactly what a command that stops
 * reading read: what went into its pipe, less what is still there; through Deno's
 * streams, only what the pipe took, up to its capacity (64 KiB) more.
 *
 * @module
 */
import { closeFd, readSomeUntil, unreadBytes, writeToPipe } from "../platform/file_descriptors.ts";

/** A command's stdin, as the copy loop writes to it. */
export interface CommandSink {
  /**
   * Writes `bytes`; resolves with how many the command's pipe took: all, or fewer once
   * the command has stopped reading (none through Deno's writer, which cannot tell).
   */
  write(bytes: Uint8Array): Promise<number>;
  /**
   * What the command never read of what its pipe took, once it has stopped reading
   * (0 where that cannot be told).
   */
  leftUnread(): number;
  /** Ends the command's input (end of file, once every holder of the pipe let go). */
  close(): Promise<void>;
  /**
   * The write end of the pipe, where socketpipe made it (non-blocking; -1 where nobody
   * reads), for the copy engine to write itself; absent through Deno's writer.
   */
  readonly fd?: number;
}

/** A command's stdout, as the copy loop reads it. */
export interface CommandSource {
  /**
   * The next bytes the command wrote, or null at end of file or once cancelled. The bytes
   * are good until the next call.
   */
  read(): Promise<Uint8Array | null>;
  /** Stops reading: the command's next write fails (SIGPIPE), as when a pipe's reader is gone. */
  cancel(): void;
  /**
   * The read end of the pipe, where socketpipe made it (non-blocking), for the copy engine
   * to read itself; absent through Deno's reader.
   */
  readonly fd?: number;
}

/** How much of a command's output one read takes: a pipe's default capacity. */
const CHUNK = 64 * 1024;

/**
 * The sink of the write end of a command's stdin pipe that this process made (FFI).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeFd, makePipe } from "../platform/file_descriptors.ts";
 * import { pipeSink } from "./command_pipes.ts";
 * const [readEnd, writeEnd] = makePipe("write");
 * const sink = pipeSink(writeEnd);
 * assert.equal(await sink.write(new Uint8Array(10)), 10);
 * assert.equal(sink.leftUnread(), 10);
 * await sink.close();
 * closeFd(readEnd);
 * ```
 */
export function pipeSink(fd: number): CommandSink {
  let closed = false;
  return {
    fd,
    write: (bytes) => closed ? Promise.resolve(0) : writeToPipe(fd, bytes).catch(() => 0),
    leftUnread: () => closed ? 0 : unreadBytes(fd),
    close() {
      if (!closed) closeFd(fd);
      closed = true;
      return Promise.resolve();
    },
  };
}

/**
 * The sink of a command's stdin through Deno's writer (where FFI is not permitted).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { streamSink } from "./command_pipes.ts";
 * const child = new Deno.Command("head", { args: ["-c", "3"], stdin: "piped", stdout: "null" }).spawn();
 * const sink = streamSink(child.stdin);
 * assert.equal(await sink.write(new Uint8Array(3)), 3);
 * await sink.close();
 * assert.equal((await child.status).code, 0);
 * ```
 */
export function streamSink(stdin: WritableStream<Uint8Array>): CommandSink {
  const writer = stdin.getWriter();
  return {
    write: (bytes) => writer.write(bytes).then(() => bytes.length, () => 0),
    leftUnread: () => 0,
    close: () => writer.close().catch(() => {}),
  };
}

/** A sink nobody reads: every write fails, as a write to a pipe whose reader is gone. */
export const NO_READER: CommandSink = {
  fd: -1,
  write: () => Promise.resolve(0),
  leftUnread: () => 0,
  close: () => Promise.resolve(),
};

/**
 * The source of the read end of a command's stdout pipe that this process made (FFI,
 * non-blocking). The fd is closed at end of file, or on cancel (within a quarter second
 * of it, if a read is under way).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeFd, makePipe, writeToPipe } from "../platform/file_descriptors.ts";
 * import { pipeSource } from "./command_pipes.ts";
 * const [readEnd, writeEnd] = makePipe();
 * await writeToPipe(writeEnd, new Uint8Array([1, 2]));
 * closeFd(writeEnd);
 * const source = pipeSource(readEnd);
 * assert.deepEqual(await source.read(), new Uint8Array([1, 2]));
 * assert.equal(await source.read(), null);
 * ```
 */
export function pipeSource(fd: number): CommandSource {
  const buffer = new Uint8Array(CHUNK);
  let cancelled = false;
  let reading = false;
  let closed = false;
  const close = () => {
    if (!closed) closeFd(fd);
    closed = true;
  };
  return {
    fd,
    async read() {
      if (closed) return null;
      reading = true;
      try {
        const count = await readSomeUntil(fd, buffer, () => cancelled);
        if (!count) {
          close();
          return null;
        }
        return buffer.subarray(0, count);
      } catch (error) {
        close();
        throw error;
      } finally {
        reading = false;
        if (cancelled) close();
      }
    },
    cancel() {
      cancelled = true;
      if (!reading) close();
    },
  };
}

/**
 * The source of a command's stdout through Deno's reader (where FFI is not permitted).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { streamSource } from "./command_pipes.ts";
 * const source = streamSource(ReadableStream.from([new Uint8Array([7])]));
 * assert.deepEqual(await source.read(), new Uint8Array([7]));
 * assert.equal(await source.read(), null);
 * ```
 */
export function streamSource(stdout: ReadableStream<Uint8Array>): CommandSource {
  const reader = stdout.getReader();
  return {
    read: () => reader.read().then(({ value, done }) => done ? null : value),
    cancel: () => void reader.cancel().catch(() => {}),
  };
}

/**
 * What arrives on the read end of a pipe this process made (non-blocking), until end of
 * file; then closes it. Each chunk is good until the next.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeFd, makePipe, writeToPipe } from "../platform/file_descriptors.ts";
 * import { chunksOfPipe } from "./command_pipes.ts";
 * const [readEnd, writeEnd] = makePipe();
 * await writeToPipe(writeEnd, new Uint8Array([1]));
 * closeFd(writeEnd);
 * const sizes = [];
 * for await (const chunk of chunksOfPipe(readEnd)) sizes.push(chunk.length);
 * assert.deepEqual(sizes, [1]);
 * ```
 */
export async function* chunksOfPipe(fd: number): AsyncGenerator<Uint8Array> {
  const buffer = new Uint8Array(CHUNK);
  try {
    for (let count; (count = await readSomeUntil(fd, buffer, () => false)) !== 0;) {
      yield buffer.subarray(0, count!);
    }
  } finally {
    closeFd(fd);
  }
}
