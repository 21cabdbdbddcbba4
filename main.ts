/**
 * socketpipe's command line: `socketpipe -i { … } -l { ssh host } -r { … } -o { … }`.
 * Run `deno run -A main.ts --help`.
 *
 * @module
 */
import { runCommandLine } from "./lib/cli.ts";

Deno.exit(await runCommandLine(Deno.args));
