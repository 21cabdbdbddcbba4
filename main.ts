/**
 * socketpipe's command line: `socketpipe -i { … } -l { ssh host } -r { … } -o { … }`.
 * Run `deno run -A main.ts --help`.
 *
 * @module
 */
import { runCommandLine } from "./lib/cli/cli.ts";
import { takeOverStatusSignal } from "./lib/platform/status_signal.ts";

// First, within Deno's half-second grace: SIGUSR1 must never open Deno's debugger.
takeOverStatusSignal();
Deno.exit(await runCommandLine(Deno.args));
