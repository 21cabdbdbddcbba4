/** Reading and writing whole byte runs on a `Deno.Conn`, and closing one quietly. */

/**
 * Reads exactly `length` bytes, never more, so that no data byte after them is consumed.
 * Returns null when the peer closes first.
 *
 * @example Not run as a test: it needs a peer on the other end of a connection.
 * ```ts ignore
 * import { readExactly } from "./conn_io.ts";
 * declare const conn: Deno.Conn;
 * const header = await readExactly(conn, 43);
 * ```
 */
export async function readExactly(conn: Deno.Conn, length: number): Promise<Uint8Array | null> {
  const bytes = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const count = await conn.read(bytes.subarray(filled));
    if (count === null) return null;
    filled += count;
  }
  return bytes;
}

/**
 * Writes all of `bytes` to a connection.
 *
 * @example Not run as a test: it needs a peer on the other end of a connection.
 * ```ts ignore
 * import { writeAll } from "./conn_io.ts";
 * declare const conn: Deno.Conn;
 * await writeAll(conn, new TextEncoder().encode("hello"));
 * ```
 */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/**
 * Closes a connection, ignoring one that is already closed.
 *
 * @example Not run as a test: it needs a peer on the other end of a connection.
 * ```ts ignore
 * import { closeQuietly } from "./conn_io.ts";
 * declare const conn: Deno.Conn;
 * closeQuietly(conn);
 * ```
 */
export function closeQuietly(closable: { close(): void }): void {
  try {
    closable.close();
  } catch {
    // Already closed.
  }
}
