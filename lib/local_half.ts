import { settledWithin } from "./_settled_within.ts";
import {
  type CommandStatus,
  describeStatus,
  signalNumber,
  statusFromDeno,
  statusOfSpawnFailure,
} from "./command_status.ts";
import { chooseDataPath } from "./choose_data_path.ts";
import { formatAddress } from "./connect_back.ts";
import { type ControlMessage, ControlSender, readControlMessages } from "./control_channel.ts";
import { acceptAuthenticated, candidateAddresses, openDataListener } from "./data_listener.ts";
import type { ByteCounts, DataPath, LocalTransfer } from "./data_path.ts";
import { UsageError } from "./errors.ts";
import { newToken, toHex } from "./handshake.ts";
import { Heartbeat } from "./heartbeat.ts";
import { StepLog } from "./log.ts";
import { applyPeerTimeout, DEFAULT_PEER_TIMEOUT } from "./peer_timeout.ts";
import { decideOutcome, formatBlock, type RoleReport, type RunReport } from "./outcome.ts";
import type { SocketpipeOptions } from "./parse_args.ts";
import { shellQuote } from "./shell_quote.ts";
import { stopCommand } from "./stop_command.ts";
import { PROTOCOL_VERSION } from "./version.ts";

/** How a run is controlled from outside. */
export interface RunControl {
  /**
   * Stops the run: every command of it is stopped on both hosts. The reason, if it is a
   * signal name such as "SIGINT", sets the exit status to 128 + N.
   */
  signal?: AbortSignal;
  /**
   * How the local commands get the data.
   * @default {the zero-copy path where it can run (unless `copy`), else the stream path}
   */
  dataPath?: DataPath;
}

/** How a run ended: every role's status, both halves' byte counts, and the verdict. */
export interface SocketpipeResult {
  /** The exit status the command line tool exits with. */
  status: number;
  /** One line per failure, as printed on stderr; empty on success. */
  messages: string[];
  /** The data path that moved the bytes. */
  dataPath: string;
  /** How the input command ended, if there was one and it ran. */
  input?: RoleReport;
  /** How the remote command ended, with the remote half's byte counts; null if never reported. */
  remote: (RoleReport & { counts: ByteCounts }) | null;
  /** How the output command ended, if there was one and it ran. */
  output?: RoleReport;
  /** The local half's byte counts. */
  local: ByteCounts;
}

/** Milliseconds to wait for the remote half's report once the data connection failed. */
const REPORT_AFTER_FAILURE_MS = 2000;

/** Milliseconds the login command may take to end after the remote half's last report. */
const LOGIN_GRACE_MS = 5000;

/**
 * Runs one transfer: logs in, meets the remote half on an authenticated data connection,
 * runs the commands, and reports how every one of them ended. Command failures do not
 * throw; they are in the result, with the exit status the command line tool would use.
 *
 * @throws {UsageError} when the options are incomplete.
 * @example
 * ```ts
 * import { socketpipe } from "./local_half.ts";
 * const result = await socketpipe({
 *   input: ["tar", "cf", "-", "/home"],
 *   login: ["ssh", "backup-host"],
 *   remote: ["dd", "of=/dev/st0", "bs=32k"],
 * });
 * if (result.status !== 0) console.error(result.messages.join("\n"));
 * ```
 */
export async function socketpipe(
  options: SocketpipeOptions,
  control: RunControl = {},
): Promise<SocketpipeResult> {
  validateOptions(options);
  const log = new StepLog(options.verbose ?? false, "socketpipe");
  const chosen = control.dataPath
    ? { path: control.dataPath, why: "chosen by the caller" }
    : chooseDataPath(options.copy ?? false);
  const dataPath = chosen.path;
  const local: ByteCounts = { sent: 0, received: 0, delivered: 0 };
  const failure = (status: number, message: string): SocketpipeResult => ({
    status,
    messages: [message],
    dataPath: dataPath.name,
    remote: null,
    local,
  });

  // Listen first, so that the port can go into the session line.
  const listener = openDataListener();
  const token = newToken();
  const listensOnIpv6 = listener.addr.hostname === "::";
  log.step(`listening on ${formatAddress(listener.addr.hostname, listener.addr.port)}`);

  // Log in: the login command starts the remote half; its stdin and stdout are the
  // control channel, its stderr stays the terminal's (for password prompts and errors).
  const loginArgv = loginInvocation(options);
  log.step(
    `login: ${
      [...options.login.map(shellQuote), ...loginArgv.slice(options.login.length)].join(" ")
    }`,
  );
  let login: Deno.ChildProcess;
  try {
    login = new Deno.Command(loginArgv[0], {
      args: loginArgv.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
      env: loginEnvironment(),
      clearEnv: true,
    }).spawn();
  } catch (error) {
    listener.close();
    const status = statusOfSpawnFailure(error);
    return failure(2, `login command ${formatBlock(options.login)} ${describeStatus(status)}`);
  }
  const loginStatus = login.status.then(statusFromDeno);
  const sender = new ControlSender(login.stdin);
  const peerTimeout = options.peerTimeout ?? DEFAULT_PEER_TIMEOUT;
  const remote = new RemoteHalfChannel(login.stdout, log);
  await sender.trySend({
    event: "session",
    version: PROTOCOL_VERSION,
    token: toHex(token),
    port: listener.addr.port,
    host: options.host ?? null,
    candidates: candidateAddresses(listensOnIpv6),
    input: options.input !== undefined,
    output: options.output !== undefined,
    copy: options.copy ?? false,
    peerTimeout,
  });

  // Meet: accept the one connection that presents the token.
  const stopWaiting = new AbortController();
  const timeoutMs = (options.timeout ?? 0) * 1000;
  const deadline = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : null;
  deadline?.addEventListener("abort", () => stopWaiting.abort("timeout"), { once: true });
  remote.trouble.then(() => stopWaiting.abort("remote"));
  control.signal?.addEventListener("abort", () => stopWaiting.abort("interrupted"), {
    once: true,
  });
  let refused = 0;
  let conn: Deno.TcpConn;
  try {
    conn = await acceptAuthenticated(listener, token, {
      signal: stopWaiting.signal,
      onRefused: (address, reason) => {
        refused++;
        log.step(
          `refused a data connection from ${
            formatAddress(address.hostname, address.port)
          }: ${reason}`,
        );
      },
    });
  } catch {
    listener.close();
    const why = stopWaiting.signal.reason;
    // A login that closed the channel may still be ending on its own: give it a moment,
    // so that its own status can explain what happened, then stop it either way.
    const loginEnded = why === "remote" && await settledWithin(loginStatus, LOGIN_GRACE_MS);
    await stopLogin(login, sender, loginStatus, 0);
    const message = why === "interrupted"
      ? interruptedMessage(control.signal)
      : why === "timeout"
      ? `connect: no authenticated data connection within ${options.timeout} s; ` +
        `check that the remote host can reach this one, or name this host's address with -h`
      : remote.problem ?? (loginEnded
        ? loginEndedMessage(options, await loginStatus)
        : `login ${formatBlock(options.login)}: the login channel closed before the ` +
          `remote half connected; check that ${
            formatBlock(options.remoteSocketpipe ?? ["socketpipe"])
          } is socketpipe of the same version`);
    const status = why === "interrupted" ? interruptedStatus(control.signal) : 2;
    return failure(status, message);
  }
  listener.close();
  if (refused) log.always(`refused ${refused} unauthenticated data connection(s)`);
  const notBounded = applyPeerTimeout(conn, peerTimeout);
  if (notBounded) log.step(`no dead-peer bound: ${notBounded}`);
  log.step(
    `connected from ${formatAddress(conn.remoteAddr.hostname, conn.remoteAddr.port)}; ` +
      `data path: ${dataPath.name} (${chosen.why})`,
  );

  // Move data. When the remote command ends, stop feeding it, as a pipe would; when the
  // output command stops reading, tell the remote half to stop feeding us.
  const transfer = await dataPath.startLocal(conn, {
    input: options.input,
    output: options.output,
  });
  let inputCutOff = false;
  remote.stopSending.then(({ early }) => {
    // Only a remote command that stopped reading early cuts the input off, as a pipe
    // would; one that read to the end cannot have, so the input's SIGPIPE then counts.
    inputCutOff = early;
    transfer.stopSending();
  });
  transfer.consumerGone.then(() => sender.trySend({ event: "consumer-gone" }));
  let stopped: Promise<void> | null = null;
  const stopEverything = () => stopped ??= stopTransfer(transfer, login).then(() => {});
  control.signal?.addEventListener("abort", stopEverything, { once: true });

  // The remote half reports once its command has ended, which may be long after the data
  // connection closed (a remote dd still flushing to tape): wait for it. But if the data
  // connection failed, the peer is most likely gone with it: wait only briefly.
  let silent = false;
  const silence = Promise.withResolvers<null>();
  const heartbeat = new Heartbeat(sender, peerTimeout, () => {
    silent = true;
    silence.resolve(null);
  });
  remote.heard = () => heartbeat.heard();
  const exit = await Promise.race([
    silence.promise,
    remote.exit,
    transfer.finished.then(async (result) => {
      if (!result.error) return remote.exit;
      if (await settledWithin(remote.exit, REPORT_AFTER_FAILURE_MS)) return remote.exit;
      silent = true;
      return null;
    }),
  ]);
  heartbeat.stop();
  if (!exit) stopEverything(); // the remote half vanished: nothing more will arrive
  const [result, inputStatus, outputStatus] = await Promise.all([
    transfer.finished,
    transfer.input?.status,
    transfer.output?.status,
  ]);
  await stopLogin(login, sender, loginStatus, LOGIN_GRACE_MS);
  await stopped;
  Object.assign(local, result.counts);
  log.step(`${local.sent} bytes sent, ${local.received} bytes received`);

  const report: RunReport = {
    input: transfer.input && inputStatus
      ? { argv: transfer.input.argv, status: inputStatus, cutOff: inputCutOff }
      : undefined,
    output: transfer.output && outputStatus
      ? { argv: transfer.output.argv, status: outputStatus, cutOff: false }
      : undefined,
    remote: exit ? remoteReport(options.remote, exit) : null,
    local,
    remoteMissing: exit
      ? null
      : remote.problem ?? (silent
        ? `remote half stopped answering: nothing heard from it for ${peerTimeout} s ` +
          "(a cut link or a crashed host?)"
        : null) ??
        `remote half vanished: the login channel closed before its report ` +
          `(login ${describeStatus(await loginStatus)})`,
    transportError: result.error ?? (exit && typeof exit.error === "string" ? exit.error : null),
  };
  const outcome = control.signal?.aborted
    ? { status: interruptedStatus(control.signal), messages: [interruptedMessage(control.signal)] }
    : decideOutcome(report);
  return { ...outcome, dataPath: dataPath.name, ...report };
}

function validateOptions(options: SocketpipeOptions): void {
  const block = (name: string, argv: readonly string[] | undefined, required: boolean) => {
    if (argv === undefined) {
      if (required) throw new UsageError(`missing ${name} { … }`);
    } else if (
      !Array.isArray(argv) || argv.length === 0 || argv.some((w) => typeof w !== "string")
    ) {
      throw new UsageError(`${name} needs a command: a non-empty list of words`);
    }
  };
  block("-l", options.login, true);
  block("-r", options.remote, true);
  block("-i", options.input, false);
  block("-o", options.output, false);
  block("-x", options.remoteSocketpipe, false);
  if (!options.input && !options.output) {
    throw new UsageError("give -i { input command }, -o { output command }, or both");
  }
  const timeout = options.timeout ?? 0;
  if (typeof timeout !== "number" || !(timeout >= 0)) {
    throw new UsageError(`bad timeout: ${timeout} (seconds, 0 = wait for ever)`);
  }
}

/**
 * The login command followed by the remote half's invocation. ssh joins its arguments
 * with spaces for the remote shell, so every word after the login command is quoted:
 * the remote command then receives exactly the argv written in `-r { … }`.
 */
function loginInvocation(options: SocketpipeOptions): string[] {
  const remoteHalf = [
    ...(options.remoteSocketpipe ?? ["socketpipe"]),
    "-s",
    ...(options.verbose ? ["-v"] : []),
    "--",
    ...options.remote,
  ];
  return [...options.login, ...remoteHalf.map(shellQuote)];
}

/**
 * This process's environment for the login command, less `$SSH_CLIENT` and
 * `$SSH_CONNECTION`: a login that runs locally (`-l { env }`) must not make the remote
 * half connect back to whatever host this session itself came from.
 */
function loginEnvironment(): Record<string, string> {
  const environment = Deno.env.toObject();
  delete environment.SSH_CLIENT;
  delete environment.SSH_CONNECTION;
  return environment;
}

function loginEndedMessage(options: SocketpipeOptions, status: CommandStatus): string {
  const login = formatBlock(options.login);
  const remoteHalf = formatBlock(options.remoteSocketpipe ?? ["socketpipe"]);
  if (status.status === 127) {
    return `login ${login}: remote socketpipe ${remoteHalf} not found (status 127); ` +
      `install socketpipe on the remote host or name it with -x { /path/to/socketpipe }`;
  }
  if (status.status === 255) {
    return `login ${login} failed (status 255); check that the login alone works, e.g. ${
      options.login.map(shellQuote).join(" ")
    } true`;
  }
  return `login ${login} ${describeStatus(status)} before the remote half connected; ` +
    `check that ${remoteHalf} on the remote host is socketpipe of the same version`;
}

function interruptedStatus(signal: AbortSignal | undefined): number {
  const reason = signal?.reason;
  return typeof reason === "string" && signalNumber(reason) ? 128 + signalNumber(reason) : 130;
}

function interruptedMessage(signal: AbortSignal | undefined): string {
  const reason = typeof signal?.reason === "string" ? signal.reason : "request";
  return `interrupted by ${reason}: stopped every command of this run on both hosts`;
}

function remoteReport(argv: readonly string[], exit: ControlMessage) {
  const count = (value: unknown) => (typeof value === "number" ? value : 0);
  return {
    argv,
    status: {
      status: count(exit.code),
      signal: typeof exit.signal === "string" ? exit.signal : null,
      failedToStart: typeof exit.failedToStart === "string" ? exit.failedToStart : null,
    },
    cutOff: exit.cutOff === true,
    counts: {
      sent: count(exit.bytesOut),
      received: count(exit.bytesIn),
      delivered: count(exit.bytesDelivered),
    },
  };
}

/** Stops the local commands and the login, and closes the data connection. */
async function stopTransfer(transfer: LocalTransfer, login: Deno.ChildProcess): Promise<void> {
  transfer.abort();
  try {
    login.kill("SIGTERM");
  } catch {
    // Already ended.
  }
  await Promise.all(
    [transfer.input, transfer.output].map((command) => command && stopCommand(command)),
  );
}

/** Closes the control channel and waits for the login command, killing it after `graceMs`. */
async function stopLogin(
  login: Deno.ChildProcess,
  sender: ControlSender,
  status: Promise<CommandStatus>,
  graceMs: number,
): Promise<void> {
  await sender.close();
  if (!await settledWithin(status, graceMs)) {
    try {
      login.kill(graceMs === 0 ? "SIGTERM" : "SIGKILL");
    } catch {
      // Already ended.
    }
    await status;
  }
}

/** The local end of the login channel: the remote half's messages, as they arrive. */
class RemoteHalfChannel {
  /** Why the remote half cannot go on (its error report, a version mismatch), or null. */
  problem: string | null = null;
  /**
   * Resolves when the remote command has ended or no longer reads its input, saying
   * whether it stopped before the end of the stream.
   */
  readonly stopSending: Promise<{ early: boolean }>;
  /** Resolves on a problem, or when the channel closes without a final report. */
  readonly trouble: Promise<void>;
  /** The remote half's final report; null if the channel closed without one. */
  readonly exit: Promise<ControlMessage | null>;

  /** Called whenever anything arrives from the remote half (for the heartbeat). */
  heard: () => void = () => {};

  constructor(stream: ReadableStream<Uint8Array>, log: StepLog) {
    const stop = Promise.withResolvers<{ early: boolean }>();
    const trouble = Promise.withResolvers<void>();
    this.stopSending = stop.promise;
    this.trouble = trouble.promise;
    const reportProblem = (problem: string) => {
      this.problem ??= problem;
      trouble.resolve();
    };
    this.exit = (async () => {
      const messages = readControlMessages(stream, {
        onNoise: (line) => {
          this.heard();
          log.always(`login: ${line}`);
        },
      });
      for await (const message of messages) {
        this.heard();
        switch (message.event) {
          case "hello":
            if (message.version !== PROTOCOL_VERSION) {
              reportProblem(
                `protocol mismatch: the remote socketpipe speaks protocol ${message.version}, ` +
                  `this one speaks ${PROTOCOL_VERSION}; install the same version on both hosts`,
              );
            }
            break;
          case "error":
            reportProblem(`remote half: ${message.step}: ${message.message}`);
            break;
          case "ended":
            stop.resolve({ early: message.stoppedEarly === true });
            break;
          case "consumer-gone":
            stop.resolve({ early: true });
            break;
          case "exit":
            return message;
        }
      }
      trouble.resolve();
      return null;
    })();
  }
}
