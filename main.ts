/**
 * socketpipe's command line: `socketpipe -i { … } -l { ssh host } -r { … } -o { … }`.
 * Run `deno run -A main.ts --help`.
 *
 * @module
 */
import { runCommandLine } from "./lib/cli/cli.ts";
import { takeOverStatusSignal } from "./lib/platform/status_signal.ts";
import { commandLineWords } from "./lib/platform/command_line.ts";
import { inheritedIgnores, keepInheritedIgnores } from "./lib/platform/inherited_signals.ts";
import { isEngineWorker } from "./lib/data/engine_worker.ts";

// Bundled, this file is also the copy engine's worker, which serves its job (imported here
// through the command line) and must not run a command line of its own.
if (!isEngineWorker()) {
  // Before any signal is taken: what the caller left ignored stays ignored, as in a shell.
  inheritedIgnores();
  // First, within Deno's half-second grace: SIGUSR1 must never open Deno's debugger.
  takeOverStatusSignal();
  // Deno's first signal listener (just above) installs handlers that undo an inherited ignore.
  keepInheritedIgnores();
  // The words as the kernel has them: Deno.args loses bytes that are not UTF-8 and a final CR.
  Deno.exit(await runCommandLine(commandLineWords()));
}
