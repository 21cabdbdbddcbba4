/**
 * The meeting: the local half gets the authenticated data connection, either on its own
 * listener (the remote half connects, the default) or by connecting to the remote half's
 * (`--listen remote`), and stops waiting for any reason that means it will not come.
 *
 * @module
 */
import { REAL_CLOCK } from "../base/clock.ts";
import { settledWithin, valueIfSettled } from "../base/settled_within.ts";
import { addressesToTry, dialListener, formatAddress } from "../net/connect_back.ts";
import { acceptAuthenticated, closeDataListener } from "../net/data_listener.ts";
import { Fault, FAULTS } from "../base/faults.ts";
import { ownAddresses, sameNetwork } from "../net/host_identity.ts";
import type { LoginChannel } from "../login/login_channel.ts";
import type { StepLog } from "../base/log.ts";
import type { SessionMessage } from "../login/protocol.ts";
import { type Provisioning, provisionRemote } from "../provision/provision.ts";

/**
 * How a meeting ended: the data connection; or a fault this step can name (`fault`: the
 * remote half's problem, a provisioning stalled or cut, no route); or a cause that only
 * the local half can explain, knowing the login and the options.
 */
export type Meeting =
  | { met: true; conn: Deno.TcpConn }
  | {
    met: false;
    cause: "timeout" | "interrupted" | "channel-closed" | "silent" | "remote-ended";
  }
  | { met: false; cause: "fault"; fault: Fault };

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
 * @example Not run as a test: it needs a remote half on a login channel.
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
    ? REAL_CLOCK.after(timeoutMs, () => stopWith({ met: false, cause: "timeout" }))
    : undefined;
  const onAbort = () => stopWith({ met: false, cause: "interrupted" });
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const { channel } = options;
  channel.problem.then((line) =>
    stopWith({
      met: false,
      cause: "fault",
      fault: Fault.relayed(line, channel.problemAbout),
    })
  );
  channel.closed.then(() => stopWith({ met: false, cause: "channel-closed" }));
  // A remote half that is stopped, or that reports an end without connecting, must not
  // leave this half waiting for ever (even with no -t).
  // Until the remote half's first word, a provisioning's silence is the step it stalled at.
  let greeted = false;
  channel.first("hello").then((hello) => greeted = hello !== null);
  channel.silent.then(() =>
    stopWith(
      options.provisioning && !greeted
        ? { met: false, cause: "fault", fault: provisionStalled(options) }
        : { met: false, cause: "silent" },
    )
  );
  channel.first("exit").then((exit) => exit && stopWith({ met: false, cause: "remote-ended" }));

  try {
    const fault = await introduce(options, stop.signal);
    const meeting = fault
      ? { met: false as const, cause: "fault" as const, fault }
      : plan.listen === "local"
      ? await acceptOnListener(plan.listener, token, stop, options)
      : await connectToRemote(plan, token, stop.signal, options);
    return cause ?? meeting;
  } catch (error) {
    // The waits reject once the meeting is given up: the cause is set.
    if (cause) return cause;
    throw error;
  } finally {
    if (timer !== undefined) REAL_CLOCK.clear(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

/** How long a cut-off send waits for the bootstrap's own line before naming the cut. */
const CUT_OFF_GRACE_MS = 1000;

/**
 * Sends the session line, first serving a provisioning bootstrap what it asks for (it
 * reads its payloads on the login channel before the remote half reads the session), then
 * starts the heartbeat: only now, lest a heartbeat land inside a payload. A fault when
 * provisioning failed.
 */
async function introduce(options: MeetingOptions, signal: AbortSignal): Promise<Fault | null> {
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
    if (fault) {
      // A send cut off because the bootstrap failed and exited: its own line (a full
      // disk) is on its way, ahead of the channel's end; it names the cause, not the cut.
      await settledWithin(channel.closed, CUT_OFF_GRACE_MS);
      const problem = await valueIfSettled(channel.problem);
      return problem ? Fault.relayed(problem, channel.problemAbout) : fault;
    }
    // No need came: the channel closed, and the meeting's cause says why.
    if (await settledWithin(channel.closed, 0)) return await stopped;
  }
  await channel.send(options.session);
  channel.watchLiveness(options.peerTimeout); // from the remote half's first word on
  return null;
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
  return { met: true, conn };
}

/** A provisioning that stalled, naming its step. */
function provisionStalled(options: MeetingOptions): Fault {
  return FAULTS.provisionStalled.of(options.provisioning!.step, options.peerTimeout);
}

/** Rejects with the reason once `signal` is aborted: the other side of a race. */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

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
  const dialing = dialListener({
    addresses,
    port: listening.port,
    token,
    onAttempt: (address) =>
      options.log.step(`connecting to ${formatAddress(address, listening.port)}`),
    faults: { refused: FAULTS.remoteListenerRefused, unreachable: FAULTS.cannotReachRemote },
  });
  dialing.then((conn) => signal.aborted && !(conn instanceof Fault) && conn.close());
  const conn = await Promise.race([dialing, stopped]);
  return conn instanceof Fault ? { met: false, cause: "fault", fault: conn } : { met: true, conn };
}

/**
 * Closes this half's listener, if it has one (and what it accepted after its last wait).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closePlan } from "./meeting.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * closePlan({ listen: "local", listener });
 * await assert.rejects(listener.accept());
 * ```
 */
export function closePlan(plan: MeetingPlan): void {
  if (plan.listen === "local") closeDataListener(plan.listener);
}

/**
 * After a cut (`--reconnect`): how to get the remote half's next proven connection on the
 * listener, until the signal given is aborted.
 *
 * @example Not run as a test: it needs a remote half that connects again.
 * ```ts ignore
 * import { meetAgainOn } from "./meeting.ts";
 * const conn = await meetAgainOn(plan, token, log)(AbortSignal.timeout(30_000));
 * ```
 */
export function meetAgainOn(
  plan: MeetingPlan & { listen: "local" },
  token: Uint8Array,
  log: StepLog,
): (signal: AbortSignal) => Promise<Deno.TcpConn> {
  return (signal) =>
    acceptAuthenticated(plan.listener, token, {
      signal,
      onRefused: (address, reason) =>
        log.step(
          `refused a data connection from ${
            formatAddress(address.hostname, address.port)
          }: ${reason}`,
        ),
    });
}
