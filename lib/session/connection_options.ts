/**
 * The options that reach the remote half, each declared once: its names, value and
 * check, its default, how it rides the session line, what it does to the data connection
 * on each host and what happens when a kernel refuses it, its `-v` line and its `--help`
 * entry. A new option of the data connection is one entry here (and, for a new socket
 * option, its call in `platform/`).
 *
 * Over 300 lines on purpose: each option's declaration is whole in one place, which is
 * what this file is for.
 *
 * @module
 */
import { type Fault, FAULTS } from "../base/faults.ts";
import type { StepLog } from "../base/log.ts";
import { limitLine } from "../data/path_registry.ts";
import type { DataPath, WireOptions } from "../data/data_path.ts";
import { deriveDataKeys } from "../net/data_keys.ts";
import { provenNonces } from "../net/handshake.ts";
import {
  DEFAULT_PEER_TIMEOUT,
  MAX_PEER_TIMEOUT,
  MIN_PEER_TIMEOUT,
  peerHostHeard,
  spareSlowReader,
} from "../net/peer_timeout.ts";
import {
  congestionControlsAllowed,
  setCongestionControl,
  setPacingRate,
  setPeerTimeout,
  setSocketBuffers,
} from "../platform/tcp_socket_options.ts";
import { formatBytes } from "../progress/progress.ts";
import { DEFAULT_REPLAY_WINDOW } from "../data/resumable_frames.ts";
import { amount, badValue, type OptionDeclaration, seconds, wholeFrom } from "./option.ts";
import type { WireKind } from "./wire_kinds.ts";
import { messageOf } from "../base/message_of.ts";

/** What both halves do with the data connection: the options that reach the remote half. */
export interface Settings {
  /**
   * Seconds after which a data connection whose peer stopped answering (a cut link, a
   * crashed host) ends the run with exit 2; 0 leaves it to the kernel's own timeouts.
   * @default {20}
   */
  peerTimeout: number;
  /**
   * Move the data through socketpipe (the stream path) instead of handing the socket to
   * the commands (the zero-copy path), on both hosts.
   * @default {false}
   */
  copy: boolean;
  /**
   * Encrypt and authenticate the data connection: TLS 1.3 records (ChaCha20-Poly1305) with
   * keys of this run's own; a record changed on the way fails the run, never becomes data.
   * @default {false}
   */
  encrypt: boolean;
  /**
   * The most bytes per second each direction's sender puts on the data connection
   * (`--limit`): paced by the kernel on the zero-copy path (the commands still hold the
   * socket), by the copy loop on the stream path. 0: none.
   * @default {0}
   */
  limit: number;
  /**
   * The data socket's send and receive buffers, in bytes, on both hosts (`--buffer`): the
   * slack between a bursty producer and a consumer that stalls, kept by the kernel, so
   * nothing is copied for it. As root any size up to 1 GiB; otherwise up to
   * `net.core.wmem_max` and `rmem_max`. 0: the kernel's own.
   * @default {0}
   */
  buffer: number;
  /**
   * The TCP congestion control of the data connection's senders, on both hosts
   * (`--congestion`, e.g. "bbr" on a long or lossy link): one of the host's
   * `net.ipv4.tcp_allowed_congestion_control`, or, as root, any its kernel has loaded.
   * "": the kernel's default.
   * @default {""}
   */
  congestion: string;
  /**
   * Seconds a cut of the data connection, or of the login once met, may last
   * (`--reconnect`): both halves keep their commands running, meet again (the login run
   * again) and go on where the streams stand, no byte lost or repeated; the data moves
   * on the stream path. 0: a cut ends the run (exit 2).
   * @default {0}
   */
  reconnect: number;
}

/** What an option's effect on the data connection can see and do, on one host. */
export interface ConnectionContext {
  /** The data connection, met and proven. */
  conn: Deno.TcpConn;
  /** Its socket's descriptor, or why there is none to set options on (no FFI). */
  fd: number | string;
  /** Which half this is. */
  role: "local" | "remote";
  /** The data path this half chose. */
  path: DataPath;
  /** Whether this half sends on the connection (the local input, the remote output). */
  sends: boolean;
  /** The run's token, which the keys of `--encrypt` come from. */
  token: Uint8Array;
  /** The run's settings, for an option whose effect depends on another's. */
  settings: Settings;
  /** This half's `-v`. */
  log: StepLog;
  /** Counts the peer's host's answers on the connection as a sign of life (see LoginChannel). */
  hearHostAlso(heard: () => number | null): void;
}

/**
 * What an option did to the data connection: refused by the kernel (why, and the value
 * as the line shows it); or done, with its `-v` line, what the report says of it, and
 * what the data path must do for it.
 */
export type Effect =
  | { refused: string; shown: string }
  | { said?: string; applied?: string; wire?: WireOptions };

/** An option that reaches the remote half. */
export interface ConnectionOption<K extends keyof Settings> extends OptionDeclaration<Settings[K]> {
  /** Its value when it is not given. */
  readonly default: Settings[K];
  /** Its kind of field on the session line (`session/wire_kinds.ts`). */
  readonly wire: WireKind;
  /**
   * What it does to the data connection on each host, once met (the data path has been
   * chosen, no command runs yet).
   */
  effect?(value: Settings[K], on: ConnectionContext): Effect | Promise<Effect>;
  /**
   * When a kernel refuses it: a line on stderr and the run goes on with what it names,
   * or the run fails with the fault.
   */
  readonly whenRefused?: { goOnWith: string } | { fail(why: string): Fault };
}

/** The highest `--limit`: 1024G bytes per second, beyond any link's speed. */
const MAX_LIMIT = 1024 ** 4;

/** The largest `--buffer` (the kernel's limit for one socket's buffer is about this). */
export const MAX_BUFFER = 1024 ** 3;

/** The descriptor to set an option on, or the effect of having none. */
function socketOf(on: ConnectionContext, shown: string): number | Effect {
  return typeof on.fd === "number" ? on.fd : { refused: on.fd, shown };
}

const peerTimeout: ConnectionOption<"peerTimeout"> = {
  names: ["--peer-timeout"],
  form: "value",
  into: { target: "options", key: "peerTimeout" },
  value: "s",
  parse: seconds,
  takes: "seconds, 0 = no bound",
  check: (value) => {
    if (typeof value !== "number" || !(value >= 0)) return badValue(peerTimeout, value);
    if (value > MAX_PEER_TIMEOUT) {
      return `--peer-timeout ${value} is too long: at most ${MAX_PEER_TIMEOUT} s (a day); ` +
        `0 leaves a dead peer to the kernel and the login command`;
    }
    // Each half says it is alive every third of the bound: on a busy host, a bound this
    // short would take a moment's delay for a dead peer and fail every run.
    if (value > 0 && value < MIN_PEER_TIMEOUT) {
      return `--peer-timeout ${value} is too short: at least ${MIN_PEER_TIMEOUT} s, ` +
        `or 0 for no bound`;
    }
    return null;
  },
  default: DEFAULT_PEER_TIMEOUT,
  wire: "seconds",
  effect: (value, on) => {
    // The peer's kernel answers on the data connection even while its half is starved of
    // CPU: while it does, the half's silence is waited on longer.
    on.hearHostAlso(peerHostHeard(on.conn));
    if (value <= 0) return { said: "no dead-peer bound: disabled (--peer-timeout 0)" };
    if (typeof on.fd !== "number") return { said: `no dead-peer bound: ${on.fd}` };
    try {
      setPeerTimeout(on.fd, value);
    } catch (error) {
      return { refused: messageOf(error), shown: String(value) };
    }
    // A consumer that pauses is waited for, as a pipe waits, however long.
    spareSlowReader(on.conn, value);
    return {};
  },
  whenRefused: { goOnWith: "the kernel's own timeouts (minutes to hours) for a dead peer" },
  help: `end the run (exit 2) once the other host has not answered for s
seconds (and half a second more): a cut link, a crashed host
(default 20, at least 2, at most 86400; 0: leave it to the kernel and
ssh). An idle but healthy transfer is not affected; while the other
host still answers on the data connection, its half is given three
times as long; a host too busy to answer in time before the data
connection (many runs at once on a few cores) needs a longer one.`,
};

const copy: ConnectionOption<"copy"> = {
  names: ["--copy"],
  form: "flag",
  into: { target: "options", key: "copy" },
  takes: "true or false",
  check: (value) => typeof value === "boolean" ? null : badValue(copy, value),
  default: false,
  wire: "boolean",
  help: `move the data through socketpipe (the stream path) instead of handing
the socket itself to the commands (the zero-copy path, the default on
Linux when FFI is permitted, e.g. with deno run -A).`,
};

const encrypt: ConnectionOption<"encrypt"> = {
  names: ["--encrypt"],
  form: "flag",
  into: { target: "options", key: "encrypt" },
  takes: "true or false",
  check: (value) => typeof value === "boolean" ? null : badValue(encrypt, value),
  default: false,
  wire: "boolean",
  effect: async (value, on) => {
    if (!value) return {};
    const keys = await deriveDataKeys(on.token, provenNonces(on.conn)!);
    const local = on.role === "local";
    return {
      wire: {
        keys: local
          ? { send: keys.localToRemote, receive: keys.remoteToLocal }
          : { send: keys.remoteToLocal, receive: keys.localToRemote },
      },
    };
  },
  help: `encrypt and authenticate the data connection: TLS 1.3 records,
ChaCha20-Poly1305, keys of this run's own; a changed record fails the
run (exit 2), never becomes data. Sealed by the kernel where its tls
module is loaded (the commands keep the socket), else by socketpipe.`,
};

const limit: ConnectionOption<"limit"> = {
  names: ["--limit"],
  form: "value",
  into: { target: "options", key: "limit" },
  value: "RATE",
  parse: amount,
  takes: "bytes per second, with K, M or G, from 1 to 1024G",
  check: (value) => wholeFrom(value, 1, MAX_LIMIT) ? null : badValue(limit, value),
  default: 0,
  wire: "count",
  effect: (value, on) => {
    if (!value) return {};
    const said = on.sends ? limitLine(value, on.path) : undefined;
    if (!on.path.kernelPaces) return { said, wire: { limit: value } };
    const fd = socketOf(on, String(value));
    if (typeof fd !== "number") return fd;
    try {
      setPacingRate(fd, value);
    } catch (error) {
      return { refused: messageOf(error), shown: String(value) };
    }
    return { said, wire: { limit: value } };
  },
  // A rate the user set to spare a link is not dropped without a word.
  whenRefused: { fail: (why) => FAULTS.limitRefused.of(why) },
  help: `send at most RATE bytes per second each way (suffixes K, M, G: powers
of 1024; at most 1024G), as pv -L does: the kernel paces the socket
the commands hold (nothing copied; the rate counts TCP/IP headers), or
with --copy the copy loop paces the data.`,
};

const buffer: ConnectionOption<"buffer"> = {
  names: ["--buffer"],
  form: "value",
  into: { target: "options", key: "buffer" },
  value: "SIZE",
  parse: amount,
  takes: "bytes, with K, M or G, from 1 to 1G",
  check: (value) => wholeFrom(value, 1, MAX_BUFFER) ? null : badValue(buffer, value),
  default: 0,
  wire: "count",
  effect: (value, on) => {
    if (!value) return {};
    const shown = formatBytes(value);
    const fd = socketOf(on, shown);
    if (typeof fd !== "number") return fd;
    const why = setSocketBuffers(fd, value);
    if (why !== null) return { refused: why, shown };
    return { said: `socket buffers: ${shown} each way (--buffer)` };
  },
  whenRefused: { goOnWith: "the kernel's own buffers" },
  help: `give the data socket send and receive buffers of SIZE each, on both
hosts (K, M, G; up to 1G): slack between a bursty producer and a
consumer that stalls (a tape drive), kept by the kernel, nothing
copied. As root any size; otherwise up to net.core.wmem_max/rmem_max.`,
};

const congestion: ConnectionOption<"congestion"> = {
  names: ["--congestion"],
  form: "value",
  into: { target: "options", key: "congestion" },
  value: "ALGO",
  takes: "a congestion control algorithm this host allows",
  check: (value) => {
    const allowed = congestionControlsAllowed();
    if (typeof value === "string" && (allowed ?? [value]).includes(value)) return null;
    const which = allowed ? `: ${allowed.join(", ")}` : "";
    return badValue({ ...congestion, takes: `${congestion.takes}${which}` }, value);
  },
  default: "",
  wire: "kernelName",
  effect: (value, on) => {
    if (!value) return {};
    const fd = socketOf(on, value);
    if (typeof fd !== "number") return fd;
    // The remote host's kernel may allow other algorithms than the local host's.
    const allowed = congestionControlsAllowed();
    if (allowed && !allowed.includes(value)) {
      return { refused: `this host allows ${allowed.join(", ")}`, shown: value };
    }
    try {
      const running = setCongestionControl(fd, value);
      return { said: `congestion control: ${running} (--congestion)`, applied: running };
    } catch (error) {
      return { refused: messageOf(error), shown: value };
    }
  },
  whenRefused: { goOnWith: "the kernel's default congestion control" },
  help: `the TCP congestion control of the data connection's senders, on
both hosts (e.g. bbr on a long or lossy link, where cubic collapses):
one of the host's net.ipv4.tcp_allowed_congestion_control, or as root
any its kernel has loaded. -v and --report say which each host ran; a
host that refuses it says so, and the run goes on with its default.`,
};

/** The longest `--reconnect`: a week, beyond any outage worth waiting out. */
const MAX_RECONNECT = 7 * 24 * 3600;

const reconnect: ConnectionOption<"reconnect"> = {
  names: ["--reconnect"],
  form: "value",
  into: { target: "options", key: "reconnect" },
  value: "s",
  parse: seconds,
  takes: "seconds, 0 = a cut ends the run",
  check: (value) =>
    typeof value === "number" && value >= 0 && value <= MAX_RECONNECT
      ? null
      : badValue(reconnect, value),
  default: 0,
  wire: "seconds",
  effect: (value, on) => {
    if (!value) return {};
    const window = on.settings.buffer || DEFAULT_REPLAY_WINDOW;
    return {
      said: `reconnect: a cut of the data connection may last ${value} s; ` +
        `${formatBytes(window)} kept to send again (--reconnect)`,
      wire: {
        reconnect: {
          seconds: value,
          window,
          token: on.token,
          role: on.role,
          // Under -v: without it, a run that fails begins with its cause, not with a cut
          // it went on from; --report counts the cuts either way.
          say: (line) => on.log.step(line),
        },
      },
    };
  },
  help: `survive cuts of the data connection, and of the login once met,
each lasting up to s seconds: both hosts keep their commands running,
meet again (the same proofs, new keys with --encrypt; the login run
again, handed to the waiting remote half) and go on where the streams
stand, no byte lost or repeated. The data moves through socketpipe (as
with --copy); each sender keeps what its peer has not confirmed
(--buffer SIZE, else 16M).`,
};

/**
 * Every option that reaches the remote half, by its key in {@link Settings}, in the
 * order their effects are applied and their entries shown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CONNECTION_OPTIONS } from "./connection_options.ts";
 * assert.equal(CONNECTION_OPTIONS.limit.names[0], "--limit");
 * assert.equal(CONNECTION_OPTIONS.peerTimeout.default, 20);
 * ```
 */
export const CONNECTION_OPTIONS: { readonly [K in keyof Settings]: ConnectionOption<K> } = {
  peerTimeout,
  copy,
  encrypt,
  limit,
  buffer,
  congestion,
  reconnect,
};

/** The keys of {@link Settings}, in the order of {@link CONNECTION_OPTIONS}. */
export const SETTING_KEYS = Object.keys(CONNECTION_OPTIONS) as (keyof Settings)[];
