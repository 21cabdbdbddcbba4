/**
 * The control protocol: every message the two halves exchange on the login channel, one
 * encoder and one decoder. Field names on the wire are the names in memory. The greeting
 * of each half (`hello` from the remote half, `session` from the local half) carries the
 * protocol version, and `hello` and `error` keep their shape across versions, so that a
 * mismatch is always reported with both versions named.
 *
 * Over 300 lines on purpose: each message's type sits beside its schema and what its
 * decoder checks beyond the schema, so that a new field is one place to look, and the one
 * decoder sees every message.
 *
 * @module
 */
import { type CommandStatus, signalNumber } from "../base/command_status.ts";
import { encodeMarkedLine, type MarkedObject, shownSafely } from "./control_lines.ts";
import type { ByteCounts } from "../data/data_path.ts";
import { LAST_LINES } from "../base/last_lines.ts";
import { FAULTS } from "../base/faults.ts";
import { PROTOCOL_VERSION } from "../base/version.ts";
import type { Settings } from "../session/connection_options.ts";
import { decodeSettings, SETTINGS_SCHEMA } from "../session/settings.ts";
import { isOfKind, WIRE_KINDS } from "../session/wire_kinds.ts";

/** The remote half's greeting, sent as soon as it starts. */
export interface HelloMessage {
  event: "hello";
  /** The protocol version the remote half speaks. */
  version: number;
  /** The remote socketpipe's own version. */
  program: string;
}

/** The local half's greeting: everything the remote half needs to meet it. */
export interface SessionMessage {
  event: "session";
  /** The protocol version the local half speaks. */
  version: number;
  /** The secret the data connection must present, in hex. */
  token: string;
  /** Which half listens for the data connection: "local" (default) or "remote". */
  listen: "local" | "remote";
  /** The port the local half listens on (0 when the remote half listens). */
  port: number;
  /** For a listening remote half: the ports it may use (`--port`), or null: any. */
  ports: [number, number] | null;
  /** For a listening remote half: the address it binds (`--bind`), or null: all. */
  bind: string | null;
  /** The `-h` address, or null. */
  host: string | null;
  /** The local half's own addresses, tried after `$SSH_CLIENT`. */
  candidates: string[];
  /** The local half's network identity (boot id and network namespace), or null. */
  identity: string | null;
  /** Whether an input command feeds the remote command. */
  input: boolean;
  /** Whether an output command reads the remote command's output. */
  output: boolean;
  /** What both halves do with the data connection: the options that reach the remote half. */
  settings: Settings;
  /**
   * After a cut of the login (`--reconnect`): the socket of the remote half that waits to
   * be joined again ({@link RejoinAtMessage}). This invocation proves the token there and
   * hands it the new login's stdin, stdout and stderr, instead of running a command.
   */
  rejoin: string | null;
}

/** The remote half listens (`--listen remote`): where the local half may reach it. */
export interface ListeningMessage {
  event: "listening";
  /** The port it listens on. */
  port: number;
  /** Its own addresses. */
  addresses: string[];
  /** The address the login reached on its host (from `$SSH_CONNECTION`), or null. */
  reached: string | null;
  /** Its network identity, or null. */
  identity: string | null;
}

/** Either half: still here (sent by the heartbeat). */
export interface AliveMessage {
  event: "alive";
}

/** The remote half cannot go on: which step failed, and why. */
export interface ErrorMessage {
  event: "error";
  /** The step that failed ("session", "connect", …). */
  step: string;
  /** What happened, on one line. */
  message: string;
  /** Its fault's name in the remote half's catalogue, when it has one (see FaultClass). */
  kind?: string;
  /** Whether trying again can help, when the remote half knows. */
  retry?: boolean;
}

/**
 * The local half: it is being stopped (Ctrl-Z, SIGTSTP) and will not answer until
 * `resumed`; its silence meanwhile is not a fault.
 */
export interface PausedMessage {
  event: "paused";
}

/** The local half: it runs again after `paused`. */
export interface ResumedMessage {
  event: "resumed";
}

/** Either half: the consumer of the stream that comes from the other half has gone. */
export interface ConsumerGoneMessage {
  event: "consumer-gone";
}

/**
 * The local half: its input has ended and every byte of it reached the data connection's
 * far end (acknowledged there), `bytes` in all. The stream toward the remote host is
 * whole once that many have arrived, whether or not its FIN follows (a relay on the path
 * may withhold it for ever).
 */
export interface SentMessage {
  event: "sent";
  /** The bytes the input command sent, all of them. */
  bytes: number;
}

/**
 * The remote half, once met, with `--reconnect`: where it waits should the login be cut
 * (a Unix socket in a directory only its user can enter).
 */
export interface RejoinAtMessage {
  event: "rejoin-at";
  /** The socket's path on the remote host. */
  path: string;
}

/**
 * The remote invocation of a login started again: it handed the login to the waiting
 * remote half, which speaks from here on. Its last word.
 */
export interface HandedMessage {
  event: "handed";
}

/**
 * The local half, on a login started again once the remote invocation has `handed` it
 * over: the waiting remote half may speak (it says nothing before, lest the local half's
 * reading of the invocation's lines take its words).
 */
export interface RejoinedMessage {
  event: "rejoined";
}

/**
 * The local half, with `--reconnect`, as it ends the run itself (its report came, it was
 * interrupted, it failed): the login's end that follows is the run's end, not a cut.
 */
export interface EndingMessage {
  event: "ending";
}

/** The remote half's final report: its command's status and its byte counts. */
export interface ExitMessage {
  event: "exit";
  /** How the remote command ended. */
  status: CommandStatus;
  /** Whether its output was cut off because the output command had gone. */
  cutOff: boolean;
  /** The remote half's byte counts. */
  counts: ByteCounts;
  /** The remote half's data connection failure, or null. */
  error: string | null;
  /**
   * Whether the remote command reopened its input or output by name (`/dev/stdin`),
   * which fails on the socket of the zero-copy path.
   */
  reopened?: boolean;
  /** Where the remote half sealed the records of an encrypted run ("userspace"). */
  encryption?: string;
  /** The remote host's name, as it calls itself. */
  host?: string;
  /** The last lines the remote command wrote on its stderr (at most three). */
  stderr?: string[];
  /** What each option did to the data connection there (`{ congestion: "cubic" }`). */
  applied?: Record<string, string>;
}

/**
 * The bootstrap of a provisioned remote half, before the remote half runs: what it lacks
 * and will read next on the login channel (the bundle, then the runtime), and what it
 * will run.
 */
export interface NeedMessage {
  event: "need";
  /** Whether it needs this version's bundle. */
  bundle: boolean;
  /** Whether it needs the Deno runtime too. */
  runtime: boolean;
  /** Whether it can decompress gzip. */
  gzip: boolean;
  /** What it found and will use, for `-v`. */
  using: string;
  /** The cache directory it keeps what is sent in (absent from older bootstraps). */
  cache?: string;
  /** What was cached but failed its check, and is sent again ("" or absent: nothing). */
  replaced?: string;
}

/** Every message of the protocol. */
export type ControlMessage =
  | NeedMessage
  | HelloMessage
  | SessionMessage
  | ListeningMessage
  | AliveMessage
  | ErrorMessage
  | PausedMessage
  | ResumedMessage
  | ConsumerGoneMessage
  | SentMessage
  | RejoinAtMessage
  | HandedMessage
  | RejoinedMessage
  | EndingMessage
  | ExitMessage;

/** The name of each message. */
export type ControlEvent = ControlMessage["event"];

/** The message of a given name. */
export type MessageOf<E extends ControlEvent> = Extract<ControlMessage, { event: E }>;

/**
 * Encodes a message as one marked line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeControlMessage } from "./protocol.ts";
 * const bytes = encodeControlMessage({ event: "alive" });
 * assert.equal(new TextDecoder().decode(bytes), '#socketpipe:{"event":"alive"}\n');
 * ```
 */
export function encodeControlMessage(message: ControlMessage): Uint8Array<ArrayBuffer> {
  return encodeMarkedLine(message as unknown as MarkedObject);
}

/** A marked line the decoder could not take: why, on one line. */
export interface DecodeProblem {
  /** Why the line was not taken. */
  problem: string;
  /**
   * Whether the run cannot go on: the peer speaks another protocol version, or its
   * final report does not hold up (nothing it says of the run can then be trusted).
   */
  fatal: boolean;
}

/**
 * Decodes a marked object into a message of the protocol, keeping only its known fields.
 * A greeting of another protocol version is a mismatch, named with both versions; an
 * unknown event is null (a newer peer may send more); a known event with bad fields is a
 * problem, fatal for the final report (a status outside 0–255, a signal that does not
 * match it, a count that is no count).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeControlMessage } from "./protocol.ts";
 * assert.deepEqual(decodeControlMessage({ event: "alive", extra: 1 }, "remote"), { event: "alive" });
 * decodeControlMessage({ event: "hello", version: 99, program: "9" }, "remote");
 * // { problem: "protocol mismatch: the remote socketpipe speaks protocol 99, …", fatal: true }
 * ```
 */
export function decodeControlMessage(
  received: MarkedObject,
  peer: "local" | "remote",
): ControlMessage | DecodeProblem | null {
  // Every string the peer sends may end up in a line on a terminal: none reaches it raw.
  const object = withStringsShownSafely(received) as MarkedObject;
  const decode = DECODERS[object.event as ControlEvent];
  if (!decode) return null;
  if (
    (object.event === "hello" || object.event === "session") &&
    object.version !== PROTOCOL_VERSION
  ) {
    return { problem: FAULTS.protocolMismatch.line(peer, object.version), fatal: true };
  }
  const fields = fieldsOf(object.event as ControlEvent, object);
  const decoded = fields && decode(fields);
  if (decoded) return decoded;
  if (object.event === "exit") {
    return { problem: FAULTS.badReport.line(peer, describeBadReport(object)), fatal: true };
  }
  return { problem: `${object.event} message with missing or bad fields ignored`, fatal: false };
}

/** `value` with every string in it, however deep, passed through {@link shownSafely}. */
function withStringsShownSafely(value: unknown): unknown {
  if (typeof value === "string") return shownSafely(value);
  if (Array.isArray(value)) return value.map(withStringsShownSafely);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, field]) => [key, withStringsShownSafely(field)]),
    );
  }
  return value;
}

/**
 * Every message's fields and the kind of each (`session/wire_kinds.ts`; `kind?` may be
 * absent, `kind|null` null), the session's settings as their declarations say: the one
 * schema the decoder checks, pinned to {@link PROTOCOL_VERSION} by the protocol's test.
 * A field added, dropped or changed here is a new protocol version.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WIRE_SCHEMA } from "./protocol.ts";
 * assert.equal(WIRE_SCHEMA.sent.bytes, "count");
 * assert.equal(WIRE_SCHEMA.session.settings.peerTimeout, "seconds");
 * ```
 */
export const WIRE_SCHEMA = {
  need: {
    bundle: "boolean",
    runtime: "boolean",
    gzip: "boolean",
    using: "string",
    cache: "string?",
    replaced: "string?",
  },
  hello: { version: "count", program: "string" },
  session: {
    version: "count",
    token: "token",
    listen: "listen",
    port: "portOrNone",
    ports: "portRange|null",
    bind: "string|null",
    host: "string|null",
    candidates: "strings",
    identity: "string|null",
    input: "boolean",
    output: "boolean",
    settings: SETTINGS_SCHEMA,
    rejoin: "string|null",
  },
  listening: {
    port: "port",
    addresses: "strings",
    reached: "string|null",
    identity: "string|null",
  },
  alive: {},
  error: { step: "string", message: "string", kind: "string?", retry: "boolean?" },
  paused: {},
  resumed: {},
  "consumer-gone": {},
  sent: { bytes: "count" },
  "rejoin-at": { path: "string" },
  handed: {},
  rejoined: {},
  ending: {},
  exit: {
    status: "status",
    cutOff: "boolean",
    counts: "counts",
    error: "string|null",
    reopened: "boolean?",
    encryption: "string?",
    host: "string?",
    stderr: "strings?",
    applied: "applied?",
  },
} as const satisfies Record<ControlEvent, Record<string, string | Record<string, string>>>;

/**
 * The fields of `object` that `event`'s schema names, each of its kind; null when one is
 * missing or of another kind. A field that may be absent and is, stays absent.
 */
function fieldsOf(event: ControlEvent, object: MarkedObject): Record<string, unknown> | null {
  const fields: Record<string, unknown> = { event };
  for (const [name, kind] of Object.entries(WIRE_SCHEMA[event])) {
    const value = object[name];
    if (typeof kind !== "string") {
      const settings = decodeSettings(value);
      if (settings === null) return null;
      fields[name] = settings;
    } else if (!isOfKind(value, kind)) return null;
    else if (value !== undefined) fields[name] = value;
  }
  return fields;
}

const orNull = <T>(check: (value: unknown) => value is T) => (value: unknown): value is T | null =>
  value === null || check(value);
const isString = WIRE_KINDS.string;
const isCount = WIRE_KINDS.count;

/**
 * A command's status as a shell can have it: 0–255, a signal only as 128 + its number,
 * and a command that never started only as 126 or 127.
 */
function commandStatus(value: unknown): CommandStatus | null {
  const v = value as Record<string, unknown> | null;
  if (!v || typeof v !== "object" || !isCount(v.status) || v.status > 255) return null;
  if (!orNull(isString)(v.signal) || !orNull(isString)(v.failedToStart)) return null;
  if (v.signal !== null && v.status !== 128 + signalNumber(v.signal)) return null;
  if (v.failedToStart !== null && v.status !== 126 && v.status !== 127) return null;
  return { status: v.status, signal: v.signal, failedToStart: v.failedToStart };
}

/** What is wrong with a final report that does not decode, in a few words. */
function describeBadReport(object: MarkedObject): string {
  const status = (object.status as Record<string, unknown> | null)?.status;
  if (typeof status === "number" && (status > 255 || status < 0)) {
    return `status ${status} is outside 0 to 255`;
  }
  if (!commandStatus(object.status)) return "its status is not one a command can have";
  if (!byteCounts(object.counts)) return "its byte counts are not counts";
  return "its fields are missing or of the wrong kind";
}

function byteCounts(value: unknown): ByteCounts | null {
  const v = value as Record<string, unknown> | null;
  if (!v || typeof v !== "object") return null;
  if (!isCount(v.sent) || !isCount(v.received) || !isCount(v.delivered)) return null;
  return { sent: v.sent, received: v.received, delivered: v.delivered };
}

type Decoders = {
  [E in ControlEvent]: (fields: Record<string, unknown>) => MessageOf<E> | null;
};

/**
 * What each message's fields, each of its kind by the schema, must hold beyond their
 * kinds, and what of them is kept (a peer's host name and lines within bounds).
 */
const DECODERS: Decoders = {
  need: (o) => {
    const { replaced, ...need } = o as unknown as NeedMessage;
    return { ...need, ...(replaced ? { replaced } : {}) };
  },
  hello: (o) => ({ ...o as unknown as HelloMessage, version: PROTOCOL_VERSION }),
  session: (o) => {
    const session = o as unknown as SessionMessage;
    if (session.listen === "local" && session.port < 1) return null;
    return { ...session, version: PROTOCOL_VERSION };
  },
  listening: (o) => o as unknown as ListeningMessage,
  alive: () => ({ event: "alive" }),
  error: (o) => o as unknown as ErrorMessage,
  paused: () => ({ event: "paused" }),
  resumed: () => ({ event: "resumed" }),
  "consumer-gone": () => ({ event: "consumer-gone" }),
  sent: (o) => o as unknown as SentMessage,
  "rejoin-at": (o) => o as unknown as RejoinAtMessage,
  handed: () => ({ event: "handed" }),
  rejoined: () => ({ event: "rejoined" }),
  ending: () => ({ event: "ending" }),
  exit: (o) => {
    const { host, stderr, ...exit } = o as unknown as ExitMessage;
    const status = commandStatus(exit.status);
    const counts = byteCounts(exit.counts);
    if (!status || !counts) return null;
    return {
      ...exit,
      status,
      counts,
      reopened: exit.reopened === true,
      ...(host ? { host: host.slice(0, 253) } : {}),
      ...(stderr ? { stderr: stderr.slice(-LAST_LINES).map((line) => line.slice(0, 200)) } : {}),
    };
  },
};
