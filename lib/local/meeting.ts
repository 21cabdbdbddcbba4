/**
 * The meeting: the local half gets the authenticated data connection, either on its own
 * listener (the remote half connects, the default) or by connecting to the remote half's
 * (`--listen remote`), and stops waiting for any reason that means it will not come.
 *
 * @module
 */
import { settledWithin, valueIfSettled } from "../base/settled_within.ts";
import { addressesToTry, dialListener, formatAddress, RefusedError } from "../net/connect_back.ts";
import { acceptAuthenticated } from "../net/data_listener.ts";
import { messageOf } from "../base/errors.ts";
import { FAULTS } from "../base/faults.ts";
import { ownAddresses, sameNetwork } from "../net/host_identity.ts";
import type { LoginChannel } from "../login/login_channel.ts";
import type { StepLog } from "../base/log.ts";
import type { SessionMessage } from "../login/protocol.ts";
import { type Provisioning, provisionRemote } from "../provision/provision.ts";

/** How a meeting ended: the data connection, or why there is none. */
export type Meeting =
  | { met: true; conn: Deno.TcpConn; refused: number }
  | {
    met: false;
    cause: "timeout" | "interrupted" | "channel-closed" | "silent" | "remote-ended";
  }
  | { met: false; cause: "remote-problem"; line: string };

/** Which side listens: this one, on `listener`, or the remote half, which says where. */
export type MeetingPlan =
  | { listen: "local"; listener: Deno.TcpListener }
  | { listen: "remote"; host: string | null; identity: string | null };

/** What the meeting watches besides the listener. */
export interface MeetingOptions {
  /** The login channel: its closing, or the remote half's problem, ends the wait. */
  channel: LoginChannel;
  /** Seconds to wait (`-t`, counted from when the login started); 0 waits for ever. */
  timeoutSeconds: number;
  /** Aborted when the run is interrupted. */
  signal?: AbortSignal;
  /** For -v: each refused connection, each address tried. */
  log: StepLog;
  /** The session line, sent once the remote half can read it. */
  session: SessionMessage;
  /** When the remote half is provisioned: what its bootstrap may ask for. */
  provisioning?: Provisioning;
  /** The dead-peer bound in seconds, watched from the session on (0: none). */
  peerTimeout: number;
}

/**
 * Gets the one data connection whose peer proves `token`: accepts it on this half's
 * listener, refusing every other (and saying how many, once met), or connects to the
 * remote half's listener once it has said where it is. Gives up at the `-t` deadline,
 * on an interrupt, when the remote half reports a problem or an end, falls silent, or
 * when the login channel closes.
 *
 * @example
 * ```ts ignore
 * import { meet } from "./meeting.ts";
 * const meeting = await meet({ listen: "local", listener }, token, {
 *   channel, timeoutSeconds: 10, log,
 * });
 * if (!meeting.met) console.error(meeting.cause);
 * ```
 */
export async function meet(
  plan: MeetingPlan,
  token: Uint8Array,
  options: MeetingOptions,
): Promise<Meeting> {
  const stop = new AbortController();
  let cause: Meeting | null = null;
  const stopWith = (why: Meeting & { met: false }) => {
    cause ??= why;
    stop.abort();
  };
  const timeoutMs = options.timeoutSeconds * 1000;
  const timer = timeoutMs > 0
    ? setTimeout(() => stopWith({ met: false, cause: "timeout" }), timeoutMs)
    : undefined;
  const onAbort = () => stopWith({ met: false, cause: "interrupted" });
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const { channel } = options;
  channel.problem.then((line) => stopWith({ met: false, cause: "remote-problem", line }));
  channel.closed.then(() => stopWith({ met: false, cause: "channel-closed" }));
  // A remote half that is stopped, or that reports an end without connecting, must not
  // leave this half waiting for ever (even with no -t).
  // Until the remote half's first word, a provisioning's silence is the step it stalled at.
  let greeted = false;
  channel.first("hello").then((hello) => greeted = hello !== null);
  channel.silent.then(() =>
    stopWith(
      options.provisioning && !greeted
        ? { met: false, cause: "remote-problem", line: provisionStalledLine(options) }
        : { met: false, cause: "silent" },
    )
  );
  channel.first("exit").then((exit) => exit && stopWith({ met: false, cause: "remote-ended" }));

  try {
    await introduce(options, stop.signal);
    if (plan.listen === "local") return await acceptOnListener(plan.listener, token, stop, options);
    return await connectToRemote(plan, token, stop.signal, options);
  } catch (error) {
    if (cause) return cause;
    if (error instanceof MeetingFailure) {
      return { met: false, cause: "remote-problem", line: error.message };
    }
    throw error;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/** How long a cut-off send waits for the bootstrap's own line before naming the cut. */
const CUT_OFF_GRACE_MS = 1000;

/**
 * Sends the session line, first serving a provisioning bootstrap what it asks for (it
 * reads its payloads on the login channel before the remote half reads the session), then
 * starts the heartbeat: only now, lest a heartbeat land inside a payload.
 */
async function introduce(options: MeetingOptions, signal: AbortSignal): Promise<void> {
  const { channel, provisioning } = options;
  if (provisioning) {
    // Once the bootstrap has spoken, the login is through: silence, or a send that makes
    // no progress, for --peer-timeout ends the wait (no heartbeat inside a payload).
    channel.watchLiveness(options.peerTimeout, { heartbeat: false });
    const stopped = untilAborted(signal);
    const fault = await Promise.race([
      provisionRemote(provisioning, channel, options.log),
      stopped,
    ]);
    if (fault === "closed") return await stopped; // the channel closed: its cause is set
    if (fault) {
      // A send cut off because the bootstrap failed and exited: its own line (a full
      // disk) is on its way, ahead of the channel's end; it names the cause, not the cut.
      await settledWithin(channel.closed, CUT_OFF_GRACE_MS);
      throw new MeetingFailure((await valueIfSettled(channel.problem)) ?? fault.line);
    }
  }
  await channel.send(options.session);
  channel.watchLiveness(options.peerTimeout); // from the remote half's first word on
}

async function acceptOnListener(
  listener: Deno.TcpListener,
  token: Uint8Array,
  stop: AbortController,
  options: MeetingOptions,
): Promise<Meeting> {
  let refused = 0;
  const conn = await acceptAuthenticated(listener, token, {
    signal: stop.signal,
    onRefused: (address, reason) => {
      refused++;
      options.log.step(
        `refused a data connection from ${
          formatAddress(address.hostname, address.port)
        }: ${reason}`,
      );
    },
  });
  if (refused) options.log.always(FAULTS.refusedConnections.line(refused));
  return { met: true, conn, refused };
}

/** The line for a provisioning that stalled, naming its step. */
function provisionStalledLine(options: MeetingOptions): string {
  return FAULTS.provisionStalled.line(options.provisioning!.step, options.peerTimeout);
}

/** Rejects with the reason once `signal` is aborted: the other side of a race. */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

/** A meeting that failed for a reason the line says. */
class MeetingFailure extends Error {}

async function connectToRemote(
  plan: { host: string | null; identity: string | null },
  token: Uint8Array,
  signal: AbortSignal,
  options: MeetingOptions,
): Promise<Meeting> {
  const stopped = untilAborted(signal);
  const listening = await Promise.race([options.channel.first("listening"), stopped]);
  if (!listening) return await stopped; // the channel closed: its cause is set
  const addresses = addressesToTry({
    host: plan.host,
    fromLogin: listening.reached,
    candidates: listening.addresses,
    sameNetwork: sameNetwork(plan.identity, listening.identity),
    ownAddresses: ownAddresses(),
  });
  try {
    const dialing = dialListener({
      addresses,
      port: listening.port,
      token,
      onAttempt: (address) =>
        options.log.step(`connecting to ${formatAddress(address, listening.port)}`),
    });
    dialing.then((conn) => signal.aborted && conn.close(), () => {});
    const conn = await Promise.race([dialing, stopped]);
    return { met: true, conn, refused: 0 };
  } catch (error) {
    if (signal.aborted) throw error;
    const line = error instanceof RefusedError
      ? FAULTS.remoteListenerRefused.line(messageOf(error))
      : FAULTS.cannotReachRemote.line(messageOf(error));
    throw new MeetingFailure(line);
  }
}
