/**
 * The encrypted data connection's records, as TLS 1.3 frames them (RFC 8446 §5.2), so that
 * a kernel that speaks kTLS reads and writes the very same bytes: a 5-byte header (type
 * 23, version 0x0303, the length), then the AEAD ciphertext of the data and its content
 * type, then a 16-byte tag. The cipher is ChaCha20-Poly1305 (RFC 8439): it has no limit a
 * backup stream could reach (AES-GCM's RFC 8446 §5.5 limit is about 2^24.5 records per
 * key, some 390 GB, and kTLS cannot rekey before Linux 6.14) and is fast in software.
 * Each direction has its own key and IV; a record's nonce is the IV XOR its 64-bit number,
 * so that no nonce repeats within a run, and keys are new for every run (see
 * `data_keys.ts`).
 *
 * @module
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { type Aead, openSslAead } from "../platform/libcrypto.ts";

export type { Aead };

/** The most plaintext one record carries (2^14 bytes, as TLS allows). */
export const RECORD_DATA_MAX = 16384;
const HEADER_LENGTH = 5;
const TAG_LENGTH = 16;
const APPLICATION_DATA = 23;
/** A record's ciphertext may be this much longer than its data (RFC 8446 §5.2). */
const CIPHERTEXT_MAX = RECORD_DATA_MAX + 256;

/** One direction's key (32 bytes) and IV (12 bytes). */
export interface DirectionKeys {
  /** The ChaCha20-Poly1305 key. */
  key: Uint8Array;
  /** The per-direction IV, XORed with each record's number to make its nonce. */
  iv: Uint8Array;
}

/**
 * The AEAD for `key`: the system's OpenSSL through FFI where it can be had (one context,
 * a nonce per record), else `node:crypto` (a cipher object per record). The same
 * ChaCha20-Poly1305 either way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { aeadFor } from "./records.ts";
 * assert.equal(typeof aeadFor(new Uint8Array(32)).seal, "function");
 * ```
 */
export function aeadFor(key: Uint8Array): Aead {
  return openSslAead(key) ?? nodeAead(key);
}

/**
 * ChaCha20-Poly1305 under `key` from `node:crypto`: where there is no OpenSSL through FFI.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nodeAead } from "./records.ts";
 * const aead = nodeAead(new Uint8Array(32));
 * const sealed = new Uint8Array(1 + 16);
 * aead.seal(new Uint8Array(12), new Uint8Array(5), new Uint8Array([7]), sealed);
 * const opened = new Uint8Array(1);
 * assert.ok(aead.open(new Uint8Array(12), new Uint8Array(5), sealed, opened));
 * assert.deepEqual(opened, new Uint8Array([7]));
 * ```
 */
export function nodeAead(key: Uint8Array): Aead {
  const options = { authTagLength: TAG_LENGTH } as const;
  return {
    seal(nonce, aad, plaintext, out) {
      const cipher = createCipheriv("chacha20-poly1305", key, nonce, options);
      cipher.setAAD(aad, { plaintextLength: plaintext.length });
      out.set(cipher.update(plaintext));
      cipher.final();
      out.set(cipher.getAuthTag(), plaintext.length);
    },
    open(nonce, aad, sealed, out) {
      const ciphertext = sealed.subarray(0, sealed.length - TAG_LENGTH);
      const decipher = createDecipheriv("chacha20-poly1305", key, nonce, options);
      decipher.setAAD(aad, { plaintextLength: ciphertext.length });
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH));
      try {
        out.set(decipher.update(ciphertext));
        decipher.final();
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** The nonce of record `number`: the IV XOR the number, big-endian in its last 8 bytes. */
function nonceOf(iv: Uint8Array, number: bigint): Uint8Array {
  const nonce = iv.slice();
  for (let index = 0; index < 8; index++) {
    nonce[11 - index] ^= Number((number >> BigInt(8 * index)) & 0xffn);
  }
  return nonce;
}

/**
 * Seals data into records, numbering them from 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RecordOpener, RecordSealer } from "./records.ts";
 * const keys = { key: new Uint8Array(32).fill(1), iv: new Uint8Array(12).fill(2) };
 * const sealed = new RecordSealer(keys).seal(new TextEncoder().encode("hello"));
 * assert.equal(sealed.length, 5 + 5 + 1 + 16); // header, data, content type, tag
 * assert.deepEqual(sealed.subarray(0, 3), new Uint8Array([23, 3, 3]));
 * const opened = new RecordOpener(keys).open(sealed);
 * assert.deepEqual(opened, [new TextEncoder().encode("hello")]);
 * ```
 */
export class RecordSealer {
  #number = 0n;

  /** `data` as records of at most {@link RECORD_DATA_MAX} bytes each, in one buffer. */
  seal(data: Uint8Array): Uint8Array {
    const count = Math.ceil(data.length / RECORD_DATA_MAX);
    const out = new Uint8Array(data.length + count * (HEADER_LENGTH + 1 + TAG_LENGTH));
    let at = 0;
    for (let from = 0; from < data.length; from += RECORD_DATA_MAX) {
      at += this.#sealOne(data.subarray(from, from + RECORD_DATA_MAX), out.subarray(at));
    }
    return out;
  }

  /** The record's plaintext: its data, then its content type. */
  #inner = new Uint8Array(RECORD_DATA_MAX + 1);
  readonly #aead: Aead;

  /** `aead`: the cipher to use (a test's), else {@link aeadFor}'s. */
  constructor(readonly keys: DirectionKeys, aead?: Aead) {
    this.#aead = aead ?? aeadFor(keys.key);
  }

  #sealOne(data: Uint8Array, out: Uint8Array): number {
    const length = data.length + 1 + TAG_LENGTH;
    const header = out.subarray(0, HEADER_LENGTH);
    header.set([APPLICATION_DATA, 3, 3, length >> 8, length & 0xff]);
    const inner = this.#inner.subarray(0, data.length + 1);
    inner.set(data);
    inner[data.length] = APPLICATION_DATA;
    const nonce = nonceOf(this.keys.iv, this.#number++);
    this.#aead.seal(nonce, header, inner, out.subarray(HEADER_LENGTH, HEADER_LENGTH + length));
    return HEADER_LENGTH + length;
  }
}

/** Why the received records cannot be data: never a byte of them is delivered. */
export class RecordError extends Error {
  /** `message` names what was wrong with the record. */
  constructor(message: string) {
    super(message);
    this.name = "RecordError";
  }
}

/**
 * Opens records as their bytes arrive, in any pieces, numbering them from 0: a record
 * changed, dropped, replayed or reordered fails its tag, and throws a {@link RecordError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RecordError, RecordOpener, RecordSealer } from "./records.ts";
 * const keys = { key: new Uint8Array(32), iv: new Uint8Array(12) };
 * const sealed = new RecordSealer(keys).seal(new Uint8Array(40000));
 * const opener = new RecordOpener(keys);
 * const pieces = [...opener.open(sealed.subarray(0, 7)), ...opener.open(sealed.subarray(7))];
 * assert.equal(pieces.reduce((total, piece) => total + piece.length, 0), 40000);
 * assert.equal(opener.pending(), 0);
 * sealed[100] ^= 1;
 * assert.throws(() => new RecordOpener(keys).open(sealed), RecordError);
 * ```
 */
export class RecordOpener {
  #number = 0n;
  #buffer = new Uint8Array(0);
  readonly #aead: Aead;

  /** `aead`: the cipher to use (a test's), else {@link aeadFor}'s. */
  constructor(readonly keys: DirectionKeys, aead?: Aead) {
    this.#aead = aead ?? aeadFor(keys.key);
  }

  /** The data of every record that `bytes` completes, in order. */
  open(bytes: Uint8Array): Uint8Array[] {
    // Only a record cut across two reads is copied; whole records are opened where they lie.
    let joined = bytes;
    if (this.#buffer.length > 0) {
      joined = new Uint8Array(this.#buffer.length + bytes.length);
      joined.set(this.#buffer);
      joined.set(bytes, this.#buffer.length);
    }
    const data: Uint8Array[] = [];
    let at = 0;
    while (joined.length - at >= HEADER_LENGTH) {
      const header = joined.subarray(at, at + HEADER_LENGTH);
      const length = (header[3] << 8) | header[4];
      if (header[0] !== APPLICATION_DATA || header[1] !== 3 || header[2] !== 3) {
        throw new RecordError("a record with a header that is not socketpipe's");
      }
      if (length < 1 + TAG_LENGTH || length > CIPHERTEXT_MAX) {
        throw new RecordError(`a record of impossible length ${length}`);
      }
      if (joined.length - at < HEADER_LENGTH + length) break;
      const record = joined.subarray(at + HEADER_LENGTH, at + HEADER_LENGTH + length);
      const opened = this.#openOne(header, record);
      if (opened.length > 0) data.push(opened);
      at += HEADER_LENGTH + length;
    }
    this.#buffer = joined.slice(at);
    return data;
  }

  /** Bytes received that do not yet make a whole record (at the end: a cut record). */
  pending(): number {
    return this.#buffer.length;
  }

  #openOne(header: Uint8Array, record: Uint8Array): Uint8Array {
    const inner = new Uint8Array(record.length - TAG_LENGTH);
    const nonce = nonceOf(this.keys.iv, this.#number++);
    if (!this.#aead.open(nonce, header, record, inner)) {
      throw new RecordError(
        "a record failed its authentication (changed, replayed or not from the peer)",
      );
    }
    // The content type is the last byte that is not padding.
    let end = inner.length;
    while (end > 0 && inner[end - 1] === 0) end--;
    if (end === 0 || inner[end - 1] !== APPLICATION_DATA) {
      throw new RecordError("a record that carries no data");
    }
    return new Uint8Array(inner.buffer, inner.byteOffset, end - 1);
  }
}
