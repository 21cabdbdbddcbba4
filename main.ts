/**
 * socketpipe's command line: `socketpipe -i { … } -l { ssh host } -r { … } -o { … }`.
 * Run `deno run -A main.ts --help`.
 *
 * @module
 */
import { reexecWithStatusSignalBlocked } from "./lib/status_signal.ts";

// First, before the rest of the program is even loaded (so that it costs one bare
// start-up of the runtime): SIGUSR1 must never open Deno's debugger.
if (!Deno.args.some((word) => word === "--help" || word === "--version")) {
  reexecWithStatusSignalBlocked();
}
const { runCommandLine } = await import("./lib/cli.ts");
Deno.exit(await runCommandLine(Deno.args));
