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
  return {
    seal(nonce, aad, plaintext, out) {
      sealing ??= context(true);
      const ok = c.EVP_EncryptInit_ex(sealing, null, null, null, nonce) === 1 &&
        c.EVP_EncryptUpdate(sealing, null, length, aad, aad.length) === 1 &&
        c.EVP_EncryptUpdate(sealing, out, length, plaintext, plaintext.length) === 1 &&
        c.EVP_EncryptFinal_ex(sealing, none, length) === 1 &&
        c.EVP_CIPHER_CTX_ctrl(
            sealing,
            EVP_CTRL_AEAD_GET_TAG,
            TAG_LENGTH,
            out.subarray(plaintext.length),
          ) === 1;
      if (!ok) throw new Error("libcrypto could not seal a record");
    },
    open(nonce, aad, sealed, out) {
      opening ??= context(false);
      const ciphertext = sealed.subarray(0, sealed.length - TAG_LENGTH);
      const tag = sealed.subarray(sealed.length - TAG_LENGTH);
      return c.EVP_DecryptInit_ex(opening, null, null, null, nonce) === 1 &&
        c.EVP_DecryptUpdate(opening, null, length, aad, aad.length) === 1 &&
        c.EVP_DecryptUpdate(opening, out, length, ciphertext, ciphertext.length) === 1 &&
        c.EVP_CIPHER_CTX_ctrl(opening, EVP_CTRL_AEAD_SET_TAG, TAG_LENGTH, tag) === 1 &&
        c.EVP_DecryptFinal_ex(opening, none, length) === 1;
    },
  };
}
