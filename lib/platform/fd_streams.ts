/**
 * Web streams over raw file descriptors (a pipe received from another process, which no
 * Deno API can open): reading that never leaves a read(2) pending, and writing that never
 * holds this thread.
 *
 * @module
 */
import { Errno, lastError, requireLibc } from "./libc.ts";
import { readableSoon, setNonBlocking, writeToPipe } from "./file_descriptors.ts";

const CHUNK_BYTES = 64 * 1024;

/**
 * What `fd` delivers, as a stream. A read(2) is made only for a reader that asks (never
 * ahead of it), once poll(2) says there is something to read, and never after the stream
 * was cancelled: so once its reader lets go of it, or a cancel has settled, nothing more
 * is taken from `fd`, and another process that shares it reads what comes next. The
 * stream does not close `fd`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readableOfFd } from "./fd_streams.ts";
 * import { closeFd, makePipe } from "./file_descriptors.ts";
 * const [readEnd, writeEnd] = makePipe();
 * Deno.writeTextFileSync(`/proc/self/fd/${writeEnd}`, "hi");
 * closeFd(writeEnd);
 * const text = await new Response(readableOfFd(readEnd)).text();
 * assert.equal(text, "hi");
 * closeFd(readEnd);
 * ```
 */
export function readableOfFd(fd: number): ReadableStream<Uint8Array> {
  const c = requireLibc();
  let cancelled = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const buffer = new Uint8Array(CHUNK_BYTES);
      for (;;) {
        if (cancelled) return;
        const ready = await readableSoon(fd);
        if (cancelled) return;
        if (!ready) continue;
        const count = Number(c.read(fd, buffer, BigInt(buffer.length)));
        if (count > 0) return controller.enqueue(buffer.slice(0, count));
        if (count === 0) return controller.close();
        const error = lastError("read");
        if (error.errno !== Errno.EAGAIN && error.errno !== Errno.EINTR) throw error;
      }
    },
    cancel() {
      cancelled = true;
    },
    // Nothing is read ahead of a reader: a stream let go of takes nothing more from `fd`.
  }, { highWaterMark: 0 });
}

/**
 * A stream whose chunks go into `fd`, which is put in non-blocking mode: a full pipe
 * waits on a worker thread, never on this one. A write fails once the reader has gone.
 * The stream does not close `fd`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writableOfFd } from "./fd_streams.ts";
 * import { closeFd, makePipe, unreadBytes } from "./file_descriptors.ts";
 * const [readEnd, writeEnd] = makePipe();
 * const writer = writableOfFd(writeEnd).getWriter();
 * await writer.write(new Uint8Array(3));
 * assert.equal(unreadBytes(readEnd), 3);
 * closeFd(readEnd);
 * await assert.rejects(writer.write(new Uint8Array(3)), /reader has gone/);
 * closeFd(writeEnd);
 * ```
 */
export function writableOfFd(fd: number): WritableStream<Uint8Array> {
  setNonBlocking(fd);
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      const written = await writeToPipe(fd, chunk);
      if (written < chunk.length) {
        throw new Error(`write: the reader has gone (${written} of ${chunk.length} bytes taken)`);
      }
    },
  });
}
