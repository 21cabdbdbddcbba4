/** Hex encoding: tokens travel as hex in the session line. */

/**
 * Encodes bytes as lowercase hex (tokens travel as hex in the session line).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toHex } from "./hex.ts";
 * assert.deepEqual(toHex(new Uint8Array([1, 255])), "01ff");
 * ```
 */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Decodes lowercase or uppercase hex; null when it is not hex of the expected length.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromHex } from "./hex.ts";
 * assert.deepEqual(fromHex("01ff", 2), new Uint8Array([1, 255]));
 * assert.equal(fromHex("01ff", 3), null); // the wrong length
 * ```
 */
export function fromHex(text: unknown, length: number): Uint8Array | null {
  if (typeof text !== "string" || text.length !== length * 2 || !/^[0-9a-fA-F]*$/.test(text)) {
    return null;
  }
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index++) {
    bytes[index] = parseInt(text.slice(index * 2, index * 2 + 2), 16);
  }
  return bytes;
}
