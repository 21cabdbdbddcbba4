import {
  type CommandStatus,
  describeStatus,
  SIGPIPE_STATUS,
  statusOfSignal,
} from "../base/command_status.ts";
import type { ByteCounts } from "../data/data_path.ts";
import {
  COMMAND_LINES,
  Fault,
  FAULT_CLASSES,
  type FaultClass,
  FAULTS,
  TRANSPORT_STATUS,
} from "../base/faults.ts";
import { formatBlock } from "../base/shell_quote.ts";

/** How one command of the run ended. */
export interface RoleReport {
  /** The command's argv. */
  argv: readonly string[];
  /** How it ended. */
  status: CommandStatus;
  /**
   * Its output was closed because the command reading it had ended, as a pipe closes
   * when its reader exits; a SIGPIPE then is the expected way to end, not a failure.
   */
  cutOff: boolean;
  /** The host it ran on, where that is not this one: the remote host's name. */
  host?: string;
  /** The last lines it wrote on its stderr, where socketpipe saw them (the remote command). */
  stderr?: string[];
}

/** Everything a finished run knows, from which its exit status follows. */
export interface RunEvidence {
  input?: RoleReport;
  /**
   * The remote command's report with the remote half's byte counts, and whether it
   * reopened its input or output by name; null if none came.
   */
  remote: (RoleReport & { counts: ByteCounts; reopened?: boolean }) | null;
  output?: RoleReport;
  /** The local half's byte counts. */
  local: ByteCounts;
  /** Why no remote report came (e.g. the remote half vanished), or null. */
  remoteMissing: Fault | null;
  /** A failure of the data connection on either half, or null. */
  transportError: string | null;
}

/** The exit status of a run and the lines that explain it. */
export interface Outcome {
  /** 0, 2 for a transport failure, else the rightmost failing command's status. */
  status: number;
  /** What failed, for scripts: the first transport fault, else the deciding command. */
  fault?: FaultClass;
  /**
   * One line per failure, cause first: bytes lost between the hosts, then the commands
   * that failed on their own (input → remote → output), then the writers their end cut
   * off (SIGPIPE); empty on success.
   */
  messages: string[];
}

/** No report came, and nothing said why. */
const VANISHED = new Fault(TRANSPORT_STATUS, COMMAND_LINES.vanished, {
  kind: "remoteVanished",
  ...FAULT_CLASSES.remoteVanished,
});

function failed(role: RoleReport | undefined): role is RoleReport {
  return role !== undefined && role.status.status !== 0;
}

/**
 * Decides the run's exit status and lines as `set -o pipefail` would: the rightmost
 * command (in input → remote → output order) that did not exit 0 gives the status, a
 * SIGPIPE included, as in a shell; a transport fault (a lost or truncated stream, a
 * missing report) overrides with 2, since then no command's status can be trusted to
 * describe the data. Every failure gets its own line, cause first; a SIGPIPE line names
 * the reader that stopped early.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decideOutcome } from "./outcome.ts";
 * const ok = { status: 0, signal: null, failedToStart: null };
 * const counts = { sent: 0, received: 5, delivered: 5 };
 * const outcome = decideOutcome({
 *   input: { argv: ["printf", "hello"], status: ok, cutOff: false },
 *   remote: { argv: ["cat"], status: ok, cutOff: false, counts },
 *   local: { sent: 5, received: 0, delivered: 0 },
 *   remoteMissing: null,
 *   transportError: null,
 * });
 * assert.deepEqual(outcome, { status: 0, messages: [] });
 * ```
 */
export function decideOutcome(report: RunEvidence): Outcome {
  const { input, remote, output, local } = report;
  const transport: Fault[] = [];
  /** Each failed command's line; `consequence`: its reader's end cut it off. */
  const commands: { line: string; status: number; consequence: boolean; role: string }[] = [];

  if (report.transportError) transport.push(FAULTS.dataConnection.of(report.transportError));
  if (!remote) {
    transport.push(report.remoteMissing ?? VANISHED);
  } else {
    if (local.sent !== remote.counts.received) {
      transport.push(FAULTS.truncatedToRemote.of(local.sent, remote.counts.received));
    }
    if (remote.counts.sent !== local.received) {
      transport.push(FAULTS.truncatedFromRemote.of(remote.counts.sent, local.received));
    }
  }

  const inputAsInPipe = remote ? asThroughPipe(input, local.sent, remote.counts) : input;
  const remoteAsInPipe = remote && (asThroughPipe(remote, remote.counts.sent, local) ?? remote);
  if (failed(inputAsInPipe)) {
    const input = inputAsInPipe;
    const reader = remote
      ? { role: "remote", argv: remote.argv, took: remote.counts.delivered }
      : null;
    commands.push({
      line: commandLine("input", input, reader),
      status: input.status.status,
      consequence: isCutOff(input),
      role: "input",
    });
  }
  if (remoteAsInPipe && failed(remoteAsInPipe)) {
    const remote = remoteAsInPipe;
    const taken = input && !remote.status.failedToStart && !isCutOff(remote)
      ? takenClause(remote.counts.delivered, remote.counts.received)
      : "";
    const reader = output ? { role: "output", argv: output.argv, took: local.delivered } : null;
    // On the socket, reopening /dev/stdin fails where a pipe's would not: say the remedy.
    const hint = remoteAsInPipe.reopened ? COMMAND_LINES.reopened : "";
    commands.push({
      line: commandLine("remote", remote, reader) + taken + hint,
      status: remote.status.status,
      consequence: isCutOff(remote),
      role: "remote",
    });
  }
  if (failed(output)) {
    const taken = output.status.failedToStart ? "" : takenClause(local.delivered, local.received);
    commands.push({
      line: commandLine("output", output, null) + taken,
      status: output.status.status,
      consequence: false,
      role: "output",
    });
  }

  // Cause first: bytes lost between the hosts explain the commands' ends; a command that
  // failed on its own explains the writers its end cut off.
  const causes = commands.filter((command) => !command.consequence);
  const consequences = commands.filter((command) => command.consequence);
  const messages = [...transport, ...causes, ...consequences].map((entry) => entry.line);
  if (transport.length) return { status: TRANSPORT_STATUS, messages, fault: transport[0].about };
  const deciding = commands.at(-1);
  if (deciding) {
    const fault = { kind: "command", step: "command", retry: false, role: deciding.role } as const;
    return { status: deciding.status, messages, fault };
  }
  return { status: 0, messages: [] };
}

/**
 * The most a pipe holds (Linux's default capacity). A writer that wrote more than this
 * beyond what its reader took was still writing when the reader left: a pipe would have
 * killed it with SIGPIPE.
 */
export const PIPE_CAPACITY = 65536;

/** A writer's report as a pipe would have ended it (see {@link PIPE_CAPACITY}). */
interface AsThroughPipe extends RoleReport {
  /** Set when the pipe's SIGPIPE stands in for the writer's own exit 0. */
  throughPipe?: { wrote: number };
}

/**
 * The writer's report as a pipe in its place would give it: a writer that exited 0 while
 * its reader stopped more than a pipe's capacity short of what it wrote would have been
 * killed by SIGPIPE there (the socket's buffers hold megabytes, a pipe 64 KiB).
 */
function asThroughPipe<R extends RoleReport>(
  writer: R | undefined,
  wrote: number,
  reader: ByteCounts,
): (R & AsThroughPipe) | undefined {
  if (!writer || writer.status.status !== 0) return writer;
  const stoppedEarly = reader.delivered < reader.received;
  if (!stoppedEarly || wrote - reader.delivered <= PIPE_CAPACITY) return writer;
  return {
    ...writer,
    status: statusOfSignal(SIGPIPE_STATUS - 128),
    cutOff: true,
    throughPipe: { wrote },
  };
}

/** A command killed by SIGPIPE after its reader stopped reading early. */
function isCutOff(role: RoleReport): boolean {
  return role.cutOff && role.status.status === SIGPIPE_STATUS;
}

function commandLine(
  role: string,
  report: AsThroughPipe,
  reader: { role: string; argv: readonly string[]; took: number } | null,
): string {
  const block = formatBlock(report.argv);
  if (report.throughPipe && reader) {
    const { wrote } = report.throughPipe;
    const readerBlock = formatBlock(reader.argv);
    return COMMAND_LINES.asThroughPipe(
      role,
      block,
      wrote,
      reader.role,
      readerBlock,
      reader.took,
      SIGPIPE_STATUS,
    );
  }
  const where = report.host
    ? ` on ${report.host}`
    : report.status.failedToStart && role === "remote"
    ? " on the remote host"
    : "";
  const line = COMMAND_LINES.ended(role, block, describeStatus(report.status), where);
  if (!isCutOff(report) || !reader) return line;
  return COMMAND_LINES.cutOff(line, reader.role, formatBlock(reader.argv), reader.took);
}

/**
 * What a command that failed took of its input, when it did not take all of it. Nothing
 * was lost between the hosts (that is the data connection's line): the command stopped.
 */
function takenClause(delivered: number, available: number): string {
  return delivered < available ? COMMAND_LINES.took(delivered, available) : "";
}
