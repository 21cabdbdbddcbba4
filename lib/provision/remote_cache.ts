/**
 * The fleet verbs' remote side: what a host's socketpipe cache holds (`--cache-list`), and
 * removing it (`--cache-remove`), through the login alone, with the same loader as
 * provisioning (the host needs only `sh`).
 *
 * @module
 */
import { type CommandStatus, describeStatus, statusOfChild } from "../base/command_status.ts";
import { messageOf } from "../base/message_of.ts";
import { type Fault, FAULTS } from "../base/faults.ts";
import { BOOTSTRAP_LOADER, CACHE_MARKER, CACHE_PLACES, CACHE_TRUST } from "./remote_bootstrap.ts";
import { formatBlock, shellQuote } from "../base/shell_quote.ts";
import { exactInvocation } from "../platform/exact_spawn.ts";

/** What a cache verb does on the remote host. */
export type CacheAction = "list" | "remove";

/**
 * The script the login runs for a cache verb: `$1` the action, `$2` the named cache ("" to
 * look in every standard place, or `SOCKETPIPE_CACHE` there). It acts only on a cache
 * that socketpipe marked (`CACHE_MARKER`) in a directory nobody else can change
 * (`CACHE_TRUST`), and in it only on what socketpipe keeps: it lists the complete entries
 * and removes every entry of socketpipe's, then the directory if nothing else is left.
 */
export const CACHE_SCRIPT = `
action=$1 named=\${2:-$SOCKETPIPE_CACHE}
${CACHE_PLACES}
${CACHE_TRUST}
found=0
cache_of() {
  [ -e "$1" ] || return 1
  physical "$1" && guarded "$place" d && walled "$place" && [ -f "$place/${CACHE_MARKER}" ] &&
    guarded "$place/${CACHE_MARKER}" - || { echo "left alone: $1: \${why:-not marked as socketpipe's cache}"; return 1; }
}
show() {
  cache_of "$1" || return 0
  found=1
  echo "$place"
  (cd "$place" && for entry in [0-9]*-* deno-[0-9]* deno-dir; do
    [ -d "$entry" ] && [ ! -L "$entry" ] && ours "$entry" || continue
    case $entry in
      deno-dir) kind="Deno's module cache" ;;
      deno-*) [ -f "$entry/deno" ] || continue; kind="runtime" ;;
      *) [ -f "$entry/socketpipe.js" ] || continue; kind="bundle" ;;
    esac
    printf '  %-36s %-20s %s KiB\\n' "$entry" "$kind" "$(du -sk "$entry" | cut -f1)"
  done)
}
remove() {
  cache_of "$1" || return 0
  found=1
  (cd "$place" && for entry in [0-9]*-* deno-[0-9]* deno-dir .probe-*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    ours "$entry" && rm -rf -- "./$entry"
  done)
  rm -f -- "$place/${CACHE_MARKER}"
  if rmdir -- "$place" 2>/dev/null; then
    echo "removed $place"
  else
    (umask 077 && echo "socketpipe's cache: what provisioning sends, kept for later runs" > "$place/${CACHE_MARKER}")
    echo "removed socketpipe's files from $place; kept the directory, which holds files socketpipe did not put there"
  fi
}
case $action in
  list) candidates show ;;
  remove) candidates remove ;;
esac
[ "$found" = 1 ] || echo "no socketpipe cache here"
`;

/**
 * Runs a cache verb on the remote host through `login`: what it prints goes to stdout.
 * Resolves with the exit status, and the fault when the login failed.
 *
 * @example Not run as a test: it logs in to a host.
 * ```ts ignore
 * import { runCacheVerb } from "./remote_cache.ts";
 * const { status } = await runCacheVerb("list", ["ssh", "host"], "");
 * ```
 */
export async function runCacheVerb(
  action: CacheAction,
  login: readonly string[],
  named: string,
): Promise<{ status: number; fault: Fault | null }> {
  const words = ["sh", "-c", BOOTSTRAP_LOADER, "socketpipe-cache", action, named];
  let child: Deno.ChildProcess;
  try {
    const [program, args] = exactInvocation([...login, ...words.map(shellQuote)]);
    child = new Deno.Command(program, {
      args,
      stdin: "piped",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    const fault = FAULTS.loginCouldNotStart.of(formatBlock(login), messageOf(error));
    return { status: fault.status, fault };
  }
  const script = new TextEncoder().encode(CACHE_SCRIPT);
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(`${script.length}\n`)).catch(() => {});
  await writer.write(script).catch(() => {});
  await writer.close().catch(() => {});
  const status: CommandStatus = await statusOfChild(child);
  if (status.status === 0) return { status: 0, fault: null };
  const fault = FAULTS.cacheVerbFailed.of(
    formatBlock(login),
    describeStatus(status),
    login.map(shellQuote).join(" "),
  );
  return { status: fault.status, fault };
}
