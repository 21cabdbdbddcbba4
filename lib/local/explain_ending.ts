/**
 * How a local half's run ended, in the words the user reads: why the remote half never
 * met this one (a fault), and the verdict on a run whose data moved (as `set -o pipefail`
 * decides, or the interruption).
 *
 * @module
 */
import { settledWithin, valueIfSettled } from "../base/settled_within.ts";
import { describeStatus } from "../base/command_status.ts";
import { Fault, FAULTS } from "../base/faults.ts";
import { isEngineBreak } from "../data/engine_state.ts";
import { formatBlock } from "../base/shell_quote.ts";
import { DEFAULT_REMOTE_SOCKETPIPE, LOGIN_GRACE_MS, type LoginConnection } from "../login/login.ts";
import { explainLoginEnd } from "../login/login_end.ts";
import type { LoginChannel } from "../login/login_channel.ts";
import type { Provisioning } from "../provision/provision.ts";
import { type LocalTransferOutcome, REPORT_AFTER_FAILURE_SECONDS } from "./local_transfer.ts";
import type { Meeting } from "./meeting.ts";
import { CIPHER } from "../net/data_wire.ts";
import type { ByteCounts, DataPath } from "../data/data_path.ts";
import { CurrentLogin } from "./login_again.ts";
import type { ExitMessage } from "../login/protocol.ts";
import type { SocketpipeOptions, SocketpipeResult } from "./socketpipe_types.ts";
import type { WithDefaults } from "../session/settings.ts";
import { decideOutcome } from "./outcome.ts";
/**
 * Why the remote half never connected, as a fault: the meeting's cause, told with what
 * the login said and did.
 */
export async function explainMissedMeeting(
  meeting: Meeting & { met: false },
  options: WithDefaults<SocketpipeOptions>,
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
        return FAULTS.loginNotFinished.of(formatBlock(options.login), options.timeout);
      }
      return FAULTS.connectTimeout.of(options.timeout);
    case "silent":
      return FAULTS.remoteSilent.of(options.peerTimeout);
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

/** Why no remote report came. */
async function missingReport(
  ending: LocalTransferOutcome["ending"],
  channel: LoginChannel,
  login: LoginConnection,
  peerTimeout: number,
  counts: ByteCounts,
): Promise<Fault> {
  const problem = await valueIfSettled(channel.problem);
  if (problem) return Fault.relayed(problem, channel.problemAbout);
  switch (ending.kind) {
    case "silent":
      return channel.silence === "process"
        ? FAULTS.remoteUnresponsive.of(peerTimeout)
        : FAULTS.remoteSilent.of(peerTimeout);
    case "no-report":
      return ending.answering
        ? FAULTS.remoteNoReportAnswering.of(Math.max(REPORT_AFTER_FAILURE_SECONDS, peerTimeout))
        : FAULTS.remoteNoReport.of(REPORT_AFTER_FAILURE_SECONDS);
    default:
      if (login instanceof CurrentLogin && login.notJoined) {
        const { seconds, cause } = login.notJoined;
        return FAULTS.loginNotRejoined.of(seconds, cause, counts.sent, counts.received);
      }
      return FAULTS.remoteVanished.of(describeStatus(await login.status));
  }
}

/**
 * The run's result once data moved: the verdict of `set -o pipefail` on every role, or,
 * if the run was interrupted, that (on both hosts while the remote half was heard of
 * lately; on this host only, when it had fallen silent).
 */
export async function verdictOn(
  options: SocketpipeOptions,
  transferred: LocalTransferOutcome,
  context: {
    channel: LoginChannel;
    login: LoginConnection;
    signal?: AbortSignal;
    peerTimeout: number;
  },
  path: DataPath,
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
        ...(exit.host ? { host: exit.host } : {}),
        ...(exit.stderr ? { stderr: exit.stderr } : {}),
      }
      : null,
    local: transferred.counts,
    remoteMissing: exit ? null : await missingReport(
      ending,
      context.channel,
      context.login,
      context.peerTimeout,
      transferred.counts,
    ),
    // A remote worker that broke comes first: the local half's failure follows from it.
    transportError: isEngineBreak(exit?.error)
      ? `remote ${exit!.error}`
      : transferred.error ?? exit?.error ?? null,
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
  const encryption = encryptionOf(options, path, exit);
  const { input, output, remote, local } = report;
  return { ...outcome, dataPath: path.name, input, output, remote, local, ...encryption };
}

function interruptionOf(signal: AbortSignal | undefined): string {
  return typeof signal?.reason === "string" ? signal.reason : "request";
}

function outcomeOfFault(fault: Fault): Pick<SocketpipeResult, "status" | "messages" | "fault"> {
  return { status: fault.status, messages: [fault.line], fault: fault.about };
}

/** With `--encrypt`, the cipher and where each half sealed the records, for the result. */
function encryptionOf(
  options: SocketpipeOptions,
  path: DataPath,
  exit: ExitMessage | null,
): Pick<SocketpipeResult, "encryption"> {
  if (!options.encrypt) return {};
  return { encryption: { cipher: CIPHER, local: path.engine, remote: exit?.encryption ?? null } };
}

/** The result of a run that failed before any data moved: its one line, no counts. */
export function resultOfFault(fault: Fault, dataPath: string): Omit<SocketpipeResult, "durations"> {
  return {
    ...outcomeOfFault(fault),
    dataPath,
    remote: null,
    local: { sent: 0, received: 0, delivered: 0 },
  };
}
