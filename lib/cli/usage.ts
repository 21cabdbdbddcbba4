import { VERSION } from "../base/version.ts";
import { OPTIONS } from "../session/command_line_options.ts";
import type { OptionDeclaration } from "../session/option.ts";

/** Where the synopsis's and the options' continuation lines start. */
const INDENT = " ".repeat(18);

/** The synopsis's widest line. */
const WIDTH = 90;

/** `words` as lines of at most {@link WIDTH}, each continuation after {@link INDENT}. */
function wrapped(words: readonly string[], first: string): string {
  const lines = [first];
  for (const word of words) {
    const line = lines.at(-1)!;
    if (line.trim() !== "" && line.length + 1 + word.length > WIDTH) lines.push(INDENT + word);
    else lines[lines.length - 1] = line.endsWith(" ") ? line + word : `${line} ${word}`;
  }
  return lines.join("\n");
}

/** The synopsis's optional options: every one that is neither a block nor a verb, flags first. */
const optional = [
  ...OPTIONS.filter((option) => option.form === "flag"),
  ...OPTIONS.filter((option) => option.form === "value"),
].map((option) => `[${[option.names[0], option.value].filter(Boolean).join(" ")}]`);

/** A block's synopsis entry, in brackets unless the run needs it. */
const blockOf = (name: string, required = false) => {
  const synopsis = OPTIONS.find((option) => option.names[0] === name)!.synopsis!;
  return required ? synopsis : `[${synopsis}]`;
};

/**
 * The synopsis, printed after a usage error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SYNOPSIS } from "./usage.ts";
 * assert.match(SYNOPSIS, /^usage: socketpipe \[-b\] \[-v\] /);
 * assert.ok(SYNOPSIS.split("\n").every((line) => line.length <= 90));
 * ```
 */
export const SYNOPSIS = `${wrapped(optional, "usage: socketpipe")}
${INDENT}${blockOf("-x")} ${blockOf("-i")}
${INDENT}${blockOf("-l", true)}
${INDENT}${blockOf("-r", true)} ${blockOf("-o")}
       socketpipe --install | --cache-list | --cache-remove [--remote-cache dir]
${INDENT}${blockOf("-l", true)}
       socketpipe --help | --version`;

/** An option's `--help` entry: its names and value, then its text, aligned. */
function entryOf(option: OptionDeclaration): string {
  const value = option.value ? ` ${option.value}` : "";
  const head = `  ${option.names.join(", ")}${value}`;
  const [first, ...rest] = option.help.split("\n");
  const start = head.length <= 16 ? head.padEnd(18) : `${head}  `;
  return [start + first, ...rest.map((line) => INDENT + line)].join("\n");
}

/**
 * The text `--help` prints: what it does, the interface, options (each from its
 * declaration), exit status.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HELP, SYNOPSIS } from "./usage.ts";
 * assert.ok(HELP.includes(`\n\n${SYNOPSIS}\n\n`));
 * assert.match(HELP, /\n {2}--limit RATE {4}send at most RATE bytes per second/);
 * ```
 */
export const HELP =
  `socketpipe ${VERSION} - connect local commands to a remote command over one direct TCP connection

${SYNOPSIS}

The login command (usually ssh host) starts socketpipe's remote half on the remote host;
the two halves meet on a direct TCP connection authenticated by a one-time token, and the
data flows over it, not through the login command. Braces are separate words and nest.

Options:
${OPTIONS.map(entryOf).join("\n")}

Exit status:
  0        every command exited 0 and every byte sent was received
  1        usage error
  2        setup or transport failure: login failed, remote socketpipe missing, no
           connection within -t, data connection failed, stream truncated
  N        otherwise exactly as set -o pipefail: the status of the rightmost command
           that did not exit 0, in input, remote, output order; 128+N for a command
           killed by signal N, SIGPIPE included (141: its reader stopped early).
  Every non-zero exit prints one line per failure on stderr naming the role, the command
  and what happened.

Signals:
  SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR2  stop every process of the run on both
                  hosts, grandchildren included; exit 128+N. Under SIGKILL, a watchdog
                  on each host kills what the run started there.
  SIGUSR1         print the --progress line once, as dd prints its status.
  SIGTSTP (Ctrl-Z), SIGCONT (fg)  pause and resume the run, however long the pause.

A direction of data ends when every process holding it has let go, as in a pipe:
background children of the commands are waited for, and nothing is left running.

Example:
  socketpipe -i { tar cf - / } -l { ssh backuphost } -r { dd of=/dev/st0 bs=32k }`;
