/**
 * Every fault socketpipe reports, defined once: its line on stderr (the step, the cause,
 * what to try) and the exit status it gives. Both halves use these, and
 * `tests/unit/fault_catalogue_test.ts` checks that the manual's FAULTS section shows every entry's
 * example line, so the documents cannot drift from the code.
 *
 * Long on purpose: the catalogue is the one place a line is written, so that the manual,
 * the tests and both halves read the same words.
 *
 * @module
 */
import { signalNumber } from "./command_status.ts";
import { PROTOCOL_VERSION } from "./version.ts";

/**
 * A failure the user must hear: its line (the step, the cause, what to try) and the exit
 * status it gives. The one way socketpipe fails: a step that can fail returns `T | Fault`,
 * and its caller tells them apart with `instanceof Fault` (see `lib/README.md`). A fault
 * is made from the catalogue ({@link FAULTS}), or relayed whole from the other half.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Fault, FAULTS } from "./faults.ts";
 * const fault = FAULTS.cannotListen.of("address in use");
 * assert.ok(fault instanceof Fault);
 * assert.equal(fault.status, 2);
 * assert.equal(fault.line, fault.message);
 * ```
 */
export class Fault extends Error {
  /**
   * A fault with this exit status and line (without the program's prefix), and what it is
   * about, for scripts (see {@link FaultClass}).
   */
  constructor(
    readonly status: number,
    readonly line: string,
    readonly about: FaultClass = UNCLASSED,
  ) {
    super(line);
    this.name = "Fault";
  }

  /**
   * A line the other half made from its own catalogue and sent here (an `error` message):
   * the data never moved, so it is a transport failure.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Fault } from "./faults.ts";
   * assert.deepEqual(
   *   [Fault.relayed("connect: refused").status, Fault.relayed("connect: refused").line],
   *   [2, "connect: refused"],
   * );
   * ```
   */
  static relayed(line: string, about?: FaultClass | null): Fault {
    return new Fault(TRANSPORT_STATUS, line, about ?? RELAYED);
  }
}

/** The step of a run at which a fault happened. */
export type FaultStep =
  | "usage"
  | "login"
  | "provision"
  | "meeting"
  | "transfer"
  | "command"
  | "interrupted"
  | "report"
  | "internal";

/**
 * What failed, for a script to act on without reading the line: the fault's name in the
 * catalogue ({@link FAULTS}: "loginRefused", "dataConnection", …; "command" when a
 * command's own status decided the run), the step, and whether the same run tried again
 * can succeed (a cut link, a busy sshd) or the cause must be mended first (a refused key,
 * an unknown host, a firewall).
 */
export interface FaultClass {
  /** The fault's name in the catalogue, or "command". */
  kind: string;
  /** The step that failed. */
  step: FaultStep;
  /** Whether trying again, unchanged, can help. */
  retry: boolean;
  /** For a command's failure: its role ("input", "remote" or "output"). */
  role?: string;
}

/** What a fault made outside the catalogue is about: nothing more is known. */
const UNCLASSED: FaultClass = { kind: "internalError", step: "internal", retry: false };
/** A line the other half sent without saying what it is about (an older remote half). */
const RELAYED: FaultClass = { kind: "remoteHalfError", step: "meeting", retry: false };

/**
 * A mistake on the command line or in the options: the run never started. The one fault
 * that is thrown rather than returned, because it is the caller's mistake, not the run's:
 * `parseArgs` and `socketpipe()` throw it, as documented; the CLI prints its line and the
 * usage, and exits 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Fault, UsageError } from "./faults.ts";
 * const error = new UsageError("missing -l { login command }");
 * assert.ok(error instanceof Fault);
 * assert.deepEqual([error.status, error.line], [1, "missing -l { login command }"]);
 * ```
 */
export class UsageError extends Fault {
  /** Makes a usage error; `message` names the problem on one line. */
  constructor(message: string) {
    super(USAGE_STATUS, message, { kind: "usage", step: "usage", retry: false });
    this.name = "UsageError";
  }
}

/** Exit status of a usage error. */
export const USAGE_STATUS = 1;

/** One kind of fault in the catalogue. */
export interface FaultEntry<A extends unknown[]> {
  /** The line for these particulars. */
  line(...args: A): string;
  /** The exit status for these particulars. */
  status(...args: A): number;
  /** The fault, for these particulars. */
  of(...args: A): Fault;
  /** Particulars for the example line the manual shows. */
  readonly example: A;
  /** Its name in the catalogue (set once, from {@link FAULTS}'s keys). */
  kind: string;
}

function fault<A extends unknown[]>(
  status: number | ((...args: A) => number),
  line: (...args: A) => string,
  example: A,
): FaultEntry<A> {
  const statusOf = typeof status === "number" ? () => status : status;
  const entry: FaultEntry<A> = {
    line,
    status: statusOf,
    of: (...args) =>
      new Fault(statusOf(...args), line(...args), {
        kind: entry.kind,
        ...FAULT_CLASSES[entry.kind as FaultKind],
      }),
    example,
    kind: "",
  };
  return entry;
}

/**
 * What a failed meeting says after the other way to meet: when both fail, trying the other
 * again cannot help (the two hints would send the user back and forth).
 */
const NO_ROUTE = "if neither way works, the hosts have no direct route, as through an ssh " +
  "bastion: nest socketpipe on the bastion (see BASTIONS in the manual)";

/** What a stream whose two counts differ is: short of what was sent, or more. */
const streamFault = (sent: number, received: number) =>
  received < sent ? "stream truncated" : "stream altered";
/** For a stream that arrived longer than it was sent: where those bytes came from. */
const addedOnPath = (sent: number, received: number) =>
  received > sent ? " (more than was sent: bytes were added on the path)" : "";

/**
 * What silence for the peer timeout may also be: a host so busy (a crowd of runs on a few
 * cores) that the peer could not answer in time, though nothing is cut. The remedy then is
 * a longer bound, not another try.
 */
const ifOnlyBusy = (seconds: number) =>
  `; if the host was only busy, give it longer: --peer-timeout ${seconds * 3}`;

/**
 * How many times the peer timeout a half waits on a peer that says nothing while its host
 * still answers on the data connection: a half starved of CPU on a crowded host (21 s
 * measured here, under a load of 100 runs on two cores) is not a dead one, and a stopped
 * or hung one is still given up on.
 */
export const HOST_ANSWERS_FACTOR = 3;

/** Exit status of a setup or transport failure. */
export const TRANSPORT_STATUS = 2;

/**
 * The catalogue. Each entry's arguments are the particulars of one occurrence; blocks are
 * given as written on the command line (`{ ssh host }`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FAULTS } from "./faults.ts";
 * const fault = FAULTS.connectTimeout.of(10);
 * assert.equal(fault.status, 2);
 * assert.match(fault.line, /^connect: no authenticated data connection within 10 s; /);
 * ```
 */
export const FAULTS = {
  loginCouldNotStart: fault(
    TRANSPORT_STATUS,
    (login: string, cause: string) => `login command ${login} could not start: ${cause}`,
    ["{ ssh host }", "not found"],
  ),
  loginFailed: fault(
    TRANSPORT_STATUS,
    (login: string, loginWords: string, said: string) =>
      `login ${login} failed (status 255: ${said}); ` +
      `check that the login alone works: ${loginWords} true`,
    ["{ ssh host }", "ssh host", "ssh: connect to host host port 22: Bad file descriptor"],
  ),
  loginRefused: fault(
    TRANSPORT_STATUS,
    (login: string, said: string) =>
      `login ${login} was refused: ${said}; check the user, key or password for that host ` +
      `(trying again will not help)`,
    ["{ ssh host }", "me@host: Permission denied (publickey)."],
  ),
  loginUnknownHost: fault(
    TRANSPORT_STATUS,
    (login: string, said: string) =>
      `login ${login}: the host name does not resolve (${said}); ` +
      `check the name in the login command or in ~/.ssh/config`,
    ["{ ssh host }", "ssh: Could not resolve hostname host: Name or service not known"],
  ),
  loginHostKeyRejected: fault(
    TRANSPORT_STATUS,
    (login: string, said: string) =>
      `login ${login}: the host's key was not accepted (${said}); ` +
      `check it against known_hosts before trusting it`,
    ["{ ssh host }", "Host key verification failed."],
  ),
  loginUnreachable: fault(
    TRANSPORT_STATUS,
    (login: string, said: string) =>
      `login ${login}: no ssh server could be reached (${said}); ` +
      `check the host, its ssh port and the network`,
    ["{ ssh host }", "ssh: connect to host host port 22: Connection refused"],
  ),
  loginDropped: fault(
    TRANSPORT_STATUS,
    (login: string, said: string) =>
      `login ${login} was dropped before it logged in (${said}); a busy sshd drops ` +
      `logins beyond its MaxStartups: try again`,
    ["{ ssh host }", "kex_exchange_identification: read: Connection reset by peer"],
  ),
  loginSessionEnded: fault(
    TRANSPORT_STATUS,
    (login: string) =>
      `login ${login} ended (status 255) before the remote half connected, and said ` +
      `nothing: the remote session was ended (killed?) before it could report; ` +
      `check the remote host's log, then try again`,
    ["{ ssh host }"],
  ),
  loginHasTerminal: fault(
    TRANSPORT_STATUS,
    () =>
      "login: the login gave the remote side a terminal (ssh -t, RequestTTY), which echoes " +
      "what socketpipe sends and alters its bytes; drop -t from the login, or add -T",
    [],
  ),
  commandLineTooLong: fault(
    TRANSPORT_STATUS,
    (login: string, said: string) =>
      `login ${login}: the remote host could not start the remote half: its command line ` +
      `is over the system's argument limit (${said}); give the remote command fewer words, ` +
      `or pass long data through -i rather than the command line`,
    ["{ ssh host }", "/bin/bash: Argument list too long"],
  ),
  cacheVerbFailed: fault(
    TRANSPORT_STATUS,
    (login: string, how: string, loginWords: string) =>
      `cache: login ${login} ${how}; check that the login alone works: ${loginWords} true`,
    ["{ ssh host }", "exited with status 255", "ssh host"],
  ),
  loginRunsNoShell: fault(
    TRANSPORT_STATUS,
    (login: string) =>
      `login ${login} could not run the bootstrap (status 127): the login must run its ` +
      `words as a shell command line, as ssh does; on this host use ` +
      `-l { sh -c 'eval "$*"' sh }, or start an installed socketpipe with -x { … }`,
    ["{ env }"],
  ),
  runtimeNotExecutable: fault(
    TRANSPORT_STATUS,
    (login: string, said: string) =>
      `login ${login}: the remote host cannot execute socketpipe's runtime in its cache ` +
      `(status 126${said ? `: ${said}` : ""}); name a directory that allows it with ` +
      `--remote-cache DIR, or install socketpipe there and use -x { … }`,
    ["{ ssh host }", "…/deno: Permission denied"],
  ),
  remoteSocketpipeNotFound: fault(
    TRANSPORT_STATUS,
    (login: string, remoteSocketpipe: string) =>
      `login ${login}: remote socketpipe ${remoteSocketpipe} not found (status 127); ` +
      `install socketpipe on the remote host or name it with -x { /path/to/socketpipe }`,
    ["{ ssh host }", "{ socketpipe }"],
  ),
  loginEndedEarly: fault(
    TRANSPORT_STATUS,
    (login: string, how: string, remoteSocketpipe: string) =>
      `login ${login} ${how} before the remote half connected; ` +
      `check that ${remoteSocketpipe} on the remote host is socketpipe of the same version`,
    ["{ ssh host }", "exited with status 1", "{ socketpipe }"],
  ),
  loginEndedBeforeBootstrap: fault(
    TRANSPORT_STATUS,
    (login: string, how: string, said: string, loginWords: string) =>
      `login ${login} ${how} before the remote half connected${said ? ` (${said})` : ""}; ` +
      `check that the login alone runs a command there: ${loginWords} true`,
    ["{ ssh host }", "exited with status 32", "mount: /srv: permission denied.", "ssh host"],
  ),
  loginChannelClosed: fault(
    TRANSPORT_STATUS,
    (login: string, remoteSocketpipe: string) =>
      `login ${login}: the login channel closed before the remote half connected; ` +
      `check that ${remoteSocketpipe} is socketpipe of the same version`,
    ["{ ssh host }", "{ socketpipe }"],
  ),
  loginNotFinished: fault(
    TRANSPORT_STATUS,
    (login: string, seconds: number) =>
      `login ${login} not finished within ${seconds} s: no word from the remote half yet ` +
      `(a password prompt? a slow host?); raise -t or make the login work without a prompt`,
    ["{ ssh host }", 10],
  ),
  remoteEndedWithoutConnecting: fault(
    TRANSPORT_STATUS,
    (remoteSocketpipe: string) =>
      `remote half reported its end without connecting; ` +
      `check that ${remoteSocketpipe} is socketpipe of the same version`,
    ["{ socketpipe }"],
  ),
  connectTimeout: fault(
    TRANSPORT_STATUS,
    (seconds: number) =>
      `connect: no authenticated data connection within ${seconds} s; ` +
      `check that the remote host can reach this one, or name this host's address with -h`,
    [10],
  ),
  protocolMismatch: fault(
    TRANSPORT_STATUS,
    (peer: "local" | "remote", theirs: unknown) =>
      `protocol mismatch: the ${peer} socketpipe speaks protocol ${theirs}, ` +
      `this ${peer === "local" ? "remote" : "local"} socketpipe speaks ${PROTOCOL_VERSION}; ` +
      `install the same version on both hosts`,
    ["remote", 1] as ["local" | "remote", unknown],
  ),
  badReport: fault(
    TRANSPORT_STATUS,
    (peer: "local" | "remote", what: string) =>
      `protocol fault: the ${peer} half's report does not hold up (${what}); ` +
      `nothing it says of the run can be trusted`,
    ["remote", "status 256 is outside 0 to 255"] as ["local" | "remote", string],
  ),
  remoteHalfError: fault(
    TRANSPORT_STATUS,
    (step: string, message: string) => `remote half: ${step}: ${message}`,
    [
      "connect",
      "could not connect back (192.0.2.7:40000: connection refused); " +
      `name a reachable address with -h, or let the remote host listen: --listen remote (${NO_ROUTE})`,
    ],
  ),
  noSessionLine: fault(
    TRANSPORT_STATUS,
    () => "login channel closed before the session line",
    [],
  ),
  connectBackFailed: fault(
    TRANSPORT_STATUS,
    (tried: string) =>
      `could not connect back (${tried}); name a reachable address with -h, ` +
      `or let the remote host listen: --listen remote (${NO_ROUTE})`,
    ["192.0.2.7:40000: connection refused"],
  ),
  connectBackRefused: fault(
    TRANSPORT_STATUS,
    (tried: string) =>
      `the data connection was refused (${tried}): ` +
      `that listener is not this run's local half; name the right address with -h`,
    ["127.0.0.1:40000: the listener did not prove the token"],
  ),
  cannotReachRemote: fault(
    TRANSPORT_STATUS,
    (tried: string) =>
      `connect: could not reach the remote half's listener (${tried}); ` +
      `name its address with -h, or let this host listen: --listen local (${NO_ROUTE})`,
    ["192.0.2.9:40000: no answer within 5 s"],
  ),
  remoteListenerRefused: fault(
    TRANSPORT_STATUS,
    (tried: string) =>
      `connect: the data connection was refused (${tried}): ` +
      `that listener is not this run's remote half`,
    ["192.0.2.9:40000: the listener did not prove the token"],
  ),
  cannotListen: fault(
    TRANSPORT_STATUS,
    (cause: string) => `listen: ${cause}; choose other ports with --port, or another --bind`,
    ["cannot listen on every interface, port 40000-40009: every port is in use"],
  ),
  limitRefused: fault(
    TRANSPORT_STATUS,
    (cause: string) =>
      `--limit: the kernel would not pace the data connection (${cause}); ` +
      `run with --copy, where socketpipe paces it, or without --limit`,
    ["setsockopt(SO_MAX_PACING_RATE): operation not supported"],
  ),
  remoteHalfNotPermitted: fault(
    TRANSPORT_STATUS,
    (cause: string) =>
      `the remote half may not connect back (${cause}); ` +
      `run it with every permission, e.g. -x { deno run -A main.ts }`,
    ['Requires net access to "192.0.2.7:40000"'],
  ),
  remoteSilent: fault(
    TRANSPORT_STATUS,
    (seconds: number) =>
      `remote half stopped answering: nothing heard from it for ${seconds} s ` +
      `(a cut link or a crashed host?)${ifOnlyBusy(seconds)}`,
    [20],
  ),
  remoteUnresponsive: fault(
    TRANSPORT_STATUS,
    (seconds: number) =>
      `remote half stopped answering: nothing heard from it for ${
        seconds * HOST_ANSWERS_FACTOR
      } s, ` +
      `though its host still answered on the data connection (a stopped process, or a ` +
      `host too busy to run it?)${ifOnlyBusy(seconds)}`,
    [20],
  ),
  remoteNoReport: fault(
    TRANSPORT_STATUS,
    (seconds: number) =>
      `remote half sent no report within ${seconds} s of the data connection failing ` +
      `(its host or the link may be down)`,
    [2],
  ),
  remoteNoReportAnswering: fault(
    TRANSPORT_STATUS,
    (seconds: number) =>
      `remote half sent no report within ${seconds} s of the data connection failing, ` +
      `though it still answers (its command may not end: see its host)`,
    [20],
  ),
  remoteVanished: fault(
    TRANSPORT_STATUS,
    (loginEnd: string) =>
      `remote half vanished: the login channel closed before its report (login ${loginEnd})`,
    ["killed by SIGKILL"],
  ),
  remoteHalfStopped: fault(
    (signal: string) => 128 + (signalNumber(signal) || 15),
    (signal: string) =>
      `stopped by ${signal} on the remote host: stopped the remote command and all it ` +
      `started there`,
    ["SIGTERM"],
  ),
  loginNotRejoined: fault(
    TRANSPORT_STATUS,
    (seconds: number, cause: string, sent: number, received: number) =>
      `login cut and not joined again within ${seconds} s (--reconnect): ${cause}; stopped ` +
      `the commands; ${sent} bytes sent, ${received} received; none lost silently`,
    [60, "ssh: connect to host backup port 22: Connection timed out", 1048576, 0],
  ),
  rejoinRefused: fault(
    TRANSPORT_STATUS,
    (cause: string) => `login joined again, but ${cause}`,
    ["the remote half waiting at /tmp/socketpipe-rejoin-x/login cannot be reached: gone"],
  ),
  localHalfGone: fault(
    TRANSPORT_STATUS,
    () => "the local half is gone (login channel closed); stopped the remote command",
    [],
  ),
  localHalfSilent: fault(
    TRANSPORT_STATUS,
    (seconds: number) =>
      `the local half stopped answering: nothing heard from it for ${seconds} s ` +
      `(a cut link or a crashed host?); stopped the remote command${ifOnlyBusy(seconds)}`,
    [20],
  ),
  localHalfUnresponsive: fault(
    TRANSPORT_STATUS,
    (seconds: number) =>
      `the local half stopped answering: nothing heard from it for ${
        seconds * HOST_ANSWERS_FACTOR
      } s, ` +
      `though its host still answered on the data connection (a stopped process, or a ` +
      `host too busy to run it?); stopped the remote command${ifOnlyBusy(seconds)}`,
    [20],
  ),
  dataConnection: fault(
    TRANSPORT_STATUS,
    (cause: string) => `data connection: ${cause}`,
    ["receiving failed: recv: connection reset by peer"],
  ),
  truncatedToRemote: fault(
    TRANSPORT_STATUS,
    (sent: number, received: number) =>
      `data connection: ${streamFault(sent, received)}: input sent ${sent} bytes, ` +
      `the remote half received ${received}${addedOnPath(sent, received)}`,
    [67108864, 1048576],
  ),
  truncatedFromRemote: fault(
    TRANSPORT_STATUS,
    (sent: number, received: number) =>
      `data connection: ${streamFault(sent, received)}: the remote command sent ${sent} bytes, ` +
      `the local half received ${received}${addedOnPath(sent, received)}`,
    [67108864, 1048576],
  ),
  interrupted: fault(
    (signal: string) => 128 + (signalNumber(signal) || 2),
    (signal: string) => `interrupted by ${signal}: stopped every command of this run on both hosts`,
    ["SIGINT"],
  ),
  interruptedUnconfirmed: fault(
    (signal: string) => 128 + (signalNumber(signal) || 2),
    (signal: string, peerTimeout: number) =>
      `interrupted by ${signal}: stopped every command of this run on this host; the remote ` +
      `half did not confirm its end (a cut link?): it stops its command once it has heard ` +
      `nothing for ${
        peerTimeout > 0 ? `--peer-timeout (${peerTimeout} s)` : "as long as ssh takes to notice"
      }`,
    ["SIGTERM", 20] as [string, number],
  ),
  bundleNotBuilt: fault(
    0,
    (cause: string) =>
      `install: the bundle was not built: ${cause}; runs will build it when needed`,
    ["deno bundle failed: status 1"],
  ),
  noSafeBundleCache: fault(
    TRANSPORT_STATUS,
    (why: string, root: string) =>
      `provision: no safe place to keep the bundle built from these sources (${why}): set ` +
      `XDG_CACHE_HOME to a directory only you can write, or run npm ci in ${root} so that ` +
      `its dist/ matches the sources`,
    ["HOME and XDG_CACHE_HOME are unset", "/opt/socketpipe"],
  ),
  cannotProvision: fault(
    TRANSPORT_STATUS,
    (cause: string) =>
      `provision: cannot send socketpipe to the remote host: ${cause}; ` +
      `install socketpipe there and name it with -x { /path/to/socketpipe }`,
    ["deno bundle failed: status 1"],
  ),
  provisionCutOff: fault(
    TRANSPORT_STATUS,
    (what: string, sent: number) =>
      `provision: sending the ${what} failed after ${sent} bytes: the login channel closed; ` +
      `try again, or see the remote half's line above`,
    ["runtime", 1048576],
  ),
  /** Exit 1, as a pipe's command that writes to a closed stdout (or reads a closed stdin). */
  closedStream: fault(
    1,
    (stream: "input" | "output") =>
      stream === "output"
        ? "standard output is closed (socketpipe was started with >&-): the output " +
          "command would write nowhere; give socketpipe a standard output (>/dev/null to discard)"
        : "standard input is closed (socketpipe was started with <&-): the input command " +
          "would read nothing; give socketpipe a standard input (</dev/null for none)",
    ["output"] as ["input" | "output"],
  ),
  provisionStalled: fault(
    TRANSPORT_STATUS,
    (step: string, seconds: number) =>
      `provision: stalled ${step}: nothing from the remote host for ${seconds} s ` +
      `(a cut link?); check the link and try again${ifOnlyBusy(seconds)}`,
    ["sending the runtime (1048576 bytes taken)", 20],
  ),
  internalError: fault(
    TRANSPORT_STATUS,
    (message: string) => `internal error: ${message}`,
    ["…"],
  ),
  /** The run's own exit status stands: the report is what failed. */
  reportNotWritten: fault(
    0,
    (path: string, cause: string) =>
      `report: cannot write ${path}: ${cause}; the exit status is the run's own`,
    ["/var/log/run.json", "permission denied"],
  ),
  /** Not a failure: the transfer goes on, and the exit status is unchanged. */
  refusedConnections: fault(
    0,
    (count: number) => `refused ${count} unauthenticated data connection(s)`,
    [3],
  ),
};

/** A fault's name in the catalogue. */
export type FaultKind = keyof typeof FAULTS;
for (const [kind, entry] of Object.entries(FAULTS)) entry.kind = kind;

/**
 * Each fault's step, and whether trying again can help: one entry per fault of the
 * catalogue (the type holds them to it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FAULTS } from "./faults.ts";
 * assert.deepEqual(FAULTS.loginRefused.of("{ ssh h }", "denied").about,
 *   { kind: "loginRefused", step: "login", retry: false });
 * assert.equal(FAULTS.remoteSilent.of(20).about.retry, true);
 * ```
 */
export const FAULT_CLASSES: Record<FaultKind, { step: FaultStep; retry: boolean }> = {
  loginCouldNotStart: { step: "login", retry: false },
  loginFailed: { step: "login", retry: true },
  loginRefused: { step: "login", retry: false },
  loginUnknownHost: { step: "login", retry: false },
  loginHostKeyRejected: { step: "login", retry: false },
  loginUnreachable: { step: "login", retry: true },
  loginDropped: { step: "login", retry: true },
  loginSessionEnded: { step: "login", retry: true },
  loginHasTerminal: { step: "login", retry: false },
  commandLineTooLong: { step: "login", retry: false },
  cacheVerbFailed: { step: "provision", retry: true },
  loginRunsNoShell: { step: "login", retry: false },
  runtimeNotExecutable: { step: "provision", retry: false },
  remoteSocketpipeNotFound: { step: "provision", retry: false },
  loginEndedEarly: { step: "login", retry: false },
  loginEndedBeforeBootstrap: { step: "login", retry: false },
  loginChannelClosed: { step: "login", retry: true },
  loginNotFinished: { step: "login", retry: true },
  remoteEndedWithoutConnecting: { step: "meeting", retry: false },
  connectTimeout: { step: "meeting", retry: true },
  protocolMismatch: { step: "meeting", retry: false },
  badReport: { step: "transfer", retry: false },
  remoteHalfError: { step: "meeting", retry: false },
  noSessionLine: { step: "meeting", retry: true },
  connectBackFailed: { step: "meeting", retry: false },
  connectBackRefused: { step: "meeting", retry: false },
  cannotReachRemote: { step: "meeting", retry: false },
  remoteListenerRefused: { step: "meeting", retry: false },
  cannotListen: { step: "meeting", retry: false },
  limitRefused: { step: "meeting", retry: false },
  remoteHalfNotPermitted: { step: "meeting", retry: false },
  remoteSilent: { step: "transfer", retry: true },
  remoteUnresponsive: { step: "transfer", retry: true },
  remoteNoReport: { step: "transfer", retry: true },
  remoteNoReportAnswering: { step: "transfer", retry: false },
  remoteVanished: { step: "transfer", retry: true },
  remoteHalfStopped: { step: "transfer", retry: true },
  localHalfGone: { step: "transfer", retry: true },
  loginNotRejoined: { step: "transfer", retry: true },
  rejoinRefused: { step: "transfer", retry: true },
  localHalfSilent: { step: "transfer", retry: true },
  localHalfUnresponsive: { step: "transfer", retry: true },
  dataConnection: { step: "transfer", retry: true },
  truncatedToRemote: { step: "transfer", retry: true },
  truncatedFromRemote: { step: "transfer", retry: true },
  interrupted: { step: "interrupted", retry: true },
  interruptedUnconfirmed: { step: "interrupted", retry: true },
  bundleNotBuilt: { step: "provision", retry: true },
  noSafeBundleCache: { step: "provision", retry: false },
  cannotProvision: { step: "provision", retry: false },
  provisionCutOff: { step: "provision", retry: true },
  closedStream: { step: "command", retry: false },
  provisionStalled: { step: "provision", retry: true },
  internalError: { step: "internal", retry: false },
  reportNotWritten: { step: "report", retry: false },
  refusedConnections: { step: "meeting", retry: true },
};

/**
 * The lines of commands that failed, as `set -o pipefail` counts them; the exit status is
 * the command's own (see outcome.ts, which decides which line a run prints, and in what
 * order). Each has its particulars for the manual's example, which a test checks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { COMMAND_LINES } from "./faults.ts";
 * assert.equal(
 *   COMMAND_LINES.ended("remote", "{ dd of=/dev/st0 }", "exited with status 1", ""),
 *   "remote command { dd of=/dev/st0 } exited with status 1",
 * );
 * ```
 */
export const COMMAND_LINES = {
  /**
   * A command's end: `where` names the host of a remote command (" on tapehost"), or says
   * " on the remote host" for one that could not start there when its name is not known.
   */
  ended: (role: string, block: string, how: string, where: string) =>
    `${role} command ${block} ${how}${where}`,
  /** A writer killed by SIGPIPE, after its reader stopped early. */
  cutOff: (line: string, readerRole: string, readerBlock: string, took: number) =>
    `${line}: the ${readerRole} command ${readerBlock} stopped reading after ${took} bytes`,
  /** A writer that exited 0 where a pipe would have killed it with SIGPIPE. */
  asThroughPipe: (
    role: string,
    block: string,
    wrote: number,
    readerRole: string,
    readerBlock: string,
    took: number,
    status: number,
  ) =>
    `${role} command ${block} wrote ${wrote} bytes, but the ${readerRole} command ` +
    `${readerBlock} stopped reading after ${took}: status ${status} (SIGPIPE), as through a pipe`,
  /** What a failed command read of what arrived for it, when not all of it. */
  took: (delivered: number, available: number) =>
    ` after reading ${delivered} of the ${available} bytes that arrived for it`,
  /** The remote command reopened /dev/stdin or /dev/stdout, which a socket cannot be. */
  reopened: "; it reopened its input or output by name, which a socket cannot be: use --copy",
  /** No report came, and nothing said why. */
  vanished: "remote half vanished before reporting",
};
