import { settledWithin, valueIfSettled } from "../base/settled_within.ts";
import { describeStatus } from "../base/command_status.ts";
import { chooseDataPath } from "../data/data_paths.ts";
import { formatAddress } from "../net/connect_back.ts";
import { candidateAddresses, openDataListener } from "../net/data_listener.ts";
import type { ByteCounts, DataPath } from "../data/data_path.ts";
import { messageOf } from "../base/message_of.ts";
import { Fault, FAULTS } from "../base/faults.ts";
import { newToken } from "../net/handshake.ts";
import { toHex } from "../base/hex.ts";
import { StepLog } from "../base/log.ts";
import {
  DEFAULT_REMOTE_SOCKETPIPE,
  explainLoginEnd,
  type LoginConnection,
  startLogin,
  stopLogin,
} from "../login/login.ts";
import { LoginChannel } from "../login/login_channel.ts";
import {
  type LocalTransferOutcome,
  REPORT_AFTER_FAILURE_SECONDS,
  runLocalTransfer,
} from "./local_transfer.ts";
import { meet, type Meeting, type MeetingPlan } from "./meeting.ts";
import { networkIdentity } from "../net/host_identity.ts";
import { decideOutcome, type RoleReport } from "./outcome.ts";
import { formatBlock } from "../base/shell_quote.ts";
import { applyPeerTimeout, DEFAULT_PEER_TIMEOUT } from "../net/peer_timeout.ts";
import type { SessionMessage } from "../login/protocol.ts";
import { becomeSubreaper, ProcessTree } from "../process/process_tree.ts";
import { handleStopRequests } from "../login/job_control.ts";
import { ignoreStopsForLogin } from "../platform/ignore_stops.ts";
import { type Progress, ProgressWatch } from "../progress/progress.ts";
import { validateOptions } from "./validate_options.ts";
import {
  prepareProvisioning,
  type Provisioning,
  type ProvisionMode,
  type ProvisionProgress,
} from "../provision/provision.ts";
import { PROTOCOL_VERSION } from "../base/version.ts";

/** What a run of socketpipe is asked to do, as given on the command line. */
export interface SocketpipeOptions {
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
   * Move the data through socketpipe (the stream path) instead of handing the socket to
   * the commands (the zero-copy path), on both hosts.
   * @default {false}
   */
  copy?: boolean;
  /**
   * Seconds after which a data connection whose peer stopped answering (a cut link, a
   * crashed host) ends the run with exit 2; 0 leaves it to the kernel's own timeouts.
   * @default {20}
   */
  peerTimeout?: number;
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
  onData?(moved: () => { sent: number; received: number }): void;
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
}

/** Milliseconds the login command may take to end after the remote half's last report. */
const LOGIN_GRACE_MS = 5000;

/**
 * Runs one transfer: logs in, meets the remote half on an authenticated data connection,
 * runs the commands, and reports how every one of them ended. Command failures do not
 * throw; they are in the result, with the exit status the command line tool would use.
 *
 * @throws {UsageError} when the options are incomplete.
 * @example
 * ```ts ignore
 * import { socketpipe } from "./local_half.ts";
 * const result = await socketpipe({
 *   input: ["tar", "cf", "-", "/home"],
 *   login: ["ssh", "backup-host"],
 *   remote: ["dd", "of=/dev/st0", "bs=32k"],
 * });
 * if (result.status !== 0) console.error(result.messages.join("\n"));
 * ```
 */
export function socketpipe(
  options: SocketpipeOptions,
  control: RunControl = {},
): Promise<SocketpipeResult> {
  return runLocalHalf(options, control);
}

/** What a test may put in place of the real thing, to run the local half in-process. */
export interface LocalHalfSeams {
  /** The login, as a pair of streams (default: the login command, started). */
  login?: LoginConnection;
  /** How the local commands get the data (default: chosen as the CLI chooses). */
  dataPath?: DataPath;
}

/**
 * {@link socketpipe}, with the login and the data path replaceable for tests. The run, in
 * order: listen, log in, send the session line, meet, move data, stop the login, report.
 *
 * @example
 * ```ts ignore
 * import { runLocalHalf } from "./local_half.ts";
 * const result = await runLocalHalf(options, {}, { login: { readable, writable, status, kill } });
 * ```
 */
export async function runLocalHalf(
  options: SocketpipeOptions,
  control: RunControl,
  seams: LocalHalfSeams = {},
): Promise<SocketpipeResult> {
  validateOptions(options);
  // Should this process die without ending the run (SIGKILL), the tree's watchdog kills
  // the commands it started, as the remote half's does on its host.
  const tree = new ProcessTree({ claimOrphans: control.claimOrphans ?? false, watchdog: true });
  try {
    return await runInTree(options, control, seams, tree);
  } finally {
    await tree.release();
  }
}

async function runInTree(
  options: SocketpipeOptions,
  control: RunControl,
  seams: LocalHalfSeams,
  tree: ProcessTree,
): Promise<SocketpipeResult> {
  const log = new StepLog(options.verbose ?? false, "socketpipe");
  const choose = () => chooseDataPath(options.copy ? "stream" : "auto", seams.dataPath);
  const clock = watchData(options, control);
  const failed = (fault: Fault) => ({
    // Every fault here comes before the data path ran: the report names none.
    ...resultOfFault(fault, "none"),
    durations: clock.finish(),
  });

  const plan = planMeeting(options, log);
  if (plan instanceof Fault) return failed(plan);
  const token = newToken();
  const loggedIn = logIn(options, control, seams, { log, tree });
  if (loggedIn instanceof Fault) {
    closePlan(plan);
    return failed(loggedIn);
  }
  const { login, provisioning } = loggedIn;
  // While the login runs (ssh takes hundreds of milliseconds), bind libc for the data
  // path: that costs milliseconds, off the critical path here. As a subreaper, this
  // process gets its commands' orphans, so that it can tell when every holder of a
  // direction has let go, and leave none of them behind.
  const chosen = choose();
  becomeSubreaper();
  const channel = new LoginChannel(login.readable, login.writable, {
    peer: "remote",
    onNoise: (line) => log.always(`login: ${line}`),
  });
  const stopHandlingStops = control.jobControl ? handleStopRequests(channel) : () => {};
  const peerTimeout = options.peerTimeout ?? DEFAULT_PEER_TIMEOUT;
  const meeting = await meet(plan, token, {
    channel,
    timeoutSeconds: options.timeout ?? 0,
    signal: control.signal,
    log,
    session: sessionMessage(options, plan, token),
    provisioning,
    peerTimeout,
  });
  closePlan(plan);
  if (!meeting.met) {
    const parts = { login, channel, provisioning };
    const fault = await explainMissedMeeting(meeting, options, parts, control.signal);
    stopHandlingStops();
    await channel.close();
    await stopLogin(login, 0);
    return { ...failed(fault), ...provisionedBy(provisioning) };
  }
  applyPeerTimeout(meeting.conn, peerTimeout, log);
  const { hostname, port } = meeting.conn.remoteAddr;
  log.step(
    `connected ${plan.listen === "local" ? "from" : "to"} ${formatAddress(hostname, port)}; ` +
      `data path: ${chosen.path.name} (${chosen.why})`,
  );

  const transferred = await runLocalTransfer(meeting.conn, chosen.path, {
    input: options.input,
    output: options.output,
    channel,
    peerTimeout,
    signal: control.signal,
    tree,
    stopLogin: () => login.stop(),
    onData: clock.onData,
  });
  stopHandlingStops();
  await channel.close();
  await stopLogin(login, LOGIN_GRACE_MS);
  log.step(`${transferred.counts.sent} bytes sent, ${transferred.counts.received} bytes received`);
  const context = { channel, login, signal: control.signal, peerTimeout };
  const durations = clock.finish();
  const report = await reportRun(options, transferred, context, chosen.path.name);
  return { ...report, durations, ...provisionedBy(provisioning) };
}

/** What provisioning sent, for the result; nothing when it sent nothing. */
function provisionedBy(provisioning: Provisioning | undefined): Partial<SocketpipeResult> {
  const sent = provisioning?.sent ?? {};
  return Object.keys(sent).length > 0 ? { provisioned: sent } : {};
}

/**
 * Starts the login (or takes the test's), with the provisioning bootstrap in place of the
 * remote socketpipe unless `-x` or `--provision never` says otherwise.
 */
function logIn(
  options: SocketpipeOptions,
  control: RunControl,
  seams: LocalHalfSeams,
  { log, tree }: { log: StepLog; tree: ProcessTree },
): { login: LoginConnection; provisioning?: Provisioning } | Fault {
  const provisioning = provisioningFor(options, log) ?? undefined;
  if (provisioning) control.onProvisioning?.(() => provisioning.progress ?? null);
  if (control.jobControl) ignoreStopsForLogin(); // ssh must not stop on Ctrl-Z
  const starter = provisioning?.words;
  const login = seams.login ??
    startLogin({ ...options, starter, onStderr: control.onLoginOutput }, log, tree);
  return login instanceof Fault ? login : { login, provisioning };
}

/**
 * The remote half is provisioned unless `-x` names it or `--provision never` says to use
 * only what is installed there.
 */
function provisioningFor(options: SocketpipeOptions, log: StepLog): Provisioning | null {
  const mode = options.provision ?? "auto";
  if (options.remoteSocketpipe || mode === "never") return null;
  const peerTimeout = options.peerTimeout ?? DEFAULT_PEER_TIMEOUT;
  return prepareProvisioning(mode, log, peerTimeout, options.remoteCache ?? "");
}

/** The session line: everything the remote half needs to meet this half. */
function sessionMessage(
  options: SocketpipeOptions,
  plan: MeetingPlan,
  token: Uint8Array,
): SessionMessage {
  const local = plan.listen === "local";
  return {
    event: "session",
    version: PROTOCOL_VERSION,
    token: toHex(token),
    listen: plan.listen,
    port: local ? plan.listener.addr.port : 0,
    ports: local ? null : options.ports ?? null,
    bind: local ? null : options.bind ?? null,
    host: options.host ?? null,
    candidates: !local
      ? []
      : options.bind
      ? [options.bind]
      : candidateAddresses(plan.listener.addr.hostname === "::"),
    identity: networkIdentity(),
    input: options.input !== undefined,
    output: options.output !== undefined,
    dataPath: options.copy ? "stream" : "auto",
    peerTimeout: options.peerTimeout ?? DEFAULT_PEER_TIMEOUT,
  };
}

/** Which side listens; when this one does, its listener, opened now (before the login). */
function planMeeting(options: SocketpipeOptions, log: StepLog): MeetingPlan | Fault {
  if (options.listen === "remote") {
    return { listen: "remote", host: options.host ?? null, identity: networkIdentity() };
  }
  try {
    const listener = openDataListener({ bind: options.bind, ports: options.ports });
    log.step(`listening on ${formatAddress(listener.addr.hostname, listener.addr.port)}`);
    return { listen: "local", listener };
  } catch (error) {
    return FAULTS.cannotListen.of(messageOf(error));
  }
}

function closePlan(plan: MeetingPlan): void {
  if (plan.listen === "local") plan.listener.close();
}

/** Why the remote half never connected, as a fault. */
async function explainMissedMeeting(
  meeting: Meeting & { met: false },
  options: SocketpipeOptions,
  { login, channel, provisioning }: {
    login: LoginConnection;
    channel: LoginChannel;
    provisioning?: Provisioning;
  },
  signal: AbortSignal | undefined,
): Promise<Fault> {
  switch (meeting.cause) {
    case "interrupted":
      return FAULTS.interrupted.of(interruptionOf(signal));
    case "timeout":
      // Until the remote half speaks, the login is still going on (a password prompt,
      // a slow host): the remote host's reachability is not yet in question.
      if (!await valueIfSettled(channel.first("hello"))) {
        return FAULTS.loginNotFinished.of(formatBlock(options.login), options.timeout ?? 0);
      }
      return FAULTS.connectTimeout.of(options.timeout ?? 0);
    case "silent":
      return FAULTS.remoteSilent.of(options.peerTimeout ?? DEFAULT_PEER_TIMEOUT);
    case "remote-ended":
      return FAULTS.remoteEndedWithoutConnecting.of(
        formatBlock(options.remoteSocketpipe ?? DEFAULT_REMOTE_SOCKETPIPE),
      );
    case "fault":
      return meeting.fault;
    case "channel-closed":
      // Cut off in the middle of a payload (ssh killed, the link gone): that is the step.
      if (provisioning?.sending) {
        return FAULTS.provisionCutOff.of(provisioning.sending.what, provisioning.sending.sent);
      }
      // A login that closed the channel may still be ending on its own: give it a moment,
      // so that its own status can explain what happened.
      if (await settledWithin(login.status, LOGIN_GRACE_MS)) {
        const said = await login.lastWords?.() ?? "";
        const starter = provisioning?.words;
        return explainLoginEnd({ ...options, starter }, await login.status, said);
      }
      return FAULTS.loginChannelClosed.of(
        formatBlock(options.login),
        formatBlock(options.remoteSocketpipe ?? DEFAULT_REMOTE_SOCKETPIPE),
      );
  }
}

/** Why no remote report came, on one line. */
async function missingReportLine(
  ending: LocalTransferOutcome["ending"],
  channel: LoginChannel,
  login: LoginConnection,
  peerTimeout: number,
): Promise<string> {
  const problem = await valueIfSettled(channel.problem);
  if (problem) return problem;
  switch (ending.kind) {
    case "silent":
      return FAULTS.remoteSilent.line(peerTimeout);
    case "no-report":
      return FAULTS.remoteNoReport.line(REPORT_AFTER_FAILURE_SECONDS);
    default:
      return FAULTS.remoteVanished.line(describeStatus(await login.status));
  }
}

/** The run's result: the verdict on everything the data phase found. */
/**
 * Times the run and, for {@link RunControl.onProgress}, watches the data from when it
 * flows: `finish` reports the last figures and returns the durations.
 */
function watchData(options: SocketpipeOptions, control: RunControl) {
  const started = performance.now();
  let dataAt: number | null = null;
  let watch: ProgressWatch | null = null;
  const onData = (moved: () => { sent: number; received: number }) => {
    dataAt = performance.now();
    control.onData?.(moved);
    if (!control.onProgress) return;
    watch = new ProgressWatch(moved, {
      main: options.input ? "sent" : "received",
      size: control.progressSize,
      onProgress: control.onProgress,
    });
  };
  const finish = () => {
    watch?.stop();
    const ended = performance.now();
    return {
      setupSeconds: ((dataAt ?? ended) - started) / 1000,
      transferSeconds: dataAt === null ? 0 : (ended - dataAt) / 1000,
    };
  };
  return { onData, finish };
}

async function reportRun(
  options: SocketpipeOptions,
  transferred: LocalTransferOutcome,
  context: {
    channel: LoginChannel;
    login: LoginConnection;
    signal?: AbortSignal;
    peerTimeout: number;
  },
  dataPath: string,
): Promise<Omit<SocketpipeResult, "durations">> {
  const { ending } = transferred;
  const exit = ending.kind === "reported" ? ending.exit : null;
  const report = {
    input: transferred.input,
    output: transferred.output,
    remote: exit
      ? {
        argv: options.remote,
        status: exit.status,
        cutOff: exit.cutOff,
        counts: exit.counts,
        reopened: exit.reopened ?? false,
      }
      : null,
    local: transferred.counts,
    remoteMissing: exit
      ? null
      : await missingReportLine(ending, context.channel, context.login, context.peerTimeout),
    transportError: transferred.error ?? exit?.error ?? null,
  };
  // Interrupted: "both hosts" while the remote half was heard lately (it then ends its
  // command as the login goes); a peer silent for longer than its heartbeat allows (a cut
  // link) is left to stop its command on its own, once it hears nothing.
  const reachable = exit !== null || context.peerTimeout <= 0 ||
    context.channel.quietForMs() <= context.peerTimeout * 1000 / 2;
  const outcome = !context.signal?.aborted
    ? decideOutcome(report)
    : reachable
    ? outcomeOfFault(FAULTS.interrupted.of(interruptionOf(context.signal)))
    : outcomeOfFault(
      FAULTS.interruptedUnconfirmed.of(interruptionOf(context.signal), context.peerTimeout),
    );
  return { ...outcome, dataPath, ...report };
}

function interruptionOf(signal: AbortSignal | undefined): string {
  return typeof signal?.reason === "string" ? signal.reason : "request";
}

function outcomeOfFault(fault: Fault): { status: number; messages: string[] } {
  return { status: fault.status, messages: [fault.line] };
}

function resultOfFault(fault: Fault, dataPath: string): Omit<SocketpipeResult, "durations"> {
  return {
    ...outcomeOfFault(fault),
    dataPath,
    remote: null,
    local: { sent: 0, received: 0, delivered: 0 },
  };
}
