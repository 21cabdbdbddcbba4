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
import { BOOTSTRAP_LOADER, CACHE_PLACES } from "./remote_bootstrap.ts";
import { formatBlock, shellQuote } from "../base/shell_quote.ts";
import { exactInvocation } from "../platform/exact_spawn.ts";

/** What a cache verb does on the remote host. */
export type CacheAction = "list" | "remove";

/**
 * The script the login runs for a cache verb: `$1` the action, `$2` the named cache ("" to
 * look in every standard place, or `SOCKETPIPE_CACHE` there). It touches only directories
 * of this user's own, and in them only what socketpipe keeps.
 */
export const CACHE_SCRIPT = `
action=$1 named=\${2:-$SOCKETPIPE_CACHE}
${CACHE_PLACES}
found=0
ours() { [ -d "$1" ] && [ ! -L "$1" ] && [ -O "$1" ]; }
show() {
  ours "$1" || return 0
  found=1
  echo "$1"
  (cd "$1" && for entry in [0-9]*-* deno-[0-9]* deno-dir; do
    [ -e "$entry" ] || continue
    case $entry in
      deno-dir) kind="Deno's module cache" ;;
      deno-*) kind="runtime" ;;
      *) kind="bundle" ;;
    esac
    printf '  %-36s %-20s %s KiB\\n' "$entry" "$kind" "$(du -sk "$entry" | cut -f1)"
  done)
}
remove() {
  ours "$1" || return 0
  found=1
  (cd "$1" && rm -rf ./[0-9]*-* ./deno-[0-9]* ./deno-dir ./.probe-*)
  rmdir "$1" 2>/dev/null
  echo "removed $1"
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
