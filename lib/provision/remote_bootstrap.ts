/**
 * The bootstrap: a small POSIX `sh` script the login runs in place of `socketpipe -s` when
 * the remote half is provisioned (no `-x`). On the remote host it finds a cached copy of
 * this exact socketpipe, or a `socketpipe` on its PATH that speaks this protocol, or else
 * asks the local half, on the login channel, for what it lacks: the one-file bundle, and
 * the Deno runtime when no Deno of the same version is there. It checks what arrives
 * (sha256), installs it by atomic rename in a private cache directory, and runs the remote
 * half on the same login channel. Nothing needs to be installed there but `sh`.
 *
 * The login's command line carries only a one-line loader ({@link BOOTSTRAP_LOADER}), which
 * any login shell passes on intact (csh and fish too, which a multi-line argument or
 * backslashes would trip): the script itself comes first on the login channel, as
 * `<length>\n<script>`. Then a line naming the bundle, `<version>-<hash prefix> <sha256>`:
 * the local half may still be finding or building the bundle while the login starts. The
 * payload format, local half to bootstrap, once for each thing asked for:
 *
 * ```
 * socketpipe-payload <name> <raw|gzip>\n
 * <n>\n <n bytes>          (repeated: chunks of the payload, compressed or not)
 * 0 <sha256 of the file>\n  (the end)
 * ```
 *
 * Every chunk is read with `head -c n`, which reads no byte past the chunk; nothing else
 * arrives before the bootstrap has run the remote half, which then reads the session line.
 *
 * @module
 */
import { PARENT_IS } from "../process/parent_is.ts";

/** What the bootstrap needs to know of the local half, on its command line. */
export interface BootstrapArguments {
  /** The protocol version a `socketpipe` on the remote PATH must speak to be used. */
  protocol: number;
  /** The Deno version that runs the bundle, e.g. "2.9.6". */
  denoVersion: string;
  /** The platform a runtime from the local half runs on, as `uname -sm` says: "Linux x86_64". */
  platform: string;
  /** "auto": use what is there; "always": send the bundle (and runtime) again. */
  mode: "auto" | "always";
  /**
   * `--peer-timeout`: a payload that stops arriving for this many seconds (a cut link,
   * which the session's sshd may not notice for hours) ends the bootstrap; 0: no bound.
   */
  peerTimeout: number;
  /**
   * The size in bytes of the runtime the local half would send: a cached one of another
   * size (truncated) is sent again; 0 when unknown (the size is then not checked).
   */
  runtimeSize: number;
  /**
   * The cache directory to use (`--remote-cache`), or "" to search: `SOCKETPIPE_CACHE` on
   * the remote host, then the user's cache, then private places of the user's own.
   */
  cacheDir: string;
}

/**
 * What the login runs: reads the script's length, then exactly that many bytes of script,
 * and runs it with the arguments. No newline, backslash or single quote in it.
 */
export const BOOTSTRAP_LOADER = 'read -r length && eval "$(head -c "$length")"';

/** How many versions' bundles a remote cache keeps (the newest). */
export const KEEP_BUNDLES = 3;
/** How many Deno runtimes a remote cache keeps (the newest). */
export const KEEP_RUNTIMES = 2;

/**
 * Where a cache may be, in order, as a shell function both remote scripts share:
 * `candidates f` calls `f` with each (the named one, `$named`, alone when set).
 */
export const CACHE_PLACES = `candidates() {
  if [ -n "$named" ]; then "$1" "$named"; return; fi
  uid=$(id -u)
  "$1" "\${XDG_CACHE_HOME:-$HOME/.cache}/socketpipe"
  "$1" "\${TMPDIR:-/tmp}/socketpipe-$uid"
  "$1" "/var/tmp/socketpipe-$uid"
  [ -z "$XDG_RUNTIME_DIR" ] || "$1" "$XDG_RUNTIME_DIR/socketpipe"
}`;

/**
 * The script, sent on the login channel. `$1`…`$7` are the {@link BootstrapArguments} in
 * order; the rest are the remote half's arguments (`-s … -- command`). Its first line of
 * input names the bundle. It writes only marked lines on stdout: one `need` message, or
 * one `error` message before it exits 2.
 */
export const BOOTSTRAP_SCRIPT = `
protocol=$1 deno_version=$2 platform=$3 mode=$4 peer_timeout=$5 runtime_size=$6 cache_dir=$7
shift 7
say() { echo "#socketpipe:{$1}"; }
text() { printf %s "$1" | tr '\\n\\t' '  ' | tr -d '\\000-\\037\\177"\\\\' | tr -s ' ' | head -c 2000; }
fail() {
  say "\\"event\\":\\"error\\",\\"step\\":\\"provision\\",\\"message\\":\\"$(text "$1")\\""
  exit 2
}
sum256() { if command -v sha256sum >/dev/null 2>&1; then sha256sum; else shasum -a 256; fi; }
private_dir() {
  [ ! -L "$1" ] || return 1
  [ -d "$1" ] || (umask 077 && mkdir -p "$1") 2>/dev/null || return 1
  [ -O "$1" ] && [ -w "$1" ] && chmod 700 "$1" 2>/dev/null
}
IFS=' ' read -r entry hash || fail "the local half sent no bundle name"
deno_of_version() { "$1" --version 2>/dev/null | head -n 1 | grep -q "^deno $deno_version "; }
system_deno=
command -v deno >/dev/null 2>&1 && deno_of_version "$(command -v deno)" && system_deno=$(command -v deno)
# A cache is a private directory this user can write and, unless this host has a Deno of
# this version, run a program from: a noexec mount (a hardened home) is found by a real
# exec, before anything is sent.
usable() {
  private_dir "$1" || { why="not a private directory this user can write"; return 1; }
  [ -n "$system_deno" ] && return 0
  probe=$1/.probe-$$
  { printf '#!/bin/sh\\nexit 0\\n' > "$probe" && chmod 700 "$probe" && "$probe"; } 2>/dev/null
  ran=$?
  rm -f "$probe"
  [ "$ran" = 0 ] || { why="no program can run from it (mounted noexec?)"; return 1; }
}
top= tried=
pick() {
  [ -z "$top" ] && [ -n "$1" ] || return 0
  if usable "$1"; then top=$1; else tried="$tried; $1: $why"; fi
}
named=\${cache_dir:-$SOCKETPIPE_CACHE}
${CACHE_PLACES}
candidates pick
tried=\${tried#; }
[ -n "$top" ] ||
  fail "no cache directory here can hold and run socketpipe ($tried): name one with --remote-cache DIR, or SOCKETPIPE_CACHE=DIR on the remote host, or use -x"
bundle=$top/$entry/socketpipe.js
runtime_dir=$top/deno-$deno_version
runtime=$runtime_dir/deno
bundle_ok() { [ -f "$bundle" ] && sum=$(sum256 < "$bundle") && [ "\${sum%% *}" = "$hash" ]; }
# The cached runtime, whole: of the size sent (nothing is run to tell, lest it hang).
runtime_ok() {
  [ -x "$runtime" ] && { [ "$runtime_size" = 0 ] || [ "$(wc -c < "$runtime" | tr -d ' ')" = "$runtime_size" ]; }
}
need_bundle=true need_runtime=true deno=$runtime using="a new bundle"
if [ "$mode" != always ] && bundle_ok; then need_bundle=false using="the cached bundle"; fi
if [ "$mode" != always ] && runtime_ok; then
  need_runtime=false
elif [ -n "$system_deno" ]; then
  need_runtime=false deno=$system_deno
fi
if [ "$mode" != always ] && { $need_bundle || $need_runtime; } &&
  command -v socketpipe >/dev/null 2>&1 &&
  socketpipe --version 2>/dev/null | grep -qx "protocol $protocol"; then
  say "\\"event\\":\\"need\\",\\"bundle\\":false,\\"runtime\\":false,\\"gzip\\":false,\\"using\\":\\"$(text "$(command -v socketpipe)") on the PATH\\""
  exec socketpipe "$@"
fi
if $need_runtime; then
  machine=$(uname -sm)
  case $machine in *" arm64") machine="\${machine% arm64} aarch64" ;; esac
  [ "$machine" = "$platform" ] ||
    fail "the remote host is $machine and has no Deno $deno_version; this socketpipe can send one only to $platform: install Deno $deno_version or socketpipe there, or use -x"
fi
gzip=false
command -v gzip >/dev/null 2>&1 && gzip=true
if $need_runtime; then using="$using, a new Deno $deno_version"; else using="$using, Deno at $deno"; fi
say "\\"event\\":\\"need\\",\\"bundle\\":$need_bundle,\\"runtime\\":$need_runtime,\\"gzip\\":$gzip,\\"using\\":\\"$(text "$using, cache $top")\\",\\"cache\\":\\"$(text "$top")\\""
# Until the remote half has its own watchdog, a guard ends this process, and all it
# started, with the login (its parent gone) or once a payload has stopped arriving for
# the peer timeout: a cut link (which sshd may not notice for hours), a runtime that
# hangs at start, a half stopped before it runs must not outlive the session.
half=$$ parent=$PPID
${PARENT_IS}
(
  trap 'kill "$nap" 2>/dev/null; wait "$nap"; exit 0' TERM
  read -r me rest < /proc/self/stat
  end_half() {
    family=" $half " grew=1
    while [ -n "$grew" ]; do
      grew=
      for stat in /proc/[0-9]*/stat; do
        read -r line < "$stat" 2>/dev/null || continue
        pid=\${line%% *} rest=\${line##*) }
        set -- $rest
        case $family in *" $pid "*) continue ;; esac
        case $family in *" $2 "*) family="$family$pid " grew=1 ;; esac
      done
    done
    for signal in STOP KILL; do
      for pid in $family; do [ "$pid" = "$me" ] || kill -$signal "$pid" 2>/dev/null; done
    done
  }
  size=-1 still=0
  while :; do
    sleep 1 &
    nap=$!
    wait "$nap"
    parent_is "$half" "$parent"
    case $? in
      1) end_half; exit 0 ;;
      2) exit 0 ;;
    esac
    for child in $(cat /proc/"$half"/task/*/children 2>/dev/null); do
      grep -aq socketpipe-watchdog /proc/"$child"/cmdline 2>/dev/null && exit 0
    done
    now=-1
    for file in "$bundle.$half.part" "$runtime.$half.part"; do
      [ -f "$file" ] && now=$(wc -c < "$file")
    done
    if [ "$now" -ge 0 ] && [ "$now" = "$size" ]; then still=$((still + 1)); else still=0; fi
    size=$now
    [ "$peer_timeout" -gt 0 ] 2>/dev/null && [ "$still" -ge "$peer_timeout" ] && { end_half; exit 0; }
  done
) </dev/null >/dev/null 2>&1 &
part=
trap 'rm -f "$part" "$part.sum"; exit 2' HUP INT TERM
receive() {
  IFS=' ' read -r tag name encoding || fail "the $1 never came: the local half stopped"
  [ "$tag $name" = "socketpipe-payload $1" ] || fail "expected the $1, got: $tag $name"
  private_dir "$(dirname "$2")" || fail "cannot create $(dirname "$2")"
  part=$2.$$.part
  decode=cat
  [ "$encoding" = gzip ] && decode="gzip -dc"
  problem=$({
    while IFS=' ' read -r size sum; do
      [ "$size" = 0 ] && { echo "$sum" > "$part.sum"; break; }
      head -c "$size" || exit 1 # the decoder stopped (a full disk): read no further
    done | $decode > "$part"
  } 2>&1) || {
    rm -f "$part" "$part.sum"
    fail "cannot store the $1 in $(dirname "$2"): $(printf '%s\\n' "$problem" | head -n 2)"
  }
  [ -f "$part.sum" ] || { rm -f "$part"; fail "the $1 was cut off: the local half stopped sending"; }
  [ "$(sum256 < "$part" | cut -c1-64)" = "$(cat "$part.sum")" ] || {
    rm -f "$part" "$part.sum"
    fail "the $1 arrived damaged (its sha256 differs): try again"
  }
  rm -f "$part.sum"
  chmod 700 "$part" && mv -f "$part" "$2" || fail "cannot install the $1 in $(dirname "$2")"
}
$need_bundle && receive bundle "$bundle"
$need_runtime && receive runtime "$runtime"
# A bounded cache: the newest ${KEEP_BUNDLES} versions' bundles and ${KEEP_RUNTIMES} runtimes stay.
prune() {
  (cd "$top" 2>/dev/null && ls -dt $1 2>/dev/null | tail -n +$(($2 + 1)) |
    while IFS= read -r old; do rm -rf "./$old"; done)
}
$need_bundle && prune '[0-9]*-*/' ${KEEP_BUNDLES}
$need_runtime && prune 'deno-[0-9]*/' ${KEEP_RUNTIMES}
$need_bundle && ! bundle_ok && fail "the bundle in $top/$entry is not the one sent: try again"
DENO_DIR=$top/deno-dir DENO_NO_UPDATE_CHECK=1 exec "$deno" run -A --quiet --no-config \\
  --no-lock --cached-only "$bundle" "$@"
`;

/**
 * The words the login runs on the remote host instead of `socketpipe`: `sh -c <loader>`
 * and the script's arguments; the remote half's own arguments follow.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bootstrapWords } from "./remote_bootstrap.ts";
 * const words = bootstrapWords({
 *   protocol: 4, denoVersion: "2.9.6", platform: "Linux x86_64", mode: "auto", peerTimeout: 20,
 *   runtimeSize: 0, cacheDir: "",
 * });
 * assert.deepEqual(words.slice(0, 2), ["sh", "-c"]);
 * ```
 */
export function bootstrapWords(bootstrap: BootstrapArguments): string[] {
  return [
    "sh",
    "-c",
    BOOTSTRAP_LOADER,
    "socketpipe-bootstrap",
    String(bootstrap.protocol),
    bootstrap.denoVersion,
    bootstrap.platform,
    bootstrap.mode,
    String(bootstrap.peerTimeout),
    String(bootstrap.runtimeSize),
    bootstrap.cacheDir,
  ];
}

/**
 * The script as the loader reads it: its length in bytes, a newline, the script.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BOOTSTRAP_SCRIPT, scriptForLoader } from "./remote_bootstrap.ts";
 * const [length] = new TextDecoder().decode(scriptForLoader()).split("\n");
 * assert.equal(Number(length), new TextEncoder().encode(BOOTSTRAP_SCRIPT).length);
 * ```
 */
export function scriptForLoader(): Uint8Array {
  const script = new TextEncoder().encode(BOOTSTRAP_SCRIPT);
  const length = new TextEncoder().encode(`${script.length}\n`);
  const framed = new Uint8Array(length.length + script.length);
  framed.set(length);
  framed.set(script, length.length);
  return framed;
}
