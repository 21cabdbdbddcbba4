/**
 * The data connection as the stream path copies through it: plain, or sealed in records
 * (`--encrypt` where the kernel cannot do it: the userspace engine). Either way the copy
 * loops see plaintext, so what they count is what the commands wrote and read.
 *
 * @module
 */
import { closeQuietly, writeAll } from "./conn_io.ts";
import {
  type DirectionKeys,
  RECORD_DATA_MAX,
  RecordError,
  RecordOpener,
  RecordSealer,
  sealedLength,
} from "./records.ts";

/** The cipher of every record. */
export const CIPHER = "ChaCha20-Poly1305";

/** What the stream path needs of the data connection. */
export interface DataWire {
  /**
   * The next plaintext bytes, or null at the end of the stream: a view of the wire's own
   * buffer, good until the next read (nothing is copied to hand it over).
   */
  read(): Promise<Uint8Array | null>;
  /** Writes all of `bytes`. */
  write(bytes: Uint8Array): Promise<void>;
  /** Ends the sending direction (the peer reads the end of the stream). */
  closeWrite(): Promise<void>;
  /** Closes the connection, both ways; safe twice. */
  close(): void;
}

/** The keys of one half: what it seals with, and what it opens with. */
export interface WireKeys {
  /** This half's sending direction. */
  send: DirectionKeys;
  /** The peer's sending direction. */
  receive: DirectionKeys;
}

/** Bytes read from the socket at a time. */
const READ_SIZE = 256 * 1024;

/**
 * `conn` as it is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { plainWire } from "./data_wire.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * const peer = await listener.accept();
 * await plainWire(conn).write(new Uint8Array([1, 2]));
 * assert.equal(await peer.read(new Uint8Array(8)), 2);
 * await peer.write(new Uint8Array([3]));
 * assert.deepEqual(await plainWire(conn).read(), new Uint8Array([3]));
 * conn.close();
 * peer.close();
 * listener.close();
 * ```
 */
export function plainWire(conn: Deno.TcpConn): DataWire {
  const buffer = new Uint8Array(READ_SIZE);
  return {
    async read() {
      const count = await conn.read(buffer);
      return count === null ? null : buffer.subarray(0, count);
    },
    write: (bytes) => writeAll(conn, bytes),
    closeWrite: () => conn.closeWrite(),
    close: () => closeQuietly(conn),
  };
}

/**
 * `conn` with every byte sealed in records under `keys.send` and opened under
 * `keys.receive`. A record that fails, or a stream that ends inside a record, is a read
 * that fails with a {@link RecordError}: never a byte of it is delivered.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sealedWire } from "./data_wire.ts";
 * const a = { key: new Uint8Array(32).fill(1), iv: new Uint8Array(12).fill(1) };
 * const b = { key: new Uint8Array(32).fill(2), iv: new Uint8Array(12).fill(2) };
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * const peer = await listener.accept();
 * await sealedWire(conn, { send: a, receive: b }).write(new TextEncoder().encode("secret"));
 * const raw = new Uint8Array(64);
 * const count = await peer.read(raw);
 * assert.equal(count, 5 + 6 + 1 + 16);
 * assert.ok(!new TextDecoder().decode(raw).includes("secret"));
 * conn.close();
 * peer.close();
 * listener.close();
 * ```
 */
export function sealedWire(conn: Deno.TcpConn, keys: WireKeys): DataWire {
  const sealer = new RecordSealer(keys.send);
  const opener = new RecordOpener(keys.receive);
  // Records are opened where they were read, and their data handed over from there; a
  // record cut by a read moves to the front and the next read completes it.
  const raw = new Uint8Array(READ_SIZE + sealedLength(RECORD_DATA_MAX));
  let filled = 0;
  let used = 0;
  let sealed = new Uint8Array(sealedLength(64 * 1024));
  return {
    async read() {
      for (;;) {
        raw.copyWithin(0, used, filled);
        filled -= used;
        used = 0;
        const count = await conn.read(raw.subarray(filled));
        if (count === null) {
          if (filled > 0) throw new RecordError("the stream ended inside a record");
          return null;
        }
        filled += count;
        const opened = opener.openInPlace(raw.subarray(0, filled));
        used = opened.used;
        if (opened.data > 0) return raw.subarray(0, opened.data);
      }
    },
    write(bytes) {
      if (sealed.length < sealedLength(bytes.length)) {
        sealed = new Uint8Array(sealedLength(bytes.length));
      }
      return writeAll(conn, sealed.subarray(0, sealer.sealInto(bytes, sealed)));
    },
    closeWrite: () => conn.closeWrite(),
    close: () => closeQuietly(conn),
  };
}
