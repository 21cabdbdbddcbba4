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
import { type Aead, aeadFor, TAG_LENGTH } from "./record_cipher.ts";

/** The most plaintext one record carries (2^14 bytes, as TLS allows). */
export const RECORD_DATA_MAX = 16384;
const HEADER_LENGTH = 5;
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

/** The most records a direction may carry: every nonce stays distinct (far beyond any stream). */
const RECORDS_MAX = Number.MAX_SAFE_INTEGER;

/** Writes into `nonce` the nonce of record `number`: the IV XOR the number, big-endian. */
function setNonce(nonce: Uint8Array, iv: Uint8Array, number: number): void {
  if (number >= RECORDS_MAX) throw new RecordError("a direction ran out of record numbers");
  nonce.set(iv);
  let low = number >>> 0;
  let high = Math.floor(number / 0x100000000);
  for (let index = 11; index >= 8; index--, low >>>= 8) nonce[index] ^= low & 0xff;
  for (let index = 7; index >= 4; index--, high >>>= 8) nonce[index] ^= high & 0xff;
}

/** How many bytes `length` bytes of data take as records. */
export function sealedLength(length: number): number {
  return length + Math.ceil(length / RECORD_DATA_MAX) * (HEADER_LENGTH + 1 + TAG_LENGTH);
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
  #number = 0;
  readonly #nonce = new Uint8Array(12);
  readonly #aead: Aead;

  /** `aead`: the cipher to use (a test's), else {@link aeadFor}'s. */
  constructor(readonly keys: DirectionKeys, aead?: Aead) {
    this.#aead = aead ?? aeadFor(keys.key);
  }

  /** `data` as records of at most {@link RECORD_DATA_MAX} bytes each, in a new buffer. */
  seal(data: Uint8Array): Uint8Array {
    const out = new Uint8Array(sealedLength(data.length));
    this.sealInto(data, out);
    return out;
  }

  /**
   * Seals `data` into `out` (at least {@link sealedLength} of it), allocating nothing;
   * returns how many bytes of `out` the records fill.
   */
  sealInto(data: Uint8Array, out: Uint8Array): number {
    let at = 0;
    for (let from = 0; from < data.length; from += RECORD_DATA_MAX) {
      const piece = data.subarray(from, from + RECORD_DATA_MAX);
      const length = piece.length + 1 + TAG_LENGTH;
      out[at] = APPLICATION_DATA;
      out[at + 1] = 3;
      out[at + 2] = 3;
      out[at + 3] = length >> 8;
      out[at + 4] = length & 0xff;
      const record = out.subarray(at + HEADER_LENGTH, at + HEADER_LENGTH + length);
      record.set(piece);
      record[piece.length] = APPLICATION_DATA;
      setNonce(this.#nonce, this.keys.iv, this.#number++);
      this.#aead.seal(this.#nonce, out.subarray(at, at + HEADER_LENGTH), record);
      at += HEADER_LENGTH + length;
    }
    return at;
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
  #number = 0;
  #buffer = new Uint8Array(0);
  readonly #nonce = new Uint8Array(12);
  readonly #aead: Aead;

  /** `aead`: the cipher to use (a test's), else {@link aeadFor}'s. */
  constructor(readonly keys: DirectionKeys, aead?: Aead) {
    this.#aead = aead ?? aeadFor(keys.key);
  }

  /** The data of every record that `bytes` completes, in order, each in a new buffer. */
  open(bytes: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.#buffer.length + bytes.length);
    joined.set(this.#buffer);
    joined.set(bytes, this.#buffer.length);
    const data: Uint8Array[] = [];
    let at = 0;
    for (;;) {
      const rest = joined.subarray(at);
      const { data: length, used } = this.openInPlace(rest, 1);
      if (used === 0) break;
      if (length > 0) data.push(rest.slice(0, length));
      at += used;
    }
    this.#buffer = joined.slice(at);
    return data;
  }

  /** Bytes given to {@link open} that do not yet make a whole record (at the end: a cut record). */
  pending(): number {
    return this.#buffer.length;
  }

  /**
   * Opens the whole records at the start of `bytes` where they lie, allocating nothing:
   * their data ends up together at the front of `bytes` (`data` bytes of it), and `used`
   * says how many bytes the records took; what follows them is the start of a record still
   * to come, for the caller to keep. Stops once the records opened hold `atMost` data bytes.
   */
  openInPlace(bytes: Uint8Array, atMost = Infinity): { data: number; used: number } {
    let data = 0;
    let at = 0;
    while (bytes.length - at >= HEADER_LENGTH && data < atMost) {
      if (bytes[at] !== APPLICATION_DATA || bytes[at + 1] !== 3 || bytes[at + 2] !== 3) {
        throw new RecordError("a record with a header that is not socketpipe's");
      }
      const length = (bytes[at + 3] << 8) | bytes[at + 4];
      if (length < 1 + TAG_LENGTH || length > CIPHERTEXT_MAX) {
        throw new RecordError(`a record of impossible length ${length}`);
      }
      if (bytes.length - at < HEADER_LENGTH + length) break;
      const record = bytes.subarray(at + HEADER_LENGTH, at + HEADER_LENGTH + length);
      setNonce(this.#nonce, this.keys.iv, this.#number++);
      if (!this.#aead.open(this.#nonce, bytes.subarray(at, at + HEADER_LENGTH), record)) {
        throw new RecordError(
          "a record failed its authentication (changed, replayed or not from the peer)",
        );
      }
      // The content type is the last byte that is not padding.
      let end = length - TAG_LENGTH;
      while (end > 0 && record[end - 1] === 0) end--;
      if (end === 0 || record[end - 1] !== APPLICATION_DATA) {
        throw new RecordError("a record that carries no data");
      }
      bytes.copyWithin(data, at + HEADER_LENGTH, at + HEADER_LENGTH + end - 1);
      data += end - 1;
      at += HEADER_LENGTH + length;
    }
    return { data, used: at };
  }
}
