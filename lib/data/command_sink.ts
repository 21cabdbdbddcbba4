/**
 * Where the stream path hands a command its bytes: the command's stdin pipe. Written
 * through a hold of this process's own on the pipe (FFI), so that when the command stops
 * reading, what it read is known exactly: what went into the pipe, less what is still in
 * it. Through Deno's writer, all that is known is what the pipe took, up to its capacity
 * (64 KiB) more than the command read.
 *
 * @module
 */
import { closeFd, duplicateFd, unreadBytes, writeToPipe } from "../platform/file_descriptors.ts";
import { libc } from "../platform/libc.ts";

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
}

/**
 * The sink of a command's stdin: `stdin` is Deno's end of its pipe, `pipeFd` the fd this
 * process knows it by (null if not known, or without FFI: Deno's writer alone is used).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { commandSink } from "./command_sink.ts";
 * const child = new Deno.Command("head", { args: ["-c", "3"], stdin: "piped", stdout: "null" }).spawn();
 * const sink = commandSink(child.stdin, null);
 * assert.equal(await sink.write(new Uint8Array(3)), 3);
 * await sink.close();
 * assert.equal((await child.status).code, 0);
 * ```
 */
export function commandSink(stdin: WritableStream<Uint8Array>, pipeFd: number | null): CommandSink {
  const writer = stdin.getWriter();
  const own = pipeFd !== null && libc() ? duplicateFd(pipeFd) : null;
  if (own === null) {
    return {
      write: (bytes) => writer.write(bytes).then(() => bytes.length, () => 0),
      leftUnread: () => 0,
      close: () => writer.close().catch(() => {}),
    };
  }
  let closed = false;
  return {
    write: (bytes) => closed ? Promise.resolve(0) : writeToPipe(own, bytes),
    leftUnread: () => closed ? 0 : unreadBytes(own),
    async close() {
      if (!closed) closeFd(own);
      closed = true;
      await writer.close().catch(() => {});
    },
  };
}

/** A sink nobody reads: every write fails, as a write to a pipe whose reader is gone. */
export const NO_READER: CommandSink = {
  write: () => Promise.resolve(0),
  leftUnread: () => 0,
  close: () => Promise.resolve(),
};
