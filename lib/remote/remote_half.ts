/**
 * The remote half (`socketpipe -s`, started through the login): greets the local half,
 * reads the session line, meets it on the data connection (`meeting.ts`), runs the
 * remote command on that connection and reports how it ended.
 *
 * @module
 */
import { Fault, FAULTS, TRANSPORT_STATUS } from "../base/faults.ts";
import { StepLog } from "../base/log.ts";
import { STOPPED, untilStopped, valueIfSettled } from "../base/settled_within.ts";
import { PROTOCOL_VERSION, VERSION } from "../base/version.ts";
import type { DataPath, RemoteTransfer } from "../data/data_path.ts";
import { endReceivingOnceWhole } from "../data/end_of_stream.ts";
import type { LoginChannel } from "../login/login_channel.ts";
import type { SessionMessage } from "../login/protocol.ts";
import { closeQuietly } from "../net/conn_io.ts";
import { ProcessTree, RUN_VARIABLE } from "../process/process_tree.ts";
import {
  armReconnect,
  choosePathFor,
  type ChosenPath,
  setUpDataConnection,
} from "../session/data_connection.ts";
import { meetLocalHalf, meetLocalHalfAgain } from "./meeting.ts";
import { fromHex } from "../base/hex.ts";
import { TOKEN_LENGTH } from "../net/handshake.ts";
import { armLoginRejoin, handOver, loginChannelOfRemoteHalf } from "./login_rejoin.ts";

/** Where the remote half talks to the local half, and how it moves data. */
export interface RemoteHalfOptions {
  /**
   * Print each step on stderr (which the login command carries back).
   * @default {false}
   */
  verbose?: boolean;
  /**
   * The login channel from the local half.
   * @default {Deno.stdin.readable}
   */
  controlIn?: ReadableStream<Uint8Array>;
  /**
   * The login channel to the local half.
   * @default {Deno.stdout.writable}
   */
  controlOut?: WritableStream<Uint8Array>;
  /**
   * `$SSH_CLIENT` as sshd set it for this session.
   * @default {Deno.env.get("SSH_CLIENT")}
   */
  sshClient?: string | null;
  /**
   * Aborted when this half is told to stop (SIGHUP from sshd, SIGTERM, SIGINT): the
   * command and everything it started are stopped, as when the local half is gone.
   */
  signal?: AbortSignal;
  /**
   * How the command gets the data.
   * @default {the zero-copy path where it can run, else the stream path}
   */
  dataPath?: DataPath;
}

/**
 * Runs the remote half (`socketpipe -s -- command…`): reads the session line from the
 * login channel, connects back to the local half, runs `command` on the data connection
 * and reports how it ended. If the login channel closes first, the local half is gone:
 * the command is stopped, so nothing is left running. Resolves with the exit status.
 *
 * @example Not run as a test: it needs a local half on its login channel.
 * ```ts ignore
 * import { serveRemoteHalf } from "./remote_half.ts";
 * Deno.exit(await serveRemoteHalf(["dd", "of=/dev/null"]));
 * ```
 */
export async function serveRemoteHalf(
  command: readonly string[],
  options: RemoteHalfOptions = {},
): Promise<number> {
  const log = new StepLog(options.verbose ?? false, "socketpipe -s");
  const channel = loginChannelOfRemoteHalf(options.controlIn, options.controlOut, log);
  const fail = (step: string, fault: Fault) => tellFault(channel, log, step, fault);
  // As its own process (reading the login channel on stdin), nothing else here starts
  // children: every orphan is the run's, and the half ends with its login, even stopped
  // or hung before it could meet (the watchdog sees its parent gone). In a test's
  // process, only the marked orphans, and no such end.
  const ownProcess = options.controlIn === undefined;
  const tree = new ProcessTree({
    claimOrphans: ownProcess,
    watchdog: true,
    endWithParent: ownProcess,
    // The local half names the run in this half's environment: one name on both hosts.
    run: ownProcess ? Deno.env.get(RUN_VARIABLE) : undefined,
    role: "remote",
  });
  tree.becomeSubreaper();
  try {
    await channel.send({ event: "hello", version: PROTOCOL_VERSION, program: VERSION });
    const session = await channel.first("session");
    if (!session) {
      const problem = await valueIfSettled(channel.problem);
      return await fail("session", problem ? Fault.relayed(problem) : FAULTS.noSessionLine.of());
    }
    if (session.rejoin !== null) {
      const handed = await handOver(session.rejoin, session, channel);
      return handed instanceof Fault ? await fail("rejoin", handed) : handed;
    }
    // From here the local half listens for silence: a heartbeat even while connecting.
    channel.watchLiveness(session.settings.peerTimeout);
    // Binding libc for the data path takes milliseconds: done while the connection is made.
    const chosen = choosePathFor(session.settings, options.dataPath);
    const sshClient = options.sshClient !== undefined
      ? options.sshClient ?? undefined
      : Deno.env.get("SSH_CLIENT");
    // A signal before the meeting ends the wait for it at once, and says so.
    const meeting = meetLocalHalf(session, channel, sshClient, log);
    const meetingStep = session.listen === "local" ? "connect" : "listen";
    const conn = await untilStopped(meeting, options.signal);
    if (conn === STOPPED) {
      meeting.then((late) => late instanceof Fault || closeQuietly(late));
      return await fail(meetingStep, stoppedBy(options.signal!));
    }
    if (conn instanceof Fault) return await fail(meetingStep, conn);
    const context = { session, channel, log, tree, chosen, signal: options.signal, ownProcess };
    const again = (signal: AbortSignal) =>
      meetLocalHalfAgain(session, channel, sshClient, log, signal);
    return await runRemoteCommand(conn, command, { ...context, meetAgain: again });
  } finally {
    await channel.close();
    // Should this process be killed outright before this, the tree's watchdog kills what
    // the command started.
    await tree.release();
  }
}

/** This host's name, for the local half's line about a command that failed here. */
function hostName(): { host?: string } {
  try {
    return { host: Deno.hostname() };
  } catch {
    return {}; // not permitted: the line says "the remote host"
  }
}

/**
 * Runs the remote command on the data connection and reports its end (`ended`), then,
 * once the stream is finished, its status and byte counts (`exit`). Stops the command if
 * the local half goes away first.
 */
async function runRemoteCommand(
  conn: Deno.TcpConn,
  command: readonly string[],
  context: {
    session: SessionMessage;
    channel: LoginChannel;
    log: StepLog;
    tree: ProcessTree;
    chosen: ChosenPath;
    signal?: AbortSignal;
    meetAgain(signal: AbortSignal): Promise<Deno.TcpConn | null>;
    /** Whether the login channel is this process's stdio (a login can be handed to it). */
    ownProcess: boolean;
  },
): Promise<number> {
  const { session, channel, log } = context;
  const setUp = {
    role: "remote" as const,
    settings: session.settings,
    chosen: context.chosen,
    sends: session.output,
    accepted: session.listen === "remote",
    token: fromHex(session.token, TOKEN_LENGTH)!,
    log,
    hearHostAlso: (heard: () => number | null) => channel.hearHostAlso(heard),
  };
  const ready = await setUpDataConnection(conn, setUp);
  if (ready instanceof Fault) {
    closeQuietly(conn);
    return await tellFault(channel, log, "data connection", ready);
  }
  armReconnect(ready, setUp, context.meetAgain, channel.closed);
  const place = ready.wire.reconnect && context.ownProcess
    ? armLoginRejoin(session, channel, log, context.tree)
    : null;
  try {
    const transfer = await ready.path.startRemote(conn, command, session, context.tree, ready.wire);
    ready.sayHowItRuns(transfer);
    const ran = transfer.fellBack?.path ?? ready.path;
    const engine = ready.wire.keys && ran.engine;
    return await superviseRemoteCommand(transfer, { ...context, engine, applied: ready.applied });
  } finally {
    place?.close();
  }
}

/**
 * This half was stopped by a signal on its own host (SIGTERM from an admin, a shutdown):
 * the local half is told so, rather than left to guess at a vanished peer.
 */
function stoppedBy(signal: AbortSignal): Fault {
  return FAULTS.remoteHalfStopped.of(typeof signal.reason === "string" ? signal.reason : "SIGTERM");
}

/**
 * Sends the local half this half's fault at `step`, and returns its exit status. The local
 * half prints what it is sent; the line is printed here only when it cannot be sent, so
 * that a fault is told once.
 */
async function tellFault(
  channel: LoginChannel,
  log: StepLog,
  step: string,
  fault: Fault,
): Promise<number> {
  const { kind, retry } = fault.about;
  if (!await channel.send({ event: "error", step, message: fault.line, kind, retry })) {
    log.always(`${step}: ${fault.line}`);
  }
  return fault.status;
}

async function superviseRemoteCommand(
  transfer: RemoteTransfer,
  context: {
    session: SessionMessage;
    channel: LoginChannel;
    log: StepLog;
    tree: ProcessTree;
    signal?: AbortSignal;
    /** With `--encrypt`: who sealed the records on this host. */
    engine?: string;
    /** What each option did to the data connection here. */
    applied: Record<string, string>;
  },
): Promise<number> {
  const { session, channel, log } = context;
  const consumerGone = channel.first("consumer-gone");
  consumerGone.then((gone) => gone && transfer.stopSending());
  transfer.consumerGone.then(() => channel.send({ event: "consumer-gone" }));
  // Once all the input sent has arrived, its FIN is not waited for without end.
  channel.first("sent").then((sent) => sent && endReceivingOnceWhole(transfer, sent.bytes));
  // The local half is gone when the login channel closes, or falls silent (a cut link or
  // a crashed host, which sshd may not notice for many minutes).
  const { peerTimeout } = session.settings;
  channel.watchLiveness(peerTimeout);
  const stopped = new Promise<void>((resolve) => {
    if (context.signal?.aborted) resolve();
    context.signal?.addEventListener("abort", () => resolve(), { once: true });
  });
  const localHalfGone = Promise.race([
    channel.closed.then(() => FAULTS.localHalfGone.of()),
    channel.silent.then(() =>
      channel.silence === "process"
        ? FAULTS.localHalfUnresponsive.of(peerTimeout)
        : FAULTS.localHalfSilent.of(peerTimeout)
    ),
    stopped.then(() => null),
  ]);

  // The report waits for the command and for everything it started to be done with the
  // data: as a pipe's reader sees its end only when the last writer has closed.
  const ended = transfer.finished.then(async (result) => ({
    result,
    status: await transfer.command.status,
  }));
  const done = await Promise.race([ended, localHalfGone]);
  if (done === null || done instanceof Fault) {
    transfer.abort();
    await context.tree.stop(null);
    await transfer.command.status;
    if (context.signal?.aborted || done === null) {
      return await tellFault(channel, log, "run", stoppedBy(context.signal!));
    }
    log.always(done.line);
    return done.status;
  }
  const { result: { counts, error }, status } = done;
  log.step(`remote command ended; ${counts.received} bytes in, ${counts.sent} out`);
  const cutOff = (await valueIfSettled(consumerGone)) !== null;
  const reopened = transfer.reopenedByName?.() ?? false;
  const reported = await channel.send({
    event: "exit",
    status,
    cutOff,
    counts,
    error,
    reopened,
    ...(context.engine ? { encryption: context.engine } : {}),
    ...hostName(),
    stderr: transfer.lastWords(),
    applied: { ...context.applied, ...transfer.applied?.() },
  });
  // Nothing of the run stays on the remote host: what the command left running (holding
  // no data, or the run would not have ended) is stopped with the session, whether the
  // end was clean or the local half was interrupted.
  await context.tree.stop(null);
  return reported ? 0 : TRANSPORT_STATUS;
}
