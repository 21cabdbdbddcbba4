import { DEFAULT_PEER_TIMEOUT } from "./peer_timeout.ts";
import type { ControlMessage } from "./control_channel.ts";
import { fromHex, TOKEN_LENGTH } from "./handshake.ts";
import { PROTOCOL_VERSION } from "./version.ts";

/** What the local half tells the remote half in the session line. */
export interface Session {
  /** The protocol version the local half speaks. */
  version: number;
  /** The secret the data connection must present. */
  token: Uint8Array;
  /** The port the local half listens on. */
  port: number;
  /** The `-h` address, or null. */
  host: string | null;
  /** The local half's own addresses, tried after `$SSH_CLIENT`. */
  candidates: string[];
  /** Whether an input command feeds the remote command. */
  input: boolean;
  /** Whether an output command reads the remote command's output. */
  output: boolean;
  /** Whether the stream path is forced (`--copy`). */
  copy: boolean;
  /** The dead-peer bound in seconds (0: none). */
  peerTimeout: number;
}

/**
 * Reads a session line's message, or returns one line saying what is wrong with it.
 * A different protocol version is named with both versions.
 *
 * @example
 * ```ts
 * import { sessionFromMessage } from "./session.ts";
 * const session = sessionFromMessage({ event: "session", version: 1, token: "00".repeat(32),
 *   port: 40000, host: null, candidates: ["127.0.0.1"], input: true, output: false });
 * ```
 */
export function sessionFromMessage(message: ControlMessage): Session | string {
  if (message.event !== "session") return `expected the session line, got '${message.event}'`;
  if (message.version !== PROTOCOL_VERSION) {
    return `protocol mismatch: the local socketpipe speaks protocol ${message.version}, ` +
      `this remote socketpipe speaks ${PROTOCOL_VERSION}; install the same version on both hosts`;
  }
  const token = fromHex(message.token, TOKEN_LENGTH);
  const port = message.port;
  if (!token) return "session line has no valid token";
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    return "session line has no valid port";
  }
  const candidates = Array.isArray(message.candidates)
    ? message.candidates.filter((address): address is string => typeof address === "string")
    : [];
  return {
    version: PROTOCOL_VERSION,
    token,
    port,
    host: typeof message.host === "string" ? message.host : null,
    candidates,
    input: message.input === true,
    output: message.output === true,
    copy: message.copy === true,
    peerTimeout: typeof message.peerTimeout === "number" && message.peerTimeout >= 0
      ? message.peerTimeout
      : DEFAULT_PEER_TIMEOUT,
  };
}
