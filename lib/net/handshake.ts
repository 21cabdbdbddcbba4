/**
 * The data connection's handshake: each end proves that it knows the run's token, and
 * neither reveals it. The listening side speaks first with a fresh nonce; the connecting
 * side answers with its own nonce and an HMAC-SHA-256, under the token, of both nonces,
 * its role and the protocol version; the listening side checks it and answers with the
 * HMAC of the same under its own role. The connecting side hands its command the socket
 * only after that second proof: a listener that is not the real peer learns two nonces
 * and one MAC it cannot reuse (the next connection has another nonce), and gets no data.
 *
 * Each side sends {@link HANDSHAKE_LENGTH} bytes and receives as many, whichever
 * listens, so that the data paths count the same on both halves.
 *
 * By itself it does not encrypt or authenticate the data that follows: with `--encrypt`,
 * both nonces of a proven connection ({@link provenNonces}) and the token make the keys of
 * its records (`data_keys.ts`); without it, someone on the path between the hosts can
 * read the stream and change it (see SECURITY in the manual).
 *
 * @module
 */
import { REAL_CLOCK } from "../base/clock.ts";
import { closeQuietly, readExactly, writeAll } from "./conn_io.ts";
import { PROTOCOL_VERSION } from "../base/version.ts";

const MAGIC = new TextEncoder().encode("socketpipe");

/** The length of the token the local half makes for each run and sends over the login. */
export const TOKEN_LENGTH = 32;
const NONCE_LENGTH = 32;
const MAC_LENGTH = 32;
const OPENING_LENGTH = MAGIC.length + 1 + NONCE_LENGTH;
/** Bytes each side sends, and receives, during the handshake. */
export const HANDSHAKE_LENGTH = OPENING_LENGTH + MAC_LENGTH;

/**
 * How long either side gives the other to complete the handshake once connected: long
 * enough for the real peer on a saturated host (fifty runs at once on two cores, each
 * login's ssh taking most of a second of CPU, kept a handshake waiting for CPU over 15 s
 * here), and still a bound on a stranger that stalls. A flood of idle strangers is
 * evicted sooner (see `data_listener.ts`), so it cannot keep the real peer out.
 */
export const HANDSHAKE_TIMEOUT_MS = 60_000;

/** The nonces a handshake exchanged: the listening side's and the connecting side's. */
export interface HandshakeNonces {
  /** The listening side's nonce. */
  listener: Uint8Array;
  /** The connecting side's nonce. */
  connector: Uint8Array;
}

/** Every connection this process proved, with its handshake's nonces. */
const proven = new WeakMap<Deno.Conn, HandshakeNonces>();

/**
 * The nonces of `conn`'s handshake, once it proved the token (either side); undefined for
 * a connection that did not.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { provenNonces } from "./handshake.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * assert.equal(provenNonces(conn), undefined);
 * conn.close();
 * listener.close();
 * ```
 */
export function provenNonces(conn: Deno.Conn): HandshakeNonces | undefined {
  return proven.get(conn);
}

/** How a handshake ended, for the side that connected. */
export type ConnectorResult =
  | { ok: true }
  /** The peer is not a socketpipe listener (other bytes, or nothing, came back). */
  | { ok: false; kind: "not-socketpipe"; detail: string }
  /** The peer is a socketpipe listener but did not prove the token, or refused ours. */
  | { ok: false; kind: "refused"; detail: string };

/**
 * A fresh token: 32 random bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newToken } from "./handshake.ts";
 * assert.deepEqual(newToken().length, 32);
 * ```
 */
export function newToken(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(TOKEN_LENGTH));
}

/** The first bytes either side sends: the magic, the protocol version, a fresh nonce. */
function opening(nonce: Uint8Array, version: number): Uint8Array {
  const bytes = new Uint8Array(OPENING_LENGTH);
  bytes.set(MAGIC);
  bytes[MAGIC.length] = version;
  bytes.set(nonce, MAGIC.length + 1);
  return bytes;
}

/** Splits an opening into its version and nonce; null if it is not socketpipe's. */
function parseOpening(bytes: Uint8Array): { version: number; nonce: Uint8Array } | null {
  if (!constantTimeEqual(bytes.subarray(0, MAGIC.length), MAGIC)) return null;
  return { version: bytes[MAGIC.length], nonce: bytes.slice(MAGIC.length + 1, OPENING_LENGTH) };
}

/** The proof of `role`: HMAC-SHA-256 under the token of the role, version and nonces. */
async function proof(
  token: Uint8Array,
  role: "connector" | "listener",
  version: number,
  listenerNonce: Uint8Array,
  connectorNonce: Uint8Array,
): Promise<Uint8Array> {
  const label = new TextEncoder().encode(`socketpipe ${role} `);
  const message = new Uint8Array(label.length + 1 + 2 * NONCE_LENGTH);
  message.set(label);
  message[label.length] = version;
  message.set(listenerNonce, label.length + 1);
  message.set(connectorNonce, label.length + 1 + NONCE_LENGTH);
  return await tokenMac(token, message);
}

/**
 * HMAC-SHA-256 of `message` under the run's token: every proof between the halves.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tokenMac } from "./handshake.ts";
 * const mac = await tokenMac(new Uint8Array(32), new TextEncoder().encode("m"));
 * assert.equal(mac.length, 32);
 * ```
 */
export async function tokenMac(token: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    token as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, message as Uint8Array<ArrayBuffer>));
}

/**
 * Whether `a` and `b` hold the same bytes, in a time that does not depend on where they
 * first differ.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { constantTimeEqual } from "./handshake.ts";
 * assert.equal(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])), true);
 * assert.equal(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])), false);
 * ```
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let index = 0; index < a.length; index++) difference |= a[index] ^ b[index];
  return difference === 0;
}

/**
 * The listening side: sends its nonce, checks the connecting side's proof within
 * `timeoutMs`, and proves itself in turn. True when the connection is authenticated;
 * `onActive` is called once the peer has sent its first byte (a prompt peer, not an idle
 * one). The caller closes a refused connection.
 *
 * @example Not run as a test: it needs a peer on the other end of a connection.
 * ```ts ignore
 * import { proveAsListener } from "./handshake.ts";
 * if (!await proveAsListener(conn, token, 3000)) conn.close();
 * ```
 */
export async function proveAsListener(
  conn: Deno.Conn,
  token: Uint8Array,
  timeoutMs: number,
  onActive: () => void = () => {},
  version = PROTOCOL_VERSION,
): Promise<boolean> {
  return await trueWithin(conn, timeoutMs, async () => {
    const ours = crypto.getRandomValues(new Uint8Array(NONCE_LENGTH));
    await writeAll(conn, opening(ours, version));
    const first = await readExactly(conn, 1);
    if (!first) return false;
    onActive();
    const rest = await readExactly(conn, HANDSHAKE_LENGTH - 1);
    if (!rest) return false;
    const received = new Uint8Array(HANDSHAKE_LENGTH);
    received.set(first);
    received.set(rest, 1);
    const theirs = parseOpening(received.subarray(0, OPENING_LENGTH));
    if (!theirs || theirs.version !== version) return false;
    const expected = await proof(token, "connector", version, ours, theirs.nonce);
    if (!constantTimeEqual(received.subarray(OPENING_LENGTH), expected)) return false;
    await writeAll(conn, await proof(token, "listener", version, ours, theirs.nonce));
    proven.set(conn, { listener: ours, connector: theirs.nonce });
    return true;
  });
}

/**
 * The connecting side: reads the listener's nonce, proves itself, and checks the
 * listener's proof, all within `timeoutMs`. Only `{ ok: true }` means the socket may be
 * handed to a command.
 *
 * @example Not run as a test: it needs a peer on the other end of a connection.
 * ```ts ignore
 * import { proveAsConnector } from "./handshake.ts";
 * const result = await proveAsConnector(conn, token, 3000);
 * if (!result.ok) console.error(result.detail);
 * ```
 */
export async function proveAsConnector(
  conn: Deno.Conn,
  token: Uint8Array,
  timeoutMs: number,
  version = PROTOCOL_VERSION,
): Promise<ConnectorResult> {
  let result: ConnectorResult = {
    ok: false,
    kind: "not-socketpipe",
    detail: `no socketpipe handshake within ${timeoutMs / 1000} s`,
  };
  await trueWithin(conn, timeoutMs, async () => {
    const greeting = await readExactly(conn, OPENING_LENGTH);
    const theirs = greeting && parseOpening(greeting);
    if (!theirs) {
      result = { ok: false, kind: "not-socketpipe", detail: "the peer is not socketpipe" };
      return false;
    }
    if (theirs.version !== version) {
      const detail = `the listener speaks protocol ${theirs.version}, this side ${version}`;
      result = { ok: false, kind: "refused", detail };
      return false;
    }
    const ours = crypto.getRandomValues(new Uint8Array(NONCE_LENGTH));
    const mine = await proof(token, "connector", version, theirs.nonce, ours);
    const message = new Uint8Array(HANDSHAKE_LENGTH);
    message.set(opening(ours, version));
    message.set(mine, OPENING_LENGTH);
    await writeAll(conn, message);
    // From here, a listener that closes, stalls or answers wrong has not proved itself.
    result = { ok: false, kind: "refused", detail: "the listener did not prove the token" };
    const answer = await readExactly(conn, MAC_LENGTH);
    if (!answer) {
      // It may have refused this side's proof (another run's listener), or given up on it.
      const detail = "the listener closed the connection instead of proving the token";
      result = { ok: false, kind: "refused", detail };
      return false;
    }
    const expected = await proof(token, "listener", version, theirs.nonce, ours);
    if (!constantTimeEqual(answer, expected)) return false;
    proven.set(conn, { listener: theirs.nonce, connector: ours });
    result = { ok: true };
    return true;
  });
  return result;
}

/**
 * Runs `step` on `conn` with a deadline: past it, the connection is closed, which ends
 * any read or write in progress. Any failure counts as a refusal, and so does a step that
 * succeeded only after the deadline had closed the connection (a starved event loop can
 * run the timer between the last write and the step's return): a side never takes a
 * connection it has closed.
 */
async function trueWithin(
  conn: Deno.Conn,
  timeoutMs: number,
  step: () => Promise<boolean>,
): Promise<boolean> {
  let expired = false;
  const timer = REAL_CLOCK.after(timeoutMs, () => {
    expired = true;
    closeQuietly(conn);
  });
  try {
    return await step() && !expired;
  } catch {
    return false;
  } finally {
    REAL_CLOCK.clear(timer);
  }
}
