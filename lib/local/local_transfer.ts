/**
 * The local half's data phase: run the input and output commands on the data connection,
 * follow the remote half's reports, and end in one of a few explicit ways.
 *
 * @module
 */
import type { MovedSoFar } from "../progress/progress.ts";
import { settledWithin, valueIfSettled } from "../base/settled_within.ts";
import type {
  ByteCounts,
  DataPath,
  LocalTransfer,
  Transfer,
  WireOptions,
} from "../data/data_path.ts";
import { endReceivingOnceWhole } from "../data/end_of_stream.ts";
import type { LoginChannel } from "../login/login_channel.ts";
import type { RoleReport } from "./outcome.ts";
import type { ExitMessage } from "../login/protocol.ts";
import type { ProcessTree } from "../process/process_tree.ts";

/** Seconds to wait for the remote half's report once the data connection failed. */
export const REPORT_AFTER_FAILURE_SECONDS = 2;

/** How the wait for the remote half's report ended. */
export type RemoteEnding =
  /** Its report came. */
  | { kind: "reported"; exit: ExitMessage }
  /** Nothing at all was heard from it for the dead-peer bound. */
  | { kind: "silent" }
  /**
   * The data connection failed and no report followed within a short wait, or, while the
   * remote half still answered (`answering`), within the peer timeout.
   */
  | { kind: "no-report"; answering: boolean }
  /** The login channel closed without a report. */
  | { kind: "closed" };

/** What the local half's data phase found. */
export interface LocalTransferOutcome {
  /** How the wait for the remote half's report ended. */
  ending: RemoteEnding;
  /** How the input command ended, if there was one. */
  input?: RoleReport;
  /** How the output command ended, if there was one. */
  output?: RoleReport;
  /** The local half's byte counts. */
  counts: ByteCounts;
  /** What the transfer did for an option (see `Transfer.applied`). */
  applied: Record<string, string>;
  /** The local data connection's failure, or null. */
  error: string | null;
  /** The data path that ran: the one chosen, unless the transfer fell back to another. */
  path: DataPath;
}

/** What the data phase needs besides the connection. */
export interface LocalTransferContext {
  /** The input command, if any. */
  input?: readonly string[];
  /** The output command, if any. */
  output?: readonly string[];
  /** The login channel, carrying the remote half's reports. */
  channel: LoginChannel;
  /** The dead-peer bound in seconds (0: none). */
  peerTimeout: number;
  /** Aborted when the run is interrupted: every command is stopped. */
  signal?: AbortSignal;
  /** The run's processes: the local commands are started in it. */
  tree: ProcessTree;
  /** Stops the login (and with it the remote half), when the run is being stopped. */
  stopLogin(): Promise<void>;
  /** Told, once the commands run, how to read the bytes moved so far. */
  onData?(moved: MovedSoFar): void;
  /** What the data path needs of the options: `--encrypt`'s keys, `--limit`'s rate. */
  wire: WireOptions;
  /** Told at once how the transfer runs (on another path than `dataPath`, and why; its copy engine). */
  onStarted?(transfer: Pick<Transfer, "fellBack" | "copiedBy">): void;
}

/**
 * Runs the local commands on the data connection until the remote half's report comes,
 * or it is clear that none will; in that case, or on an interrupt, stops every command.
 *
 * @example Not run as a test: it needs a data connection and a remote half.
 * ```ts ignore
 * import { runLocalTransfer } from "./local_transfer.ts";
 * const outcome = await runLocalTransfer(conn, zeroCopyPath, { input: ["cat", "f"], channel,
 *   peerTimeout: 20, stopLogin: () => login.kill("SIGTERM") });
 * ```
 */
export async function runLocalTransfer(
  conn: Deno.TcpConn,
  dataPath: DataPath,
  options: LocalTransferContext,
): Promise<LocalTransferOutcome> {
  const { channel } = options;
  const wire = options.wire;
  const transfer = await dataPath.startLocal(conn, options, options.tree, wire);
  options.onStarted?.(transfer);
  options.onData?.(() => transfer.moved());
  // When the remote command ends or stops reading, stop feeding it, as a pipe would; when
  // the output command stops reading, tell the remote half to stop feeding us.
  const remoteStopped = remoteStopsReading(channel);
  remoteStopped.then((stop) => stop && transfer.stopSending());
  transfer.consumerGone.then(() => channel.send({ event: "consumer-gone" }));
  // The remote half learns how much the input sent: the stream toward it is whole once
  // that much has arrived, whether or not the FIN follows.
  if (transfer.input) transfer.allSent.then((bytes) => channel.send({ event: "sent", bytes }));
  let stopping: Promise<void> | null = null;
  const stopEverything = () => stopping ??= stopTransfer(transfer, options.stopLogin);
  options.signal?.addEventListener("abort", stopEverything, { once: true });
  // A signal may have come while the transfer started (its engine's workers loading).
  if (options.signal?.aborted) stopEverything();

  channel.watchLiveness(options.peerTimeout);
  const ending = await remoteEnding(channel, transfer, options.peerTimeout);
  if (ending.kind !== "reported") stopEverything(); // nothing more will come from it
  else settleAfterReport(transfer, ending.exit, options.peerTimeout);
  const [result, inputStatus, outputStatus] = await Promise.all([
    transfer.finished,
    transfer.input?.status,
    transfer.output?.status,
  ]);
  await stopping;
  options.signal?.removeEventListener("abort", stopEverything);
  // Only a remote command that stopped reading early cuts the input off, as a pipe would;
  // one that read to the end cannot have, so the input's SIGPIPE then counts.
  const inputCutOff = (await valueIfSettled(remoteStopped))?.early ?? false;
  return {
    ending,
    input: transfer.input && inputStatus
      ? { argv: transfer.input.argv, status: inputStatus, cutOff: inputCutOff }
      : undefined,
    output: transfer.output && outputStatus
      ? { argv: transfer.output.argv, status: outputStatus, cutOff: false }
      : undefined,
    counts: result.counts,
    applied: transfer.applied?.() ?? {},
    error: result.error,
    path: transfer.fellBack?.path ?? dataPath,
  };
}

/**
 * Resolves when the remote command (with everything it started) no longer reads its
 * input before the end of the stream; null if the channel closed first.
 */
function remoteStopsReading(channel: LoginChannel): Promise<{ early: boolean } | null> {
  return channel.first("consumer-gone").then((gone) => gone && { early: true });
}

/**
 * The remote half reports once its command has ended, which may be long after the data
 * connection closed (a remote dd still flushing to tape): wait for it. But if the data
 * connection failed, the peer is most likely gone with it: wait only briefly, unless it is
 * still heard (a busy host's report on its way): then for the peer timeout.
 */
async function remoteEnding(
  channel: LoginChannel,
  transfer: LocalTransfer,
  peerTimeout: number,
): Promise<RemoteEnding> {
  const reported = channel.first("exit").then((exit): RemoteEnding =>
    exit ? { kind: "reported", exit } : { kind: "closed" }
  );
  return await Promise.race([
    reported,
    channel.silent.then((): RemoteEnding => ({ kind: "silent" })),
    transfer.finished.then(async (result): Promise<RemoteEnding> => {
      if (!result.error) return reported;
      const briefly = REPORT_AFTER_FAILURE_SECONDS * 1000;
      if (await settledWithin(reported, briefly)) return reported;
      const answering = channel.quietForMs() < briefly;
      if (answering && await settledWithin(reported, Math.max(0, peerTimeout * 1000 - briefly))) {
        return reported;
      }
      return { kind: "no-report", answering };
    }),
  ]);
}

/**
 * Once the remote half has reported, nothing waits on the data connection without end. The
 * remote command has ended: it reads nothing more, so this half stops sending, as a pipe
 * whose reader is gone. The stream from it ends here once every byte it sent has arrived,
 * or once nothing more has arrived for the peer timeout (see `endReceivingOnceWhole`).
 */
function settleAfterReport(
  transfer: LocalTransfer,
  exit: ExitMessage,
  peerTimeout: number,
): Promise<void> {
  transfer.stopSending();
  return endReceivingOnceWhole(transfer, exit.counts.sent, peerTimeout * 1000);
}

/** Stops the local commands and the login, and ends the data connection. */
async function stopTransfer(
  transfer: LocalTransfer,
  stopLogin: () => Promise<void>,
): Promise<void> {
  transfer.abort();
  await Promise.all([stopLogin(), transfer.input?.stop(), transfer.output?.stop()]);
}
