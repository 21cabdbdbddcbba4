import { messageOf, UsageError } from "./errors.ts";
import { socketpipe } from "./local_half.ts";
import { logLine, printText } from "./log.ts";
import { parseArgs } from "./parse_args.ts";
import { serveRemoteHalf } from "./remote_half.ts";
import { HELP, SYNOPSIS } from "./usage.ts";
import { onStatusRequest } from "./status_signal.ts";
import { statusLine } from "./status_line.ts";
import { PROTOCOL_VERSION, VERSION } from "./version.ts";

const STOP_SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/**
 * Runs socketpipe's command line and resolves with the exit status: parse, then either
 * the local half (a transfer), the remote half (`-s`), `--help` or `--version`.
 *
 * @example
 * ```ts ignore
 * import { runCommandLine } from "./cli.ts";
 * Deno.exit(await runCommandLine(Deno.args));
 * ```
 */
export async function runCommandLine(args: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    logLine(error.message);
    printText(SYNOPSIS, Deno.stderr);
    return error.exitStatus;
  }
  switch (parsed.mode) {
    case "help":
      printText(HELP, Deno.stdout);
      return 0;
    case "version":
      printText(`socketpipe ${VERSION}\nprotocol ${PROTOCOL_VERSION}`, Deno.stdout);
      return 0;
    case "serve":
      return await withStopSignals((signal) =>
        serveRemoteHalf(parsed.command, { verbose: parsed.verbose, signal })
      );
    case "run":
      return await runTransfer(parsed.options);
  }
}

async function runTransfer(options: Parameters<typeof socketpipe>[0]): Promise<number> {
  return await withStopSignals(async (signal) => {
    const startedAt = Date.now();
    let moved: (() => { sent: number; received: number }) | null = null;
    let dataAt = startedAt;
    const stopListening = onStatusRequest(() =>
      logLine(statusLine(moved?.() ?? null, Date.now() - (moved ? dataAt : startedAt)))
    );
    const onData = (reader: typeof moved) => {
      moved = reader;
      dataAt = Date.now();
    };
    try {
      const result = await socketpipe(options, { signal, onData, jobControl: true });
      for (const message of result.messages) logLine(message);
      return result.status;
    } catch (error) {
      logLine(`internal error: ${messageOf(error)}`);
      return 2;
    } finally {
      stopListening();
    }
  });
}

/** Runs `run` with SIGINT, SIGTERM and SIGHUP turned into an abort of its signal. */
async function withStopSignals(run: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const stop = new AbortController();
  const listeners = STOP_SIGNALS.map((signal) => {
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
