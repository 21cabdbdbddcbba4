/**
 * Why a login ended before the remote half connected, as the fault the user reads: by its
 * status and the last line it wrote, so that the hint fits the cause (a refused key is
 * not tried again; only a dropped login is).
 *
 * @module
 */
import { type CommandStatus, describeStatus } from "../base/command_status.ts";
import { type Fault, FAULTS } from "../base/faults.ts";
import { formatBlock, shellQuote } from "../base/shell_quote.ts";
import { DEFAULT_REMOTE_SOCKETPIPE, type LoginOptions } from "./login.ts";

/**
 * Explains a login that ended before the remote half connected, by its status and the last
 * line it wrote (`said`): for ssh (status 255) the line names its cause, and the hint fits
 * it (a refused key is not tried again; only a dropped login is); a bootstrap that a login
 * could not run as a shell command line (127 with `starter`); a runtime the remote host
 * cannot execute (126 with `starter`); the remote socketpipe not found (127).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { explainLoginEnd } from "./login_end.ts";
 * const refused = explainLoginEnd({ login: ["ssh", "host"], remote: ["true"] },
 *   { status: 255, signal: null, failedToStart: null }, "me@host: Permission denied (publickey).");
 * assert.match(refused.line, /^login \{ ssh host \} was refused: me@host: Permission denied/);
 * assert.doesNotMatch(refused.line, /try again/);
 * ```
 */
export function explainLoginEnd(
  options: LoginOptions,
  status: CommandStatus,
  said = "",
): Fault {
  const login = formatBlock(options.login);
  const remoteHalf = formatBlock(options.remoteSocketpipe ?? DEFAULT_REMOTE_SOCKETPIPE);
  const words = options.login.map(shellQuote).join(" ");
  // The remote shell could not even start the command line (sshd passes it as one word).
  if (/Argument list too long/i.test(said)) return FAULTS.commandLineTooLong.of(login, said);
  if (options.starter && status.status === 127) {
    return FAULTS.loginRunsNoShell.of(login);
  }
  // 126 from the runtime's own exec (its path ends in /deno); another 126 is the login's.
  if (options.starter && status.status === 126 && /\/deno\b/.test(said)) {
    return FAULTS.runtimeNotExecutable.of(login, said);
  }
  if (status.status === 127) return FAULTS.remoteSocketpipeNotFound.of(login, remoteHalf);
  if (status.status === 255) return explainSshFailure(login, words, said);
  // Provisioned, no installed socketpipe ran: its version is not in question, the login is.
  if (options.starter) {
    return FAULTS.loginEndedBeforeBootstrap.of(login, describeStatus(status), said, words);
  }
  return FAULTS.loginEndedEarly.of(login, describeStatus(status), remoteHalf);
}

/** ssh's own causes (its last line) and the fault each one is. */
const SSH_CAUSES: [RegExp, (login: string, words: string, said: string) => Fault][] = [
  [
    /Permission denied|Too many authentication failures|Authentication failed/i,
    (login, _, said) => FAULTS.loginRefused.of(login, said),
  ],
  [/Could not resolve hostname|Name or service not known|Temporary failure in name resolution/i, (
    login,
    _,
    said,
  ) => FAULTS.loginUnknownHost.of(login, said)],
  [
    /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i,
    (login, _, said) => FAULTS.loginHostKeyRejected.of(login, said),
  ],
  [/Connection refused|Connection timed out|No route to host|Network is unreachable/i, (
    login,
    _,
    said,
  ) => FAULTS.loginUnreachable.of(login, said)],
  [/kex_exchange_identification|Connection closed by|Connection reset by|banner exchange/i, (
    login,
    _,
    said,
  ) => FAULTS.loginDropped.of(login, said)],
];

function explainSshFailure(login: string, words: string, said: string): Fault {
  if (said === "") return FAULTS.loginSessionEnded.of(login);
  for (const [pattern, fault] of SSH_CAUSES) {
    if (pattern.test(said)) return fault(login, words, said);
  }
  return FAULTS.loginFailed.of(login, words, said);
}
