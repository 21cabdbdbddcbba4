/**
 * ChaCha20-Poly1305 from the system's OpenSSL (`libcrypto.so.3`), through FFI: one cipher
 * context per direction, kept for the whole run, with only the nonce set again for each
 * record. `node:crypto` makes a new cipher object per record, whose cost, not the
 * cipher's, sets the userspace engine's speed; here a record costs five plain calls.
 * Where there is no FFI or no libcrypto, {@link openSslAead} is null and the records use
 * `node:crypto`.
 *
 * @module
 */
import { bindLibrary } from "./libc.ts";

const SYMBOLS = {
  EVP_CIPHER_CTX_new: { parameters: [], result: "pointer" },
  EVP_chacha20_poly1305: { parameters: [], result: "pointer" },
  EVP_EncryptInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "buffer", "buffer"],
    result: "i32",
  },
  EVP_DecryptInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "buffer", "buffer"],
    result: "i32",
  },
  EVP_EncryptUpdate: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_DecryptUpdate: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "i32"],
    result: "i32",
  },
  EVP_EncryptFinal_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  EVP_DecryptFinal_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  EVP_CIPHER_CTX_ctrl: { parameters: ["pointer", "i32", "i32", "buffer"], result: "i32" },
} as const;

const EVP_CTRL_AEAD_GET_TAG = 0x10;
const EVP_CTRL_AEAD_SET_TAG = 0x11;
const TAG_LENGTH = 16;

type Crypto = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
let loaded: Crypto | null | undefined;

function libcrypto(): Crypto | null {
  if (loaded !== undefined) return loaded;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return loaded = null;
    loaded = bindLibrary("libcrypto.so.3", SYMBOLS);
  } catch {
    loaded = null;
  }
  return loaded;
}

/**
 * One direction's AEAD: seals or opens one record where it lies, under its key, with a
 * nonce per record. A record is its data (sealed: its ciphertext) followed by the 16-byte
 * tag.
 */
export interface Aead {
  /** Encrypts all but the last 16 bytes of `record` in place, and writes the tag there. */
  seal(nonce: Uint8Array, aad: Uint8Array, record: Uint8Array): void;
  /**
   * Decrypts `record` in place; false when the tag does not hold (the bytes are then not
   * data, whatever they hold).
   */
  open(nonce: Uint8Array, aad: Uint8Array, record: Uint8Array): boolean;
}

/**
 * Whether OpenSSL's ChaCha20-Poly1305 can be had here through FFI.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openSslAead, openSslAvailable } from "./libcrypto.ts";
 * assert.equal(openSslAvailable(), openSslAead(new Uint8Array(32)) !== null);
 * ```
 */
export function openSslAvailable(): boolean {
  return libcrypto()?.EVP_chacha20_poly1305() ? true : false;
}

/**
 * ChaCha20-Poly1305 under `key` from OpenSSL, or null where it cannot be had.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openSslAead } from "./libcrypto.ts";
 * const aead = openSslAead(new Uint8Array(32).fill(1));
 * if (aead) {
 *   const nonce = new Uint8Array(12), aad = new Uint8Array(5);
 *   const record = new Uint8Array([1, 2, 3, ...new Uint8Array(16)]);
 *   aead.seal(nonce, aad, record);
 *   const sealed = record.slice();
 *   assert.ok(aead.open(nonce, aad, record));
 *   assert.deepEqual(record.subarray(0, 3), new Uint8Array([1, 2, 3]));
 *   sealed[0] ^= 1;
 *   assert.ok(!aead.open(nonce, aad, sealed));
 * }
 * ```
 */
export function openSslAead(key: Uint8Array): Aead | null {
  const c = libcrypto();
  const cipher = c?.EVP_chacha20_poly1305();
  if (!c || !cipher) return null;
  const keyBytes = new Uint8Array(key);
  // A direction only seals or only opens: each context is made when first needed.
  let sealing: Deno.PointerValue = null;
  let opening: Deno.PointerValue = null;
  const context = (encrypt: boolean): Deno.PointerValue => {
    const made = c.EVP_CIPHER_CTX_new();
    const init = encrypt ? c.EVP_EncryptInit_ex : c.EVP_DecryptInit_ex;
    if (!made || init(made, cipher, null, keyBytes, null) !== 1) {
      throw new Error("libcrypto could not set up ChaCha20-Poly1305");
    }
    return made;
  };
  const length = new Uint8Array(4);
  const none = new Uint8Array(0);
  // OpenSSL encrypts and decrypts in place when the output is the input itself.
  return {
    seal(nonce, aad, record) {
      sealing ??= context(true);
      const data = record.subarray(0, record.length - TAG_LENGTH);
      const ok = c.EVP_EncryptInit_ex(sealing, null, null, null, nonce) === 1 &&
        c.EVP_EncryptUpdate(sealing, null, length, aad, aad.length) === 1 &&
        c.EVP_EncryptUpdate(sealing, data, length, data, data.length) === 1 &&
        c.EVP_EncryptFinal_ex(sealing, none, length) === 1 &&
        c.EVP_CIPHER_CTX_ctrl(
            sealing,
            EVP_CTRL_AEAD_GET_TAG,
            TAG_LENGTH,
            record.subarray(data.length),
          ) === 1;
      if (!ok) throw new Error("libcrypto could not seal a record");
    },
    open(nonce, aad, record) {
      opening ??= context(false);
      const data = record.subarray(0, record.length - TAG_LENGTH);
      const tag = record.subarray(data.length);
      return c.EVP_DecryptInit_ex(opening, null, null, null, nonce) === 1 &&
        c.EVP_DecryptUpdate(opening, null, length, aad, aad.length) === 1 &&
        c.EVP_CIPHER_CTX_ctrl(opening, EVP_CTRL_AEAD_SET_TAG, TAG_LENGTH, tag) === 1 &&
        c.EVP_DecryptUpdate(opening, data, length, data, data.length) === 1 &&
        c.EVP_DecryptFinal_ex(opening, none, length) === 1;
    },
  };
}
