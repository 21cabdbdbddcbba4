/**
 * The copy engine's prototype worker (see `engine_prototype.ts`): one direction, from a
 * pipe's read end to a socket, on this worker's own thread with blocking system calls
 * through FFI, sealing each piece in records with OpenSSL where asked.
 *
 * @module
 */
import { requireLibc } from "../lib/platform/libc.ts";
import { RecordSealer, sealedLength } from "../lib/net/records.ts";

/** What the main thread asks: the descriptors, the piece size, and keys to seal with. */
interface Job {
  from: number;
  to: number;
  piece: number;
  keys?: { key: Uint8Array; iv: Uint8Array };
}

/** This worker's side of its channel to the main thread. */
const scope = self as unknown as {
  onmessage: (event: MessageEvent<Job>) => void;
  postMessage(message: unknown): void;
};

scope.onmessage = (event) => {
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
    for (let at = 0; at < out.length;) {
      const written = Number(c.write(to, out.subarray(at), BigInt(out.length - at)));
      if (written <= 0) throw new Error("write failed");
      at += written;
    }
    moved += count;
  }
  scope.postMessage(moved);
};
