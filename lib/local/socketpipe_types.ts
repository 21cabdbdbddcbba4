/**
 * What a run is asked to do and how it is controlled (the public types of
 * `socketpipe()`), and what it returns.
 *
 * @module
 */
import type { FaultClass } from "../base/faults.ts";
import type { ByteCounts, DataPath } from "../data/data_path.ts";
import type { LoginConnection } from "../login/login.ts";
import type { MovedSoFar, Progress } from "../progress/progress.ts";
import type { ProvisionMode, ProvisionProgress } from "../provision/provision.ts";
import type { RoleReport } from "./outcome.ts";
import type { Settings } from "../session/connection_options.ts";

/**
 * What a run of socketpipe is asked to do, as given on the command line; the options of
 * the data connection are {@link Settings}' (declared in `session/connection_options.ts`).
 */
export interface SocketpipeOptions extends Partial<Settings> {
  /** The local input command; its stdout feeds the remote command's stdin. */
  input?: string[];
  /** The login command, e.g. `["ssh", "host"]`. */
  login: string[];
  /** The remote command, run on the host the login command reaches. */
  remote: string[];
  /** The local output command; the remote command's stdout feeds its stdin. */
  output?: string[];
  /**
   * How to start socketpipe on the remote host.
   * @default {["socketpipe"]}
   */
  remoteSocketpipe?: string[];
  /** The address the remote half connects back to (`-h`); found automatically when absent. */
  host?: string;
  /**
   * Seconds to wait for the authenticated data connection, from the start of the login;
   * 0 waits for ever.
   * @default {0}
   */
  timeout?: number;
  /**
   * Accepted for compatibility with socketpipe 1.x: the login command never shares the
   * terminal's stdin or socketpipe's stdout, since they carry the control channel.
   * @default {false}
   */
  batch?: boolean;
  /**
   * Print each step on stderr.
   * @default {false}
   */
  verbose?: boolean;
  /**
   * Which host listens for the data connection: "local" (this one, the default, as the
   * C original) or "remote" (for a local host that may not receive connections).
   * @default {"local"}
   */
  listen?: "local" | "remote";
  /** The listening side's ports, first and last: the first free one is used (`--port`). */
  ports?: [number, number];
  /** The address the listening side binds (`--bind`); default every interface. */
  bind?: string;
  /**
   * Without `-x`: "auto" runs what the remote host has cached or installed, else sends it
   * this socketpipe (and the Deno runtime when it has none of this version) over the
   * login; "always" sends it again; "never" runs only `socketpipe` from its PATH.
   * @default {"auto"}
   */
  provision?: ProvisionMode;
  /**
   * `--remote-cache DIR`: where the remote host keeps what provisioning sends; it must be
   * this user's own, writable, and let a program run from it (not mounted noexec).
   * @default {`SOCKETPIPE_CACHE` there, else the first of ~/.cache/socketpipe, $TMPDIR, /var/tmp, $XDG_RUNTIME_DIR that will do}
   */
  remoteCache?: string;
}

/** How a run is controlled from outside. */
export interface RunControl {
  /**
   * Stops the run: every command of it is stopped on both hosts. The reason, if it is a
   * signal name such as "SIGINT", sets the exit status to 128 + N.
   */
  signal?: AbortSignal;
  /**
   * Called once the commands run on the data connection, with a function that reads the
   * bytes moved so far each way, for a status line or a progress meter; it reads the
   * kernel's counts and copies nothing.
   */
  onData?(moved: MovedSoFar): void;
  /**
   * Called once when the remote host is to be provisioned, with a function that reads how
   * far the payload being sent has come (null between payloads), for a status line or a
   * meter before the data flows.
   */
  onProvisioning?(progress: () => ProvisionProgress | null): void;
  /**
   * Called with the transfer's progress at most four times a second from when the data
   * connection is up, and once more, marked done, at its end: bytes each way, rates,
   * elapsed time, and with {@link progressSize}, fraction and ETA. No byte is copied for it.
   */
  onProgress?(progress: Progress): void;
  /**
   * Takes what the login command writes on its stderr (the remote host's lines: its
   * commands' errors, the remote half's `-v`), instead of its going straight to stderr;
   * for a meter that must step aside first.
   */
  onLoginOutput?(bytes: Uint8Array): void;
  /**
   * The expected size in bytes of the main stream (the input's, or without an input the
   * output's), for the fraction and ETA of {@link onProgress}.
   */
  progressSize?: number;
  /**
   * Handle SIGTSTP as a shell job would, for a command line (Ctrl-Z): tell the remote
   * half the run is paused, stop, and tell it the run resumed on SIGCONT, so that a pause
   * of any length does not end the run. Off for a library caller.
   */
  jobControl?: boolean;
  /**
   * Every orphan that comes back to this process while the run lasts is the run's,
   * whatever its environment says (`env -i`, a daemon's rewritten `argv[0]`): for a
   * command line, where nothing else starts children. Off for a library caller, whose own
   * children are never the run's; its run still counts an orphan that holds the run's
   * socket or pipes.
   * @default {false}
   */
  claimOrphans?: boolean;
}

/** How a run ended: every role's status, both halves' byte counts, and the verdict. */
export interface SocketpipeResult {
  /** The exit status the command line tool exits with. */
  status: number;
  /** One line per failure, as printed on stderr, cause first; empty on success. */
  messages: string[];
  /**
   * What failed, for a script to act on without reading the lines: the fault's name, the
   * step, whether trying again can help, and for a command's failure its role. Absent on
   * success.
   */
  fault?: FaultClass;
  /** The data path that moved the bytes: "zero-copy" or "stream"; "none" if none ran. */
  dataPath: string;
  /** How the input command ended, if there was one and it ran. */
  input?: RoleReport;
  /** How the remote command ended, with the remote half's byte counts; null if never reported. */
  remote: (RoleReport & { counts: ByteCounts }) | null;
  /** How the output command ended, if there was one and it ran. */
  output?: RoleReport;
  /** The local half's byte counts. */
  local: ByteCounts;
  /** Seconds from the start to the data connection (setup), and from there to the end. */
  durations: { setupSeconds: number; transferSeconds: number };
  /**
   * What provisioning sent the remote host, each payload's size and the bytes it took on
   * the login channel; absent when nothing was sent.
   */
  provisioned?: Partial<Record<"bundle" | "runtime", { bytes: number; sent: number }>>;
  /**
   * With `--encrypt`: the cipher, and where each half sealed the records ("userspace");
   * the remote half's is null when it never reported.
   */
  encryption?: { cipher: string; local: string; remote: string | null };
  /**
   * What the options did to the data connection on each host, by option
   * (`{ congestion: "cubic" }`); the remote host's is null when it never reported. Absent
   * when no option did anything to report.
   */
  applied?: { local: Record<string, string>; remote: Record<string, string> | null };
}

/** What a test may put in place of the real thing, to run the local half in-process. */
export interface LocalHalfSeams {
  /** The login, as a pair of streams (default: the login command, started). */
  login?: LoginConnection;
  /** How the local commands get the data (default: chosen as the CLI chooses). */
  dataPath?: DataPath;
}
