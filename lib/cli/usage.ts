import { VERSION } from "../base/version.ts";

/**
 * The synopsis, printed after a usage error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SYNOPSIS } from "./usage.ts";
 * assert.match(SYNOPSIS, /^usage: socketpipe /);
 * ```
 */
export const SYNOPSIS = `usage: socketpipe [-b] [-v] [--copy] [--encrypt] [--peer-timeout s]
                  [--listen local|remote] [--port N[-M]] [--bind addr] [-h host] [-t timeout]
                  [--provision never|auto|always] [--remote-cache dir]
                  [--limit RATE] [--buffer SIZE] [-P] [--size N] [--report file]
                  [-x { remote socketpipe command }] [-i { input command [args…] }]
                  -l { login command [args…] }
                  -r { remote command [args…] } [-o { output command [args…] }]
       socketpipe --install | --cache-list | --cache-remove [--remote-cache dir]
                  -l { login command [args…] }
       socketpipe --help | --version`;

/**
 * The text `--help` prints: what it does, the interface, options, exit status.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HELP, SYNOPSIS } from "./usage.ts";
 * assert.ok(HELP.includes(`\n\n${SYNOPSIS}\n\n`));
 * ```
 */
export const HELP =
  `socketpipe ${VERSION} - connect local commands to a remote command over one direct TCP connection

${SYNOPSIS}

The login command (usually ssh host) starts socketpipe's remote half on the remote host;
the two halves meet on a direct TCP connection authenticated by a one-time token, and the
data flows over it, not through the login command. Braces are separate words and nest.

Options:
  -i { command }  input command: its stdout feeds the remote command's stdin. Only it
                  reads socketpipe's stdin. Without -i the remote stdin is at end of file.
  -l { command }  login command that runs its arguments on the remote host (ssh host).
  -r { command }  remote command; it receives exactly these words as its argv.
  -o { command }  output command: the remote command's stdout feeds its stdin. Only it
                  writes socketpipe's stdout. Without -o the remote stdout is discarded.
                  At least one of -i and -o is required.
  -x { command }  how to start socketpipe on the remote host, e.g. -x { /opt/bin/socketpipe }
                  (default: provisioned, see --provision).
  --provision never|auto|always  without -x, how the remote host gets socketpipe. auto
                  (default): a cached copy of this version, else socketpipe on its PATH
                  if it speaks this protocol, else sent over the login and cached in
                  ~/.cache/socketpipe (this version's bundle, and the Deno runtime when
                  the host has no Deno of this version), checked by sha256. always: send
                  it again. never: run socketpipe from its PATH only. It needs only sh.
  --remote-cache dir  where the remote host keeps what is sent: socketpipe's own
                  dir/socketpipe-UID (nothing else in dir is touched). Default:
                  SOCKETPIPE_CACHE there, else the first of ~/.cache/socketpipe,
                  $TMPDIR/socketpipe-UID, /var/tmp/socketpipe-UID,
                  $XDG_RUNTIME_DIR/socketpipe that only the user can change and a program
                  can run from (noexec is found by running one, before anything is sent).
  -h host         address the connecting side connects to: this host's, for the remote
                  half (default: the address the login came from, $SSH_CLIENT, then this
                  host's own addresses); the remote host's with --listen remote.
  -t timeout      seconds to wait for the data connection, counted from the start of the
                  login (default 0: wait for ever; at most 2147483; the remote half still
                  gives up on its own when it cannot connect).
  --peer-timeout s  end the run (exit 2) once the other host has not answered for s
                  seconds (and half a second more): a cut link, a crashed host
                  (default 20, at least 2, at most 86400; 0: leave it to the kernel and
                  ssh). An idle but healthy transfer is not affected; while the other
                  host still answers on the data connection, its half is given three
                  times as long; a host too busy to answer in time before the data
                  connection (many runs at once on a few cores) needs a longer one.
  --listen local|remote  which host listens for the data connection (default local,
                  as socketpipe 1.x): remote when this host may not receive connections
                  (a firewall, NAT); this host then connects to the remote half, at the
                  address the login reached unless -h names it.
  --port N[-M]    the listening side's port: the first free one of N to M (default: one
                  the kernel chooses), for a firewall rule that names it.
  --bind addr     the address the listening side listens on (default: every interface).
  -b              batch mode, accepted for compatibility with socketpipe 1.x: the login
                  command never shares the terminal's stdin or socketpipe's stdout.
  -v              print each step on stderr, including which data path ran and why.
  -P, --progress  show progress on stderr: bytes each way, current and average rate,
                  elapsed time (and percent and ETA with --size), redrawn in place on a
                  terminal and left as a summary line, a plain line every 10 s
                  otherwise; time paused is not counted. No byte is copied for it.
  --size N        the expected size of the input stream (of the output stream without
                  -i), for percent and ETA; suffixes K, M, G, T are powers of 1024.
  --report file   at the end, write the result as one JSON object to file (- for
                  stderr): exit status, messages, each command's argv and status, both
                  halves' byte counts, data path, setup and transfer seconds; "version": 1.
                  Scripts: --report /dev/fd/3 3>report.json (or 3>&1 into jq) keeps it
                  apart from the commands' stderr.
  --copy          move the data through socketpipe (the stream path) instead of handing
                  the socket itself to the commands (the zero-copy path, the default on
                  Linux when FFI is permitted, e.g. with deno run -A).
  --encrypt       encrypt and authenticate the data connection: TLS 1.3 records,
                  ChaCha20-Poly1305, keys of this run's own; a changed record fails the
                  run (exit 2), never becomes data. Sealed by the kernel where its tls
                  module is loaded (the commands keep the socket), else by socketpipe.
  --limit RATE    send at most RATE bytes per second each way (suffixes K, M, G: powers
                  of 1024; at most 1024G), as pv -L does: the kernel paces the socket
                  the commands hold (nothing copied; the rate counts TCP/IP headers), or
                  with --copy the copy loop paces the data.
  --buffer SIZE   give the data socket send and receive buffers of SIZE each, on both
                  hosts (K, M, G; up to 1G): slack between a bursty producer and a
                  consumer that stalls (a tape drive), kept by the kernel, nothing
                  copied. As root any size; otherwise up to net.core.wmem_max/rmem_max.
  --install       provision the remote host and exit (0 once it is ready): for a
                  configuration-management run; a run after it sends nothing. Its
                  last line, and "changed" in --report, say whether it sent anything.
  --cache-list    show what the remote host's socketpipe cache holds: each directory,
                  and in it each version's bundle and each runtime, with their sizes.
  --cache-remove  remove the remote host's socketpipe cache (only what socketpipe keeps,
                  in directories it marked as its own). A cache keeps the newest 3
                  versions' bundles and 2 runtimes; older ones go as new ones arrive.
  --help          print this help.   --version  print the version and its protocol.

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
