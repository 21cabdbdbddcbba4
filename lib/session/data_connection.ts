/**
 * The one set-up of the data connection, which both halves call once they have met: the
 * data path's choice, every option's effect on the socket (and what happens where a
 * kernel refuses one), the keys, and the `-v` lines.
 *
 * @module
 */
import { Fault } from "../base/faults.ts";
import { messageOf } from "../base/message_of.ts";
import { StepLog } from "../base/log.ts";
import type { DataPath, Transfer, WireOptions } from "../data/data_path.ts";
import { chooseDataPath, sealingFellBackLine } from "../data/path_registry.ts";
import { formatAddress } from "../net/connect_back.ts";
import { socketFdOf } from "../platform/deno_internals.ts";
import { libc, libcUnavailableReason } from "../platform/libc.ts";
import {
  CONNECTION_OPTIONS,
  type ConnectionContext,
  SETTING_KEYS,
  type Settings,
} from "./connection_options.ts";

/** The data path a half chose, and why (for `-v`). */
export interface ChosenPath {
  /** The path. */
  path: DataPath;
  /** Why it is the one. */
  why: string;
}

/**
 * How this half moves the data: as `--copy` and `--encrypt` ask, else this host's best;
 * a test may impose one. Choosing binds libc where the zero-copy path can run (a few
 * milliseconds), so a half chooses while it waits for something else.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { choosePathFor } from "./data_connection.ts";
 * import { settingsOf } from "./settings.ts";
 * assert.equal(choosePathFor(settingsOf({ copy: true })).why, "--copy");
 * ```
 */
export function choosePathFor(settings: Settings, imposed?: DataPath): ChosenPath {
  // Bytes a command wrote straight into a socket that died could not be sent again.
  if (settings.reconnect > 0) {
    return chooseDataPath(
      "stream",
      imposed,
      settings.encrypt,
      "--reconnect: only bytes socketpipe moves can be sent again after a cut",
    );
  }
  return chooseDataPath(settings.copy ? "stream" : "auto", imposed, settings.encrypt);
}

/** A data connection set up: how the data path is to use it, and what was done to it. */
export interface DataConnection {
  /** The connection. */
  conn: Deno.TcpConn;
  /** The data path chosen. */
  path: DataPath;
  /** The keys and the rate the data path needs. */
  wire: WireOptions;
  /** What each option did on this host, for the report: `{ congestion: "cubic" }`. */
  applied: Record<string, string>;
  /**
   * Says, on `-v`, how the transfer runs: on another path than the one chosen, and why;
   * and the stream path's copy engine.
   */
  sayHowItRuns(transfer: Pick<Transfer, "fellBack" | "copiedBy">): void;
}

/** What the set-up needs besides the connection. */
export interface SetUpContext {
  /** Which half this is. */
  role: "local" | "remote";
  /** The run's settings. */
  settings: Settings;
  /** The data path this half chose ({@link choosePathFor}). */
  chosen: ChosenPath;
  /** Whether this half sends on the connection (the local input, the remote output). */
  sends: boolean;
  /** Whether this half accepted the connection (it listened), rather than dialled it. */
  accepted: boolean;
  /** The run's token. */
  token: Uint8Array;
  /** This half's `-v`. */
  log: StepLog;
  /** Counts the peer's host's answers as a sign of life (`LoginChannel.hearHostAlso`). */
  hearHostAlso(heard: () => number | null): void;
}

/**
 * Sets up the data connection this half met the other on: says where it came from and
 * which data path runs, then applies every option's effect in the order of
 * `CONNECTION_OPTIONS`. A fault when a kernel refused an option whose declaration says
 * the run cannot go on without it.
 *
 * @example Not run as a test: it needs a met data connection (see tests/in_process/).
 * ```ts ignore
 * import { choosePathFor, setUpDataConnection } from "./data_connection.ts";
 * const chosen = choosePathFor(settings);
 * const ready = await setUpDataConnection(conn, { role: "local", settings, chosen, … });
 * ```
 */
export async function setUpDataConnection(
  conn: Deno.TcpConn,
  context: SetUpContext,
): Promise<DataConnection | Fault> {
  const { log, chosen } = context;
  const peer = formatAddress(conn.remoteAddr.hostname, conn.remoteAddr.port);
  const connected = `connected ${context.accepted ? "from" : "to"} ${peer}`;
  const pathLine = `data path: ${chosen.path.name} (${chosen.why})`;
  // The local half has always said both on one line; the remote half, on two.
  if (context.role === "local") log.step(`${connected}; ${pathLine}`);
  else {
    log.step(connected);
    log.step(pathLine);
  }
  const applied = await applyConnectionOptions(context.settings, {
    ...context,
    settings: context.settings,
    conn,
    fd: socketOf(conn),
    path: chosen.path,
  });
  if (applied instanceof Fault) return applied;
  return {
    conn,
    path: chosen.path,
    ...applied,
    sayHowItRuns: ({ fellBack, copiedBy }) => {
      if (fellBack) log.step(sealingFellBackLine(fellBack));
      if (copiedBy) log.step(copiedBy);
    },
  };
}

/** The connection's socket, to set options on, or why there is none (no FFI). */
function socketOf(conn: Deno.TcpConn): number | string {
  if (!libc()) return libcUnavailableReason() ?? "no native bindings";
  try {
    return socketFdOf(conn);
  } catch (error) {
    return messageOf(error);
  }
}

/**
 * Applies every option's effect in turn: its `-v` line, what it did (for the report) and
 * what the data path needs of it; where the kernel refuses one, the option's declaration
 * says whether the run goes on (a line on stderr) or fails (its fault).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StepLog } from "../base/log.ts";
 * import { DATA_PATHS } from "../data/path_registry.ts";
 * import { applyConnectionOptions } from "./data_connection.ts";
 * import { settingsOf } from "./settings.ts";
 * const applied = await applyConnectionOptions(settingsOf({ peerTimeout: 0 }), {
 *   conn: {} as Deno.TcpConn, fd: "no socket here", role: "local", sends: true,
 *   path: DATA_PATHS.stream, token: new Uint8Array(32), log: new StepLog(false, "t"),
 *   settings: settingsOf({}),
 *   hearHostAlso: () => {},
 * });
 * assert.deepEqual(applied, { wire: {}, applied: {} });
 * ```
 */
export async function applyConnectionOptions(
  settings: Settings,
  on: ConnectionContext,
): Promise<{ wire: WireOptions; applied: Record<string, string> } | Fault> {
  const wire: WireOptions = {};
  const applied: Record<string, string> = {};
  for (const key of SETTING_KEYS) {
    const option = CONNECTION_OPTIONS[key];
    const effect = await effectOf(key, settings, on);
    if (!effect) continue;
    if ("refused" in effect) {
      const refused = option.whenRefused ?? { goOnWith: "without it" };
      if ("fail" in refused) return refused.fail(effect.refused);
      on.log.always(
        `${option.names[0]} ${effect.shown} not set: ${effect.refused}; ` +
          `going on with ${refused.goOnWith}`,
      );
      continue;
    }
    if (effect.said) on.log.step(effect.said);
    if (effect.applied !== undefined) applied[key] = effect.applied;
    Object.assign(wire, effect.wire);
  }
  return { wire, applied };
}

/** What the option of `key` does with its setting, if it does anything. */
function effectOf<K extends keyof Settings>(key: K, settings: Settings, on: ConnectionContext) {
  return CONNECTION_OPTIONS[key].effect?.(settings[key], on);
}

/**
 * Arms `ready`'s `--reconnect`, if the run has it: after a cut, `meetAgain` gets a new
 * proven connection (or null once its signal is aborted), which is set up as the first
 * was (its options, new keys with `--encrypt`). Once `peerEnded` settles (the remote half
 * reported its end, or the local half's login closed), the peer will not come again.
 *
 * @example Not run as a test: it needs a met data connection (see tests/local_login/reconnect_test.ts).
 * ```ts ignore
 * import { armReconnect } from "./data_connection.ts";
 * armReconnect(ready, context, (signal) => acceptAuthenticated(listener, token, { signal }), ended);
 * ```
 */
export function armReconnect(
  ready: DataConnection,
  context: SetUpContext,
  meetAgain: (signal: AbortSignal) => Promise<Deno.TcpConn | null>,
  peerEnded: Promise<unknown>,
): void {
  const reconnect = ready.wire.reconnect;
  if (!reconnect) return;
  reconnect.peerEnded = peerEnded.then(() => {});
  // Set up as the first, without saying again what -v said of it then.
  const quiet = {
    ...context,
    chosen: { path: ready.path, why: "" },
    log: new StepLog(false, context.log.prefix),
  };
  reconnect.rejoin = async (signal) => {
    const conn = await meetAgain(signal).catch(() => null);
    if (!conn) return "no proven connection came";
    const again = await setUpDataConnection(conn, quiet);
    if (again instanceof Fault) {
      conn.close();
      return again.line;
    }
    return { conn, keys: again.wire.keys };
  };
}
