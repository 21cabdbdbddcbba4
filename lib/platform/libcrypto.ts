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

/** One direction's AEAD: seals or opens a record under its key, with a nonce per record. */
export interface Aead {
  /**
   * Seals `plaintext` with `nonce` and the additional data `aad` into `out`: the
   * ciphertext, then the 16-byte tag (`out` is `plaintext.length + 16` bytes).
   */
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void;
  /**
   * Opens `sealed` (ciphertext, then tag) into `out`; false when the tag does not hold.
   */
  open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array): boolean;
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
 *   const sealed = new Uint8Array(3 + 16);
 *   aead.seal(nonce, aad, new Uint8Array([1, 2, 3]), sealed);
 *   const opened = new Uint8Array(3);
 *   assert.ok(aead.open(nonce, aad, sealed, opened));
 *   assert.deepEqual(opened, new Uint8Array([1, 2, 3]));
 *   sealed[0] ^= 1;
 *   assert.ok(!aead.open(nonce, aad, sealed, opened));
 * }
 * ```
 */
export function openSslAead(key: Uint8Array): Aead | null {
  const c = libcrypto();
  if (!c) return null;
  const cipher = c.EVP_chacha20_poly1305();
  const sealing = c.EVP_CIPHER_CTX_new();
  const opening = c.EVP_CIPHER_CTX_new();
  const keyBytes = new Uint8Array(key);
  if (
    !cipher || !sealing || !opening ||
    c.EVP_EncryptInit_ex(sealing, cipher, null, keyBytes, null) !== 1 ||
    c.EVP_DecryptInit_ex(opening, cipher, null, keyBytes, null) !== 1
  ) {
    return null;
  }
  const length = new Int32Array(1);
  const lengthBytes = new Uint8Array(length.buffer);
  const none = new Uint8Array(0);
  return {
    seal(nonce, aad, plaintext, out) {
      const ok = c.EVP_EncryptInit_ex(sealing, null, null, null, new Uint8Array(nonce)) === 1 &&
        c.EVP_EncryptUpdate(sealing, null, lengthBytes, aad, aad.length) === 1 &&
        c.EVP_EncryptUpdate(sealing, out, lengthBytes, plaintext, plaintext.length) === 1 &&
        c.EVP_EncryptFinal_ex(sealing, none, lengthBytes) === 1 &&
        c.EVP_CIPHER_CTX_ctrl(
            sealing,
            EVP_CTRL_AEAD_GET_TAG,
            TAG_LENGTH,
            out.subarray(plaintext.length),
          ) === 1;
      if (!ok) throw new Error("libcrypto could not seal a record");
    },
    open(nonce, aad, sealed, out) {
      const ciphertext = sealed.subarray(0, sealed.length - TAG_LENGTH);
      const tag = new Uint8Array(sealed.subarray(sealed.length - TAG_LENGTH));
      return c.EVP_DecryptInit_ex(opening, null, null, null, new Uint8Array(nonce)) === 1 &&
        c.EVP_DecryptUpdate(opening, null, lengthBytes, aad, aad.length) === 1 &&
        c.EVP_DecryptUpdate(opening, out, lengthBytes, ciphertext, ciphertext.length) === 1 &&
        c.EVP_CIPHER_CTX_ctrl(opening, EVP_CTRL_AEAD_SET_TAG, TAG_LENGTH, tag) === 1 &&
        c.EVP_DecryptFinal_ex(opening, none, lengthBytes) === 1;
    },
  };
}
