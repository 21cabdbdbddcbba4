import { REAL_CLOCK } from "../base/clock.ts";
import { messageOf } from "../base/message_of.ts";
import { type Fault, FAULTS, UsageError } from "../base/faults.ts";
import { socketpipe } from "../local/local_half.ts";
import type { SocketpipeOptions, SocketpipeResult } from "../local/socketpipe_types.ts";
import { logLine, printText } from "../base/log.ts";
import { parseArgs, type RunDisplay } from "./parse_args.ts";
import { type MovedSoFar, type Progress, PROGRESS_INTERVAL_MS } from "../progress/progress.ts";
import { type ProvisionProgress, provisionProgressLine } from "../provision/provision.ts";
import { ProgressMeter, stderrOutput } from "../progress/progress_meter.ts";
import { versionedReport } from "./versioned_report.ts";
import { serveRemoteHalf } from "../remote/remote_half.ts";
import { runCacheVerb } from "../provision/remote_cache.ts";
import { HELP, SYNOPSIS } from "./usage.ts";
import { onStatusRequest } from "../platform/status_signal.ts";
import { statusLine } from "../progress/status_line.ts";
import { PROTOCOL_VERSION, VERSION } from "../base/version.ts";
import { inheritedIgnores } from "../platform/inherited_signals.ts";
import { signalNumber } from "../base/command_status.ts";

/** The signals that stop a run; SIGQUIT and SIGUSR2 would otherwise kill Deno outright. */
const STOP_SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR2"];

/**
 * Runs socketpipe's command line and resolves with the exit status: parse, then either
 * the local half (a transfer), the remote half (`-s`), `--help` or `--version`.
 *
 * @example Not run as a test: it runs a whole transfer through a login.
 * ```ts ignore
 * import { runCommandLine } from "./cli.ts";
 * Deno.exit(await runCommandLine(Deno.args));
 * ```
 */
export async function runCommandLine(args: readonly string[]): Promise<number> {
  const closed = closedAtStart();
  let parsed;
  try {
    parsed = parseArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    logLine(error.line);
    printText(SYNOPSIS, Deno.stderr);
    return error.status;
  }
  switch (parsed.mode) {
    case "help":
      printText(HELP, Deno.stdout);
      return 0;
    case "version":
      printText(`socketpipe ${VERSION}\nprotocol ${PROTOCOL_VERSION}`, Deno.stdout);
      return 0;
    case "cache": {
      const { status, fault } = await runCacheVerb(parsed.action, parsed.login, parsed.remoteCache);
      if (fault) logLine(fault.line);
      return status;
    }
    case "serve":
      return await withStopSignals((signal) =>
        serveRemoteHalf(parsed.command, { verbose: parsed.verbose, signal })
      );
    case "run": {
      const refused = closedStreamRefusal(parsed.options, closed);
      if (refused) {
        logLine(refused.line);
        return refused.status;
      }
      return await runTransfer(parsed.options, parsed.display);
    }
  }
}

/** The launcher's word for it (Deno reopens them on /dev/null before any code here). */
const CLOSED_VARIABLE = "SOCKETPIPE_CLOSED_STDIO";

/**
 * Which of stdin and stdout socketpipe was started without (`<&-`, `>&-`), as its
 * launcher found them; the variable goes no further, to no command.
 */
function closedAtStart(): { stdin: boolean; stdout: boolean } {
  const words = (Deno.env.get(CLOSED_VARIABLE) ?? "").split(" ");
  Deno.env.delete(CLOSED_VARIABLE);
  return { stdin: words.includes("0"), stdout: words.includes("1") };
}

/**
 * A command that would get a closed stream gets /dev/null from Deno instead: a reader sees
 * an empty input and a writer's bytes vanish, with exit 0. A pipe's command fails with a
 * write (or read) error there: so does the run, before it starts.
 */
function closedStreamRefusal(
  options: SocketpipeOptions,
  closed: { stdin: boolean; stdout: boolean },
): Fault | null {
  if (closed.stdout && options.output) return FAULTS.closedStream.of("output");
  if (closed.stdin && options.input) return FAULTS.closedStream.of("input");
  return null;
}

async function runTransfer(options: SocketpipeOptions, display: RunDisplay): Promise<number> {
  return await withStopSignals(async (signal) => {
    const startedAt = REAL_CLOCK.now();
    const stream = {
      main: options.input ? "sent" as const : "received" as const,
      size: display.size,
    };
    let moved: MovedSoFar | null = null;
    let sending: (() => ProvisionProgress | null) | null = null;
    let dataAt = startedAt;
    let provisionTimer: number | undefined;
    const onData = (reader: typeof moved) => {
      moved = reader;
      dataAt = REAL_CLOCK.now();
      if (provisionTimer !== undefined) REAL_CLOCK.clear(provisionTimer);
    };
    // On a terminal the output command writes on too, a redrawn line would leave pieces
    // of itself in the output: the meter then shows only its summary, at the end.
    const sharedTerminal = options.output !== undefined && Deno.stdout.isTerminal();
    const meter = display.progress
      ? new ProgressMeter(stderrOutput(), { summaryOnly: sharedTerminal })
      : null;
    let last: Progress | null = null;
    const onProgress = meter
      ? (progress: Progress) => {
        last = progress;
        if (!progress.done) meter.show(progress);
      }
      : undefined;
    // With -P, the send of what provisioning sends shows too, the same way.
    const onProvisioning = (reader: () => ProvisionProgress | null) => {
      sending = reader;
      if (!meter) return;
      provisionTimer = REAL_CLOCK.every(PROGRESS_INTERVAL_MS, () => {
        const progress = reader();
        if (progress && !moved) meter.showLine(provisionProgressLine(progress), progress.seconds);
      });
    };
    // The run starts first: it has spawned the login by the time it first waits, and the
    // login (ssh: hundreds of milliseconds) is the longest step. Deno's first timer costs
    // some 10 ms, paid after that, by the status request's watch.
    const running = socketpipe(options, {
      signal,
      onData,
      onProvisioning,
      onProgress,
      progressSize: display.size,
      onLoginOutput: meter?.drawsInPlace ? (bytes) => meter.relay(bytes) : undefined,
      jobControl: true,
      claimOrphans: true,
    });
    const stopListening = answerStatusRequests(stream, () => ({
      moved,
      sending,
      since: moved ? dataAt : startedAt,
    }));
    let result: SocketpipeResult;
    try {
      result = await running;
    } catch (error) {
      if (error instanceof UsageError) {
        // A check the parser let through: still the user's mistake, told as one.
        if (provisionTimer !== undefined) REAL_CLOCK.clear(provisionTimer);
        meter?.finish(null);
        stopListening();
        logLine(error.line);
        printText(SYNOPSIS, Deno.stderr);
        return error.status;
      }
      result = internalErrorResult(messageOf(error), REAL_CLOCK.now() - startedAt);
    } finally {
      if (provisionTimer !== undefined) REAL_CLOCK.clear(provisionTimer);
      stopListening();
      meter?.finish(last);
    }
    tellTheEnd(result, display);
    return result.status;
  });
}

/**
 * Answers each request for status (SIGUSR1) with one line: how far provisioning's send
 * is before the data flows, the data's figures after. Returns how to stop answering.
 */
function answerStatusRequests(
  stream: Parameters<typeof statusLine>[2],
  now: () => {
    moved: MovedSoFar | null;
    sending: (() => ProvisionProgress | null) | null;
    since: number;
  },
): () => void {
  return onStatusRequest(() => {
    const { moved, sending, since } = now();
    const provision = moved ? null : sending?.();
    logLine(
      provision
        ? `status: ${provisionProgressLine(provision)}`
        : statusLine(moved?.() ?? null, REAL_CLOCK.now() - since, stream),
    );
  });
}

/** A run that threw: exit 2 with one line, as a fault in socketpipe itself. */
function internalErrorResult(message: string, elapsedMs: number): SocketpipeResult {
  const fault = FAULTS.internalError.of(message);
  return {
    status: fault.status,
    messages: [fault.line],
    fault: fault.about,
    dataPath: "none",
    remote: null,
    local: { sent: 0, received: 0, delivered: 0 },
    durations: { setupSeconds: elapsedMs / 1000, transferSeconds: 0 },
  };
}

/** The run's lines on stderr, an install's line, and the `--report`. */
function tellTheEnd(result: SocketpipeResult, display: RunDisplay): void {
  for (const message of result.messages) logLine(message);
  // Configuration management asks of an install whether it changed anything.
  const changed = display.install && result.status === 0 ? result.provisioned !== undefined : null;
  if (changed !== null) logLine(installLine(result.provisioned));
  if (display.report !== undefined) {
    writeReport(display.report, result, changed === null ? {} : { changed });
  }
}

/**
 * The line a successful `--install` ends with: what it sent, or that nothing changed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { installLine } from "./cli.ts";
 * assert.match(installLine(undefined), /was ready already: nothing changed$/);
 * assert.match(installLine({ bundle: { bytes: 9, sent: 9 } }), /ready: sent the bundle$/);
 * ```
 */
export function installLine(provisioned: SocketpipeResult["provisioned"]): string {
  const sent = Object.keys(provisioned ?? {}).map((what) => `the ${what}`);
  return sent.length === 0
    ? `install: socketpipe ${VERSION} on the remote host was ready already: nothing changed`
    : `install: socketpipe ${VERSION} on the remote host is ready: sent ${sent.join(" and ")}`;
}

/** Writes the `--report` JSON to `path` (`-`: stderr); a failure to write is one more line. */
function writeReport(path: string, result: SocketpipeResult, more: object): void {
  const text = `${JSON.stringify({ ...versionedReport(result), ...more })}\n`;
  try {
    if (path === "-") printText(text.trimEnd(), Deno.stderr);
    else Deno.writeTextFileSync(path, text);
  } catch (error) {
    logLine(FAULTS.reportNotWritten.line(path, messageOf(error)));
  }
}

/**
 * Runs `run` with each of {@link STOP_SIGNALS} turned into an abort of its signal, but
 * those the caller left ignored (`nohup`, a script's background job): as in a shell, they
 * stay ignored, for socketpipe and for its commands.
 */
async function withStopSignals(run: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const stop = new AbortController();
  const taken = STOP_SIGNALS.filter((signal) => !inheritedIgnores().has(signalNumber(signal)));
  const listeners = taken.map((signal) => {
    const listener = () => stop.abort(signal);
    Deno.addSignalListener(signal, listener);
    return () => Deno.removeSignalListener(signal, listener);
  });
  try {
    return await run(stop.signal);
  } finally {
    for (const removeListener of listeners) removeListener();
  }
}
