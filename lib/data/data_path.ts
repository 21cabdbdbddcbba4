import type { Moved } from "../progress/progress.ts";
import type { CommandStatus } from "../base/command_status.ts";
import type { ProcessTree } from "../process/process_tree.ts";
import type { WireKeys } from "../net/data_wire.ts";

/** Bytes counted by one half of a transfer. */
export interface ByteCounts {
  /** Bytes this half's producer command wrote into the socket. */
  sent: number;
  /** Bytes this half read from the socket. */
  received: number;
  /** Bytes of `received` that this half's consumer command took. */
  delivered: number;
}

/** A command started by a data path. */
export interface RunningCommand {
  /** The command's argv. */
  readonly argv: readonly string[];
  /** Its role in the run ("input", "output", "remote"): whose processes are whose. */
  readonly role: string;
  /** Resolves when the command has ended (at once if it could not start). */
  readonly status: Promise<CommandStatus>;
  /**
   * The process group the command leads, if it was given one (the remote command: its
   * watchdog stops the group if the remote half dies); null otherwise.
   */
  readonly group: number | null;
  /** Stops the command and every process it started; resolves once they have ended. */
  stop(): Promise<void>;
}

/** How the data crosses the connection, beyond the path itself. */
export interface WireOptions {
  /** With `--encrypt`: the keys of this half's records. */
  keys?: WireKeys;
  /** With `--limit`: the most bytes per second this half sends (none if unset). */
  limit?: number;
  /** With `--reconnect`: the stream outlives cuts of its connection. */
  reconnect?: Reconnect;
}

/** What `--reconnect` needs of a half: the bound on a cut, the window, how to meet again. */
export interface Reconnect {
  /** How long a cut may last before the run fails. */
  seconds: number;
  /** The replay window's size in bytes: what this half keeps until its peer confirms it. */
  window: number;
  /** The run's token: the positions said after a cut are proven under it. */
  token: Uint8Array;
  /** Which half this is. */
  role: "local" | "remote";
  /** This half's `-v`. */
  say(line: string): void;
  /**
   * Meets the peer again on a new proven connection, set up as the first was (its
   * options applied, new keys with `--encrypt`); or why not, once `signal` is aborted.
   * Set by the half, which knows how it met the peer.
   */
  rejoin?(signal: AbortSignal): Promise<{ conn: Deno.TcpConn; keys?: WireKeys } | string>;
  /**
   * Settles once the peer will not meet this half again (it reported its end, or the
   * login closed): a cut then ends the transfer at once, and the peer's report says why.
   */
  peerEnded?: Promise<void>;
}

/** How a transfer ended on one half. */
export interface TransferResult {
  /** The bytes this half moved. */
  counts: ByteCounts;
  /** The data connection's failure, on one line, or null. */
  error: string | null;
}

/** The data movement of one half, once its commands are started on the connection. */
export interface Transfer {
  /**
   * Stops feeding the socket, as a pipe does when its reader is gone: the producer's
   * output is closed (it sees SIGPIPE on its next write) and the socket is half-closed.
   */
  stopSending(): void;
  /**
   * Ends the receiving side: the peer has reported its end, and what has not arrived by
   * now will not (a relay on the path may hold back the peer's FIN for ever). What has
   * arrived is still read; then every reader reads end of file. The counts tell a stream
   * that ended whole from one cut short.
   */
  endReceiving(): void;
  /**
   * Whether this half is waiting on the peer for more: everything that has arrived has
   * been taken by its consumer (not held back by a slow one).
   */
  waitingOnPeer(): boolean;
  /**
   * Resolves, once this half's sending has ended and the peer has acknowledged every byte
   * of it, with how many bytes that was: the peer's stream is whole once it has received
   * as many, FIN or no FIN. Never resolves if the sending failed or was aborted.
   */
  readonly allSent: Promise<number>;
  /**
   * Ends the data connection now, both ways (the run is being stopped): reads end and
   * writes fail, so that `finished` settles. The connection is closed by the transfer
   * itself, never by the caller.
   */
  abort(): void;
  /** Resolves if the consumer stops taking data before the end of the stream. */
  readonly consumerGone: Promise<void>;
  /** Resolves when both directions are finished and the connection is closed. */
  readonly finished: Promise<TransferResult>;
  /**
   * The bytes moved so far, each way, without touching the stream: the kernel's counts
   * on the zero-copy path, the copy loops' on the stream path.
   */
  moved(): Moved;
  /**
   * Set when this half ran on another path than the one chosen, and why: the kernel
   * refused to seal the socket, so the stream path seals the records in userspace.
   */
  readonly fellBack?: { path: DataPath; because: string };
  /** The stream path's `-v` line of its copy engine: workers, or the main thread and why. */
  readonly copiedBy?: string;
  /**
   * What the transfer did for an option, for the report's `applied`, once it has ended:
   * `{ reconnect: "2 cuts survived; 1048576 bytes sent again" }`.
   */
  applied?(): Record<string, string>;
}

/** The local half's transfer: the input command feeds the socket, the output command drains it. */
export interface LocalTransfer extends Transfer {
  /** The input command, if one was given. */
  readonly input?: RunningCommand;
  /** The output command, if one was given. */
  readonly output?: RunningCommand;
}

/** The remote half's transfer: one command reads the socket and writes it. */
export interface RemoteTransfer extends Transfer {
  /** The remote command. */
  readonly command: RunningCommand;
  /**
   * Whether the command showed (on its stderr) that it reopened its input or output by
   * name, which fails on a socket: the zero-copy path's one difference from a pipe.
   */
  reopenedByName?(): boolean;
  /** The last lines the command wrote on its stderr (see `base/last_lines.ts`). */
  lastWords(): string[];
}

/** Which directions reach the remote command. */
export interface RemoteWiring {
  /** The remote command reads the stream from the input command; else its stdin is at EOF. */
  input: boolean;
  /** The remote command's stdout goes to the output command; else it is discarded. */
  output: boolean;
}

/**
 * A way to connect the three data roles (input, remote, output) to the data socket.
 * The stream path copies through Deno; a zero-copy path hands the socket to the commands.
 *
 * @example Not run as a test: it needs a data connection and starts commands.
 * ```ts ignore
 * import type { DataPath } from "./data_path.ts";
 * import { streamPath } from "./stream_path.ts";
 * import { ProcessTree } from "../process/process_tree.ts";
 * const path: DataPath = streamPath;
 * declare const conn: Deno.TcpConn;
 * const transfer = await path.startLocal(conn, { input: ["tar", "cf", "-", "."] }, new ProcessTree());
 * console.log((await transfer.finished).counts.sent);
 * ```
 */
export interface DataPath {
  /** Its name: on the wire, in `-v` and in the report (see `path_registry.ts`). */
  readonly name: string;
  /** Why it is the one when it is the best that can run here, for `-v`. */
  readonly because: string;
  /** The option that asks for it, if one does (`--copy`), for `-v`. */
  readonly askedBy?: string;
  /** Why it cannot run on this host, or null when it can. */
  unavailable(): string | null;
  /** Why it cannot carry an encrypted run (`--encrypt`) on this host, or null when it can. */
  unsealable(): string | null;
  /** Who seals the records on this path: the kernel (the commands hold the socket) or socketpipe. */
  readonly engine: "kernel" | "userspace";
  /** What holds the sending side to `--limit` on this path, for `-v`. */
  readonly pacedBy: string;
  /**
   * Whether `--limit` is the kernel's pacing of the socket, set before the path starts
   * (`session/data_connection.ts`); else the path paces what it sends by `wire.limit`.
   */
  readonly kernelPaces: boolean;
  /**
   * Starts the local input and/or output command on the connection, in `tree`; with
   * `wire.keys`, the data crosses it in sealed records, and with `wire.limit` what this
   * half sends is held to that rate.
   */
  startLocal(
    conn: Deno.TcpConn,
    commands: { input?: readonly string[]; output?: readonly string[] },
    tree: ProcessTree,
    wire?: WireOptions,
  ): Promise<LocalTransfer>;
  /** Starts the remote command on the connection, in `tree`; `wire` as for the local half. */
  startRemote(
    conn: Deno.TcpConn,
    command: readonly string[],
    wiring: RemoteWiring,
    tree: ProcessTree,
    wire?: WireOptions,
  ): Promise<RemoteTransfer>;
}
