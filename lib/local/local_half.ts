/**
 * The local half: `socketpipe()`, the run's story. Plan the meeting (listen, unless the
 * remote host does), log in (provisioning the remote half if it must), meet on the
 * authenticated data connection, move the data with the local commands, stop the login,
 * and report how every role ended.
 *
 * @module
 */
import { Fault, FAULTS } from "../base/faults.ts";
import { toHex } from "../base/hex.ts";
import { StepLog } from "../base/log.ts";
import { messageOf } from "../base/message_of.ts";
import { LOGIN_GRACE_MS } from "../login/login.ts";
import type { LoginChannel } from "../login/login_channel.ts";
import type { SessionMessage } from "../login/protocol.ts";
import { formatAddress } from "../net/connect_back.ts";
import { candidateAddresses, openDataListener } from "../net/data_listener.ts";
import { newToken } from "../net/handshake.ts";
import { closeQuietly } from "../net/conn_io.ts";
import { networkIdentity } from "../net/host_identity.ts";
import { ProcessTree } from "../process/process_tree.ts";
import type { Provisioning } from "../provision/provision.ts";
import { PROTOCOL_VERSION } from "../base/version.ts";
import { explainMissedMeeting, resultOfFault, verdictOn } from "./explain_ending.ts";
import { type RemoteEnding, runLocalTransfer } from "./local_transfer.ts";
import type { Settings } from "../session/connection_options.ts";
import {
  armReconnect,
  choosePathFor,
  type ChosenPath,
  type SetUpContext,
  setUpDataConnection,
} from "../session/data_connection.ts";
import { settingsOf, withDefaults } from "../session/settings.ts";
import { closePlan, meet, meetAgainOn, type MeetingPlan } from "./meeting.ts";
import type {
  LocalHalfSeams,
  RunControl,
  SocketpipeOptions,
  SocketpipeResult,
} from "./socketpipe_types.ts";
import { watchRun } from "./run_clock.ts";
import type { Moved } from "../progress/progress.ts";
import { logIn, openChannel } from "./log_in.ts";
import { armLoginAgain, CurrentLogin } from "./login_again.ts";
import { validateOptions } from "./validate_options.ts";

/**
 * Runs one transfer: logs in, meets the remote half on an authenticated data connection,
 * runs the commands, and reports how every one of them ended. Command failures do not
 * throw; they are in the result, with the exit status the command line tool would use.
 *
 * @throws {UsageError} when the options are incomplete.
 * @example Not run as a test: it logs in to a host and runs commands there.
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

/**
 * {@link socketpipe}, with the login and the data path replaceable for tests. The run, in
 * order: listen, log in, send the session line, meet, move data, stop the login, report.
 *
 * @example Not run as a test: it needs a login and a remote half (see tests/in_process/).
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
  const run = withDefaults(options);
  const settings = settingsOf(run);
  const clock = watchRun(options, control);
  const failed = (fault: Fault) => ({
    // Every fault here comes before the data path ran: the report names none.
    ...resultOfFault(fault, "none"),
    durations: clock.finish(),
  });

  const plan = planMeeting(options, log);
  if (plan instanceof Fault) return failed(plan);
  const token = newToken();
  const loggedIn = logIn(run, control, seams, { log, tree });
  if (loggedIn instanceof Fault) {
    closePlan(plan);
    return failed(loggedIn);
  }
  const { provisioning } = loggedIn;
  const login = new CurrentLogin(loggedIn.login);
  // While the login runs (ssh takes hundreds of milliseconds), bind libc for the data
  // path: that costs milliseconds, off the critical path here. As a subreaper, this
  // process gets its commands' orphans, so that it can tell when every holder of a
  // direction has let go, and leave none of them behind.
  const chosen = choosePathFor(settings, seams.dataPath);
  tree.becomeSubreaper();
  const { channel, endLogin } = openChannel(login, control, log);
  const { peerTimeout } = settings;
  const session = sessionMessage(options, settings, plan, token);
  const meeting = await meet(plan, token, {
    ...{ channel, log, provisioning, peerTimeout, signal: control.signal },
    timeoutSeconds: run.timeout,
    session,
  });
  // With --reconnect the listener stays open for the remote half to meet this half again.
  if (!settings.reconnect) closePlan(plan);
  const parts = { login, channel, provisioning };
  const setUp = setUpContextOf(options, { settings, chosen, token, log, plan, channel });
  const ready = meeting.met
    ? await setUpDataConnection(meeting.conn, setUp)
    : await explainMissedMeeting(meeting, run, parts, control.signal);
  if (ready instanceof Fault) {
    if (meeting.met) closeQuietly(meeting.conn);
    closePlan(plan);
    await endLogin(0);
    return { ...failed(ready), ...provisionedBy(provisioning) };
  }
  if (plan.listen === "local" && settings.reconnect) {
    armReconnect(ready, setUp, meetAgainOn(plan, token, log), channel.first("exit"));
    armLoginAgain(channel, {
      ...{ login, session, provisioning, log },
      startLogin: loggedIn.startAgain,
      seconds: settings.reconnect,
    });
  }

  const transferred = await runLocalTransfer(ready.conn, ready.path, {
    ...{ channel, peerTimeout, tree, wire: ready.wire, signal: control.signal },
    ...{ input: options.input, output: options.output },
    // Stopped on purpose: not a cut to log in again after (the remote half is told so).
    stopLogin: () => channel.endRejoins().then(() => login.stop()),
    onData: (moved) => clock.onData(() => withLoginCutsIn(moved(), login)),
    onStarted: ready.sayHowItRuns,
  });
  closePlan(plan);
  await endLogin(LOGIN_GRACE_MS);
  log.step(`${transferred.counts.sent} bytes sent, ${transferred.counts.received} bytes received`);
  const context = { channel, login, signal: control.signal, peerTimeout };
  const durations = clock.finish();
  const report = await verdictOn(options, transferred, context, transferred.path);
  const local = withLoginCuts({ ...ready.applied, ...transferred.applied }, login.cuts);
  const applied = appliedOn(local, transferred.ending);
  return { ...report, durations, ...provisionedBy(provisioning), ...applied };
}

/** What the options did to the data connection on each host, for the result; if anything. */
function appliedOn(
  local: Record<string, string>,
  ending: RemoteEnding,
): Pick<SocketpipeResult, "applied"> {
  const remote = ending.kind === "reported" ? ending.exit.applied ?? null : null;
  const anything = (applied: Record<string, string> | null) => Object.keys(applied ?? {}).length;
  if (!anything(local) && !anything(remote)) return {};
  return { applied: { local, remote } };
}

/** `--reconnect`'s account, with the cuts of the login survived, if any. */
function withLoginCuts(applied: Record<string, string>, cuts: number): Record<string, string> {
  if (!cuts || applied.reconnect === undefined) return applied;
  const survived = `${cuts} login cut${cuts === 1 ? "" : "s"} survived`;
  return { ...applied, reconnect: `${applied.reconnect}; ${survived}` };
}

/** What moved, with the cuts of the login counted among the cuts (for -P). */
function withLoginCutsIn(moved: Moved, login: CurrentLogin): Moved {
  if (moved.cuts === undefined) return moved;
  return {
    ...moved,
    cuts: moved.cuts + login.cuts,
    cutNow: moved.cutNow || login.rejoining,
  };
}

/** What provisioning sent, for the result; nothing when it sent nothing. */
function provisionedBy(provisioning: Provisioning | undefined): Partial<SocketpipeResult> {
  const sent = provisioning?.sent ?? {};
  return Object.keys(sent).length > 0 ? { provisioned: sent } : {};
}

/** The session line: everything the remote half needs to meet this half. */
function sessionMessage(
  options: SocketpipeOptions,
  settings: Settings,
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
    settings,
    rejoin: null,
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

/** What the data connection's set-up needs of this half. */
function setUpContextOf(
  options: SocketpipeOptions,
  { settings, chosen, token, log, plan, channel }: {
    settings: Settings;
    chosen: ChosenPath;
    token: Uint8Array;
    log: StepLog;
    plan: MeetingPlan;
    channel: LoginChannel;
  },
): SetUpContext {
  return {
    ...{ role: "local", settings, chosen, token, log },
    sends: options.input !== undefined,
    accepted: plan.listen === "local",
    hearHostAlso: (heard) => channel.hearHostAlso(heard),
  };
}
