/**
 * Every option of the command line, declared once and listed in the order `--help`
 * shows them: the commands' blocks, the meeting's options, what the command line shows,
 * then the options of the data connection (`connection_options.ts`) and the verbs. The
 * parser, the library's check, the synopsis and `--help` all read this list.
 *
 * Over 300 lines on purpose: each option's declaration, its help text included, is whole
 * in one place, which is what this file is for.
 *
 * @module
 */
import { everyShellCarries } from "../base/words.ts";
import { MAX_TIMEOUT } from "../net/peer_timeout.ts";
import { CONNECTION_OPTIONS } from "./connection_options.ts";
import { badValue, type OptionDeclaration, seconds, size } from "./option.ts";

/** What is wrong with a block's words: none, or one that is no word. */
function wordsOf(name: string): (value: unknown) => string | null {
  return (value) =>
    Array.isArray(value) && value.length > 0 && value.every((w) => typeof w === "string")
      ? null
      : `${name} needs a command: a non-empty list of words`;
}

/** A block option: its command's words. */
function block(
  name: string,
  key: string,
  synopsis: string,
  what: string,
  help: string,
): OptionDeclaration<string[]> & { what: string } {
  const declared: OptionDeclaration<string[]> & { what: string } = {
    names: [name],
    form: "block",
    into: { target: "options", key },
    value: "{ command }",
    synopsis,
    what,
    takes: "a non-empty list of words",
    check: wordsOf(name),
    help,
  };
  return declared;
}

/** An option whose value is one of a few words. */
function oneOf<T extends string>(
  name: string,
  key: string,
  [words, fallback]: [readonly T[], T],
  takes: string,
  help: string,
): OptionDeclaration<T> {
  const declared: OptionDeclaration<T> = {
    names: [name],
    form: "value",
    into: { target: "options", key },
    value: words.join("|"),
    default: fallback,
    takes,
    check: (value) => words.includes(value as T) ? null : badValue(declared, value),
    help,
  };
  return declared;
}

/** An address, as `-h` and `--bind` take it (an IPv6 one may be in brackets). */
function address(
  name: string,
  key: string,
  value: string,
  help: string,
): OptionDeclaration<string> {
  const declared: OptionDeclaration<string> = {
    names: [name],
    form: "value",
    into: { target: "options", key },
    value,
    attached: name === "-h",
    parse: (text) => text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text,
    takes: "a host name or address",
    check: (value) =>
      typeof value === "string" && value !== "" && !value.startsWith("-") && !/\s/.test(value)
        ? null
        : badValue(declared, value),
    help,
  };
  return declared;
}

/** A word alone that sets an option to true. */
function flag(
  names: string[],
  target: "options" | "display",
  key: string,
  help: string,
): OptionDeclaration<boolean> {
  const declared: OptionDeclaration<boolean> = {
    names,
    form: "flag",
    into: { target, key },
    takes: "true or false",
    check: (value) => typeof value === "boolean" ? null : badValue(declared, value),
    help,
  };
  return declared;
}

/** A word that is the run's whole purpose. */
function verb(names: string[], help: string): OptionDeclaration<never> {
  return { names, form: "verb", takes: "", check: () => null, help };
}

/**
 * How the remote host gets socketpipe without `-x` (`--provision`): only what its PATH
 * has; what is cached or installed there, else sent (the default); sent again.
 */
export const PROVISION_MODES: readonly ProvisionMode[] = ["never", "auto", "always"];

/** A way for the remote host to get socketpipe. */
export type ProvisionMode = "never" | "auto" | "always";

/** The commands' blocks, in the order the synopsis shows them. */
export const BLOCKS = {
  input: block(
    "-i",
    "input",
    "-i { input command [args…] }",
    "input command",
    `input command: its stdout feeds the remote command's stdin. Only it
reads socketpipe's stdin. Without -i the remote stdin is at end of file.`,
  ),
  login: block(
    "-l",
    "login",
    "-l { login command [args…] }",
    "login command",
    "login command that runs its arguments on the remote host (ssh host).",
  ),
  remote: block(
    "-r",
    "remote",
    "-r { remote command [args…] }",
    "remote command",
    "remote command; it receives exactly these words as its argv.",
  ),
  output: block(
    "-o",
    "output",
    "-o { output command [args…] }",
    "output command",
    `output command: the remote command's stdout feeds its stdin. Only it
writes socketpipe's stdout. Without -o the remote stdout is discarded.
At least one of -i and -o is required.`,
  ),
  remoteSocketpipe: {
    ...block(
      "-x",
      "remoteSocketpipe",
      "-x { remote socketpipe command }",
      "remote socketpipe command",
      `how to start socketpipe on the remote host, e.g. -x { /opt/bin/socketpipe }
(default: provisioned, see --provision).`,
    ),
    // -x is run by the remote host's login shell, word for word: no word of it may hold
    // what a shell there could take for more than a word (a csh runs what follows a
    // newline).
    check: (value: unknown) => {
      const wrong = wordsOf("-x")(value);
      const unsafe = wrong ? undefined : (value as string[]).find((w) => !everyShellCarries(w));
      if (unsafe === undefined) return wrong;
      return `-x: the word ${JSON.stringify(unsafe)} holds a character outside printable ` +
        "ASCII, which not every login shell carries (csh runs what follows a newline): name " +
        "the remote socketpipe in printable characters";
    },
  },
};

const timeout: OptionDeclaration<number> = {
  names: ["-t"],
  form: "value",
  into: { target: "options", key: "timeout" },
  value: "timeout",
  attached: true,
  whenMissing: "-t needs a value: the seconds to wait for the connection (-t 30)",
  parse: seconds,
  default: 0,
  takes: "seconds, 0 = wait for ever",
  check: (value) => {
    if (typeof value !== "number" || !(value >= 0)) return badValue(timeout, value);
    if (value <= MAX_TIMEOUT) return null;
    return `-t ${value} is too long: at most ${MAX_TIMEOUT} s (about 24 days); 0 waits for ever`;
  },
  help: `seconds to wait for the data connection, counted from the start of the
login (default 0: wait for ever; at most 2147483; the remote half still
gives up on its own when it cannot connect).`,
};

const ports: OptionDeclaration<[number, number]> = {
  names: ["--port"],
  form: "value",
  into: { target: "options", key: "ports" },
  value: "N[-M]",
  parse: (text) => {
    const match = text.match(/^(\d+)(?:-(\d+))?$/);
    return match ? [Number(match[1]), Number(match[2] ?? match[1])] : null;
  },
  takes: "N or N-M, 1 to 65535",
  check: (value) => {
    const [first, last] = Array.isArray(value) ? value : [];
    const fine = Array.isArray(value) && value.length === 2 && Number.isInteger(first) &&
      Number.isInteger(last) && first >= 1 && last <= 65535 && first <= last;
    return fine ? null : badValue(ports, Array.isArray(value) ? value.join("-") : value);
  },
  help: `the listening side's port: the first free one of N to M (default: one
the kernel chooses), for a firewall rule that names it.`,
};

const remoteCache: OptionDeclaration<string> = {
  names: ["--remote-cache"],
  form: "value",
  into: { target: "options", key: "remoteCache" },
  value: "dir",
  takes: "a directory's path in printable ASCII",
  check: (value) =>
    typeof value === "string" && value !== "" && everyShellCarries(value)
      ? null
      : "bad --remote-cache: a directory's path in printable ASCII, which every login shell " +
        "carries as one word",
  help: `where the remote host keeps what is sent: socketpipe's own
dir/socketpipe-UID (nothing else in dir is touched). Default:
SOCKETPIPE_CACHE there, else the first of ~/.cache/socketpipe,
$TMPDIR/socketpipe-UID, /var/tmp/socketpipe-UID,
$XDG_RUNTIME_DIR/socketpipe that only the user can change and a program
can run from (noexec is found by running one, before anything is sent).`,
};

const progressSize: OptionDeclaration<number> = {
  names: ["--size"],
  form: "value",
  into: { target: "display", key: "size" },
  value: "N",
  parse: size,
  takes: "bytes, or with K, M, G or T",
  check: (value) =>
    Number.isSafeInteger(value) && (value as number) >= 0 ? null : badValue(progressSize, value),
  help: `the expected size of the input stream (of the output stream without
-i), for percent and ETA; suffixes K, M, G, T are powers of 1024.`,
};

const report: OptionDeclaration<string> = {
  names: ["--report"],
  form: "value",
  into: { target: "display", key: "report" },
  value: "file",
  takes: "a file's path, or - for stderr",
  check: (value) => typeof value === "string" && value !== "" ? null : badValue(report, value),
  help: `at the end, write the result as one JSON object to file (- for
stderr): exit status, messages, each command's argv and status, both
halves' byte counts, data path, setup and transfer seconds; "version": 1.
Scripts: --report /dev/fd/3 3>report.json (or 3>&1 into jq) keeps it
apart from the commands' stderr.`,
};

/**
 * Every option, in the order `--help` shows them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OPTIONS } from "./command_line_options.ts";
 * const names = OPTIONS.flatMap((option) => option.names);
 * assert.ok(names.includes("--limit") && names.includes("-P") && names.includes("--install"));
 * assert.equal(new Set(names).size, names.length);
 * ```
 */
export const OPTIONS: readonly OptionDeclaration[] = [
  ...Object.values(BLOCKS),
  oneOf(
    "--provision",
    "provision",
    [PROVISION_MODES, "auto"],
    "never, auto or always",
    `without -x, how the remote host gets socketpipe. auto
(default): a cached copy of this version, else socketpipe on its PATH
if it speaks this protocol, else sent over the login and cached in
~/.cache/socketpipe (this version's bundle, and the Deno runtime when
the host has no Deno of this version), checked by sha256. always: send
it again. never: run socketpipe from its PATH only. It needs only sh.`,
  ),
  remoteCache,
  {
    ...address(
      "-h",
      "host",
      "host",
      `address the connecting side connects to: this host's, for the remote
half (default: the address the login came from, $SSH_CLIENT, then this
host's own addresses); the remote host's with --listen remote.`,
    ),
    whenMissing: "-h needs a value: this host's address (-h host); for help, --help",
  },
  timeout,
  oneOf(
    "--listen",
    "listen",
    [["local", "remote"], "local"],
    "local or remote",
    `which host listens for the data connection (default local,
as socketpipe 1.x): remote when this host may not receive connections
(a firewall, NAT); this host then connects to the remote half, at the
address the login reached unless -h names it.`,
  ),
  ports,
  address(
    "--bind",
    "bind",
    "addr",
    "the address the listening side listens on (default: every interface).",
  ),
  flag(
    ["-b"],
    "options",
    "batch",
    `batch mode, accepted for compatibility with socketpipe 1.x: the login
command never shares the terminal's stdin or socketpipe's stdout.`,
  ),
  flag(
    ["-v"],
    "options",
    "verbose",
    "print each step on stderr, including which data path ran and why.",
  ),
  flag(
    ["-P", "--progress"],
    "display",
    "progress",
    `show progress on stderr: bytes each way, current and average rate,
elapsed time (and percent and ETA with --size), redrawn in place on a
terminal and left as a summary line, a plain line every 10 s
otherwise; time paused is not counted. No byte is copied for it.`,
  ),
  progressSize,
  report,
  ...Object.values(CONNECTION_OPTIONS) as OptionDeclaration[],
  verb(
    ["--install"],
    `provision the remote host and exit (0 once it is ready): for a
configuration-management run; a run after it sends nothing. Its
last line, and "changed" in --report, say whether it sent anything.`,
  ),
  verb(
    ["--cache-list"],
    `show what the remote host's socketpipe cache holds: each directory,
and in it each version's bundle and each runtime, with their sizes.`,
  ),
  verb(
    ["--cache-remove"],
    `remove the remote host's socketpipe cache (only what socketpipe keeps,
in directories it marked as its own). A cache keeps the newest 3
versions' bundles and 2 runtimes; older ones go as new ones arrive.`,
  ),
  verb(["--help"], "print this help."),
  verb(["--version"], "print the version and its protocol."),
];
