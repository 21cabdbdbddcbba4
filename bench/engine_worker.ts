/**
 * The copy engine's prototype worker (see `engine_prototype.ts`): one direction on this
 * worker's own thread with blocking system calls through FFI: from a pipe to a socket,
 * sealing each piece in records with OpenSSL where asked; or from a socket to a pipe,
 * opening the records in place.
 *
 * @module
 */
import { requireLibc } from "../lib/platform/libc.ts";
import { RECORD_DATA_MAX, RecordOpener, RecordSealer, sealedLength } from "../lib/net/records.ts";

/**
 * What the main thread asks: the descriptors, the piece size, keys to seal with (sending)
 * or to open with (receiving).
 */
interface Job {
  from: number;
  to: number;
  piece: number;
  keys?: { key: Uint8Array; iv: Uint8Array };
  opening?: boolean;
}

/** This worker's side of its channel to the main thread. */
const scope = self as unknown as {
  onmessage: (event: MessageEvent<Job>) => void;
  postMessage(message: unknown): void;
};

scope.onmessage = (event) => {
  if (event.data.opening) return scope.postMessage(open(event.data));
  const { from, to, piece, keys } = event.data;
  const c = requireLibc();
  const buffer = new Uint8Array(piece);
  const sealer = keys ? new RecordSealer(keys) : null;
  const sealed = new Uint8Array(sealedLength(piece));
  let moved = 0;
  for (;;) {
    const count = Number(c.read(from, buffer, BigInt(piece)));
    if (count <= 0) break;
    const out = sealer
      ? sealed.subarray(0, sealer.sealInto(buffer.subarray(0, count), sealed))
      : buffer.subarray(0, count);
    writeAll(to, out);
    moved += count;
  }
  scope.postMessage(moved);
};

/** Writes all of `bytes` to `fd`, blocking. */
function writeAll(fd: number, bytes: Uint8Array): void {
  const c = requireLibc();
  for (let at = 0; at < bytes.length;) {
    const written = Number(c.write(fd, bytes.subarray(at), BigInt(bytes.length - at)));
    if (written <= 0) throw new Error("write failed");
    at += written;
  }
}

/** The receiving direction: sealed records from `from`, their data opened in place to `to`. */
function open({ from, to, piece, keys }: Job): number {
  const c = requireLibc();
  const opener = new RecordOpener(keys!);
  const raw = new Uint8Array(piece + sealedLength(RECORD_DATA_MAX));
  let filled = 0;
  let moved = 0;
  for (;;) {
    const count = Number(c.read(from, raw.subarray(filled), BigInt(raw.length - filled)));
    if (count <= 0) break;
    filled += count;
    const { data, used } = opener.openInPlace(raw.subarray(0, filled));
    writeAll(to, raw.subarray(0, data));
    moved += data;
    raw.copyWithin(0, used, filled);
    filled -= used;
  }
  return moved;
}
