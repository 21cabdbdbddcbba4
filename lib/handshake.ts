import { closeQuietly, readExactly, writeAll } from "./conn_io.ts";
import { PROTOCOL_VERSION } from "./version.ts";

const MAGIC = new TextEncoder().encode("socketpipe");

/** The length in bytes of a token. */
export const TOKEN_LENGTH = 32;

/** The length in bytes of the handshake the connecting side sends: magic, version, token. */
export const HANDSHAKE_LENGTH = MAGIC.length + 1 + TOKEN_LENGTH;

/** The one byte the accepting side answers when the token is right. */
const HANDSHAKE_ACCEPTED = 0x2b; // "+"

/**
 * Makes a fresh random session token.
 *
 * @example
 * ```ts
 * import { newToken } from "./handshake.ts";
 * newToken().length; // 32
 * ```
 */
export function newToken(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(TOKEN_LENGTH));
}

/**
 * Encodes the handshake the connecting side sends before any data.
 *
 * @example
 * ```ts
 * import { encodeHandshake, newToken, HANDSHAKE_LENGTH } from "./handshake.ts";
 * encodeHandshake(newToken()).length === HANDSHAKE_LENGTH; // true
 * ```
 */
export function encodeHandshake(token: Uint8Array, version = PROTOCOL_VERSION): Uint8Array {
  const bytes = new Uint8Array(HANDSHAKE_LENGTH);
  bytes.set(MAGIC);
  bytes[MAGIC.length] = version;
  bytes.set(token, MAGIC.length + 1);
  return bytes;
}

/**
 * Compares two byte arrays in time that depends only on their length, so that a
 * connecting stranger learns nothing about the token from how fast it is refused.
 */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let index = 0; index < a.length; index++) difference |= a[index] ^ b[index];
  return difference === 0;
}

/**
 * Checks the handshake on an accepted connection and answers it. Resolves true only
 * for the right magic, version and token; the caller closes a refused connection.
 * A peer that does not complete the handshake within `timeoutMs` is refused.
 *
 * @example
 * ```ts ignore
 * import { checkHandshake, newToken } from "./handshake.ts";
 * declare const conn: Deno.Conn;
 * const accepted = await checkHandshake(conn, newToken(), 5000);
 * ```
 */
export async function checkHandshake(
  conn: Deno.Conn,
  token: Uint8Array,
  timeoutMs: number,
): Promise<boolean> {
  return await trueWithin(conn, timeoutMs, async () => {
    const received = await readExactly(conn, HANDSHAKE_LENGTH);
    if (!received || !constantTimeEqual(received, encodeHandshake(token))) return false;
    await writeAll(conn, new Uint8Array([HANDSHAKE_ACCEPTED]));
    return true;
  });
}

/**
 * Presents the token on a new connection and waits for the acceptance byte.
 * Resolves true when accepted; false when the accepting side closes instead.
 *
 * @example
 * ```ts ignore
 * import { presentToken, newToken } from "./handshake.ts";
 * declare const conn: Deno.Conn;
 * if (!await presentToken(conn, newToken(), 5000)) throw new Error("token rejected");
 * ```
 */
export async function presentToken(
  conn: Deno.Conn,
  token: Uint8Array,
  timeoutMs: number,
): Promise<boolean> {
  return await trueWithin(conn, timeoutMs, async () => {
    await writeAll(conn, encodeHandshake(token));
    const answer = await readExactly(conn, 1);
    return answer !== null && answer[0] === HANDSHAKE_ACCEPTED;
  });
}

/**
 * Runs one side of the handshake with a deadline: at the deadline the connection is
 * closed, which fails the pending read or write; any failure counts as a refusal.
 */
async function trueWithin(
  conn: Deno.Conn,
  timeoutMs: number,
  step: () => Promise<boolean>,
): Promise<boolean> {
  const timer = setTimeout(() => closeQuietly(conn), timeoutMs);
  try {
    return await step();
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
