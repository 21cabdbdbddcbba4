/**
 * The keys of an encrypted data connection, one key and IV per direction, derived with
 * HKDF-SHA-256 (RFC 5869) from the run's token (which never crosses the data connection)
 * and both nonces of the handshake that proved it: every connection gets keys of its own,
 * even if a token were ever used twice, and the two directions never share a key or an IV.
 * The labels name the protocol version and the direction.
 *
 * @module
 */
import { PROTOCOL_VERSION } from "../base/version.ts";
import type { HandshakeNonces } from "./handshake.ts";
import type { DirectionKeys } from "./records.ts";

/** The two directions' keys, named by the halves, whichever of them listened. */
export interface DataKeys {
  /** What the local half sends (its input command's bytes). */
  localToRemote: DirectionKeys;
  /** What the remote half sends (its command's output). */
  remoteToLocal: DirectionKeys;
}

/**
 * Derives both directions' keys from `token` and the handshake's `nonces`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deriveDataKeys } from "./data_keys.ts";
 * const token = new Uint8Array(32).fill(7);
 * const nonces = { listener: new Uint8Array(32).fill(1), connector: new Uint8Array(32).fill(2) };
 * const keys = await deriveDataKeys(token, nonces);
 * assert.equal(keys.localToRemote.key.length, 32);
 * assert.equal(keys.localToRemote.iv.length, 12);
 * assert.notDeepEqual(keys.localToRemote.key, keys.remoteToLocal.key);
 * const again = await deriveDataKeys(token, { ...nonces, connector: new Uint8Array(32).fill(3) });
 * assert.notDeepEqual(again.localToRemote.key, keys.localToRemote.key);
 * ```
 */
export async function deriveDataKeys(
  token: Uint8Array,
  nonces: HandshakeNonces,
  version = PROTOCOL_VERSION,
): Promise<DataKeys> {
  const secret = await crypto.subtle.importKey(
    "raw",
    new Uint8Array(token),
    "HKDF",
    false,
    ["deriveBits"],
  );
  const salt = new Uint8Array(nonces.listener.length + nonces.connector.length);
  salt.set(nonces.listener);
  salt.set(nonces.connector, nonces.listener.length);
  const direction = async (name: string): Promise<DirectionKeys> => {
    const info = new TextEncoder().encode(`socketpipe ${version} data ${name}`);
    const bits = new Uint8Array(
      await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info }, secret, 44 * 8),
    );
    return { key: bits.slice(0, 32), iv: bits.slice(32, 44) };
  };
  return {
    localToRemote: await direction("local to remote"),
    remoteToLocal: await direction("remote to local"),
  };
}
