/**
 * The cipher of the encrypted data connection's records, ChaCha20-Poly1305 (RFC 8439), in
 * userspace: the system's OpenSSL through FFI where it can be had, else `node:crypto`.
 *
 * @module
 */
import { type Aead, openSslAead, openSslAvailable } from "../platform/libcrypto.ts";

export type { Aead };

/** The length of a record's tag. */
export const TAG_LENGTH = 16;

/**
 * The AEAD for `key`: the system's OpenSSL through FFI where it can be had (one context,
 * a nonce per record), else `node:crypto` (a cipher object per record; see
 * {@link readyUserspaceCipher}). The same ChaCha20-Poly1305 either way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { aeadFor } from "./record_cipher.ts";
 * import { openSslAead } from "../platform/libcrypto.ts";
 * const [nonce, aad] = [new Uint8Array(12), new Uint8Array(5)];
 * const record = new Uint8Array([1, ...new Uint8Array(16)]);
 * aeadFor(new Uint8Array(32)).seal(nonce, aad, record); // OpenSSL's, here: the same cipher
 * assert.equal(openSslAead(new Uint8Array(32))?.open(nonce, aad, record) ?? true, true);
 * ```
 */
export function aeadFor(key: Uint8Array): Aead {
  return openSslAead(key) ?? nodeAead(key);
}

/** `node:crypto`, once loaded: loading it costs some 40 ms of every start, so only on need. */
let nodeCrypto: typeof import("node:crypto") | undefined;

/**
 * Makes the userspace engine's cipher ready: where OpenSSL cannot be had through FFI,
 * loads `node:crypto` (which {@link nodeAead} needs), else nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { aeadFor, readyUserspaceCipher } from "./record_cipher.ts";
 * await readyUserspaceCipher();
 * const aead = aeadFor(new Uint8Array(32));
 * const [nonce, aad] = [new Uint8Array(12), new Uint8Array(5)];
 * const record = new Uint8Array([1, 2, 3, ...new Uint8Array(16)]);
 * aead.seal(nonce, aad, record);
 * assert.notDeepEqual(record.subarray(0, 3), new Uint8Array([1, 2, 3]));
 * assert.equal(aead.open(nonce, aad, record), true);
 * assert.deepEqual(record.subarray(0, 3), new Uint8Array([1, 2, 3]));
 * ```
 */
export async function readyUserspaceCipher(): Promise<void> {
  if (!openSslAvailable()) await loadNodeCipher();
}

/**
 * Loads `node:crypto` for {@link nodeAead}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadNodeCipher, nodeAead } from "./record_cipher.ts";
 * await loadNodeCipher();
 * const record = new Uint8Array(20);
 * nodeAead(new Uint8Array(32)).seal(new Uint8Array(12), new Uint8Array(0), record);
 * record[0] ^= 1; // a changed record never opens
 * assert.equal(nodeAead(new Uint8Array(32)).open(new Uint8Array(12), new Uint8Array(0), record), false);
 * ```
 */
export async function loadNodeCipher(): Promise<void> {
  nodeCrypto ??= await import("node:crypto");
}

/**
 * ChaCha20-Poly1305 under `key` from `node:crypto`: where there is no OpenSSL through FFI.
 * {@link loadNodeCipher} must have run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadNodeCipher, nodeAead } from "./record_cipher.ts";
 * await loadNodeCipher();
 * const aead = nodeAead(new Uint8Array(32));
 * const record = new Uint8Array([7, ...new Uint8Array(16)]); // the data, then room for the tag
 * aead.seal(new Uint8Array(12), new Uint8Array(5), record);
 * assert.notEqual(record[0], 7);
 * assert.ok(aead.open(new Uint8Array(12), new Uint8Array(5), record));
 * assert.equal(record[0], 7);
 * ```
 */
export function nodeAead(key: Uint8Array): Aead {
  if (!nodeCrypto) throw new Error("node:crypto is not loaded: await loadNodeCipher() first");
  const { createCipheriv, createDecipheriv } = nodeCrypto;
  const options = { authTagLength: TAG_LENGTH } as const;
  return {
    seal(nonce, aad, record) {
      const plaintext = record.subarray(0, record.length - TAG_LENGTH);
      const cipher = createCipheriv("chacha20-poly1305", key, nonce, options);
      cipher.setAAD(aad, { plaintextLength: plaintext.length });
      record.set(cipher.update(plaintext));
      cipher.final();
      record.set(cipher.getAuthTag(), plaintext.length);
    },
    open(nonce, aad, record) {
      const ciphertext = record.subarray(0, record.length - TAG_LENGTH);
      const decipher = createDecipheriv("chacha20-poly1305", key, nonce, options);
      decipher.setAAD(aad, { plaintextLength: ciphertext.length });
      decipher.setAuthTag(record.slice(record.length - TAG_LENGTH));
      // Opened into a copy: the record stays as it came until its tag is known to hold.
      const opened = decipher.update(ciphertext);
      try {
        decipher.final();
      } catch {
        return false;
      }
      record.set(opened);
      return true;
    },
  };
}
