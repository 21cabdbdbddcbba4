/**
 * Where the streams stand when the halves meet again after a cut (`--reconnect`): each
 * half says how much of its peer's stream it has taken, and whether its end, under an
 * HMAC of the run's token over the new connection's handshake nonces. A relay that replays
 * an earlier connection's words, or changes a position, fails the proof: a sender can be
 * made neither to skip bytes nor to send them twice.
 *
 * @module
 */
import { closeQuietly, readExactly, writeAll } from "./conn_io.ts";
import { constantTimeEqual, provenNonces, tokenMac } from "./handshake.ts";
import { REAL_CLOCK } from "../base/clock.ts";

/** How much of its peer's stream a half has taken, and whether the end. */
export interface StreamPosition {
  /** The bytes taken. */
  position: number;
  /** Whether the peer's end of the stream arrived. */
  ended: boolean;
}

const MAC_LENGTH = 32;
const MESSAGE_LENGTH = 9 + MAC_LENGTH;

/** The message of `role`'s position on a connection with `nonces`' handshake. */
async function signed(
  token: Uint8Array,
  role: "local" | "remote",
  nonces: { listener: Uint8Array; connector: Uint8Array },
  stand: StreamPosition,
): Promise<Uint8Array> {
  const body = new Uint8Array(9);
  const view = new DataView(body.buffer);
  view.setUint32(0, Math.floor(stand.position / 0x100000000));
  view.setUint32(4, stand.position >>> 0);
  body[8] = stand.ended ? 1 : 0;
  const label = new TextEncoder().encode(`socketpipe position ${role} `);
  const signedBytes = new Uint8Array(label.length + 64 + 9);
  signedBytes.set(label);
  signedBytes.set(nonces.listener, label.length);
  signedBytes.set(nonces.connector, label.length + 32);
  signedBytes.set(body, label.length + 64);
  const mac = await tokenMac(token, signedBytes);
  const message = new Uint8Array(MESSAGE_LENGTH);
  message.set(body);
  message.set(mac, 9);
  return message;
}

/**
 * Sends this half's position on a proven connection and reads the peer's, within
 * `timeoutMs`; the peer's, or why there is none (the connection is then closed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exchangePositions } from "./rejoin.ts";
 * import { newToken, proveAsConnector, proveAsListener } from "./handshake.ts";
 * const token = newToken();
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const dialled = Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * const accepted = await listener.accept();
 * const conn = await dialled;
 * await Promise.all([proveAsListener(accepted, token, 5000), proveAsConnector(conn, token, 5000)]);
 * const [local, remote] = await Promise.all([
 *   exchangePositions(accepted, token, "local", { position: 5, ended: false }, 5000),
 *   exchangePositions(conn, token, "remote", { position: 2 ** 40, ended: true }, 5000),
 * ]);
 * assert.deepEqual(local, { position: 2 ** 40, ended: true });
 * assert.deepEqual(remote, { position: 5, ended: false });
 * accepted.close();
 * conn.close();
 * listener.close();
 * ```
 */
export async function exchangePositions(
  conn: Deno.Conn,
  token: Uint8Array,
  role: "local" | "remote",
  mine: StreamPosition,
  timeoutMs: number,
): Promise<StreamPosition | string> {
  const nonces = provenNonces(conn);
  if (!nonces) return "the connection did not prove the token";
  const timer = REAL_CLOCK.after(timeoutMs, () => closeQuietly(conn));
  try {
    const [, theirs] = await Promise.all([
      signed(token, role, nonces, mine).then((message) => writeAll(conn, message)),
      readExactly(conn, MESSAGE_LENGTH),
    ]);
    if (!theirs) return "the peer closed the connection before saying where its stream stands";
    const view = new DataView(theirs.buffer, theirs.byteOffset, 9);
    const stand = {
      position: view.getUint32(0) * 0x100000000 + view.getUint32(4),
      ended: theirs[8] === 1,
    };
    const peer = role === "local" ? "remote" : "local";
    const expected = await signed(token, peer, nonces, stand);
    // (A flag byte other than 0 or 1 is re-signed as 0: it fails the comparison too.)
    return constantTimeEqual(theirs, expected)
      ? stand
      : "the peer's position did not prove the token";
  } catch (error) {
    return `the position could not be exchanged: ${(error as Error).message}`;
  } finally {
    REAL_CLOCK.clear(timer);
  }
}
