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
 * Nothing may be read past what is asked for: the next bytes on the login channel are the
 * protocol's. The loader reads the script with `dd bs=1` (POSIX, and a few milliseconds
 * for it); each chunk is read with `head -c n` where that reads no byte past the chunk
 * (GNU's), else with `dd iflag=fullblock` (busybox's `head` reads ahead through its
 * buffer, and would eat the payload's end), else with `dd bs=1`. Nothing else arrives
 * before the bootstrap has run the remote half, which then reads the session line.
 *
 * Long on purpose: the script is one text, to be read as the remote host's `sh` runs it.
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
export const BOOTSTRAP_LOADER = 'read -r length && eval "$(dd bs=1 count="$length" 2>/dev/null)"';

/** How many versions' bundles a remote cache keeps (the newest). */
export const KEEP_BUNDLES = 3;
/** How many Deno runtimes a remote cache keeps (the newest). */
export const KEEP_RUNTIMES = 2;

/**
 * Where a cache may be, in order, as a shell function both remote scripts share:
 * `candidates f` calls `f` with each (in a named directory, `$named`, socketpipe's own
 * directory in it, alone).
 */
export const CACHE_PLACES = `candidates() {
  uid=$(id -u)
  if [ -n "$named" ]; then "$1" "\${named%/}/socketpipe-$uid"; return; fi
  "$1" "\${XDG_CACHE_HOME:-$HOME/.cache}/socketpipe"
  "$1" "\${TMPDIR:-/tmp}/socketpipe-$uid"
  "$1" "/var/tmp/socketpipe-$uid"
  [ -z "$XDG_RUNTIME_DIR" ] || "$1" "$XDG_RUNTIME_DIR/socketpipe"
}`;

/** The file that marks a directory as a socketpipe cache: nothing unmarked is listed or removed. */
export const CACHE_MARKER = ".socketpipe-cache";

/**
 * What socketpipe trusts on the remote host, as shell functions both remote scripts share
 * (they set `$why` when they refuse). A cache and everything socketpipe runs or reads in
 * it must be this user's (root's for root), writable by no one else, with no access
 * control list, and reached through no symbolic link (each script's own variables are
 * `perm`, `owner`, `facts`, `above`, `want`, `up`, `place` and `item`); every directory above it must be
 * this user's or root's and writable by no one else, unless sticky (as `/tmp` is), so
 * that nobody else can rename it away and put another in its place. A cache holds
 * {@link CACHE_MARKER}; one without it is socketpipe's only while it holds nothing but
 * what socketpipe keeps (an older socketpipe's cache, or the local half's own `bundles/`
 * on the same host), and is then marked.
 */
export const CACHE_TRUST = `inspect() {
  facts=$(LC_ALL=C ls -ldn -- "$1" 2>/dev/null) || return 1
  perm=\${facts%% *}
  set -f
  set -- $facts
  set +f
  owner=$3
}
guarded() {
  inspect "$1" || { why="$1 cannot be looked at"; return 1; }
  case $perm in l*) why="$1 is a symbolic link"; return 1 ;; esac
  case $2$perm in dd*|--*) ;; *) why="$1 is not a \$([ "$2" = d ] && echo directory || echo file)"; return 1 ;; esac
  [ "$owner" = "$uid" ] || { why="$1 belongs to uid $owner, not to uid $uid"; return 1; }
  case $perm in ?????w*|????????w*) why="$1 can be written by others (mode $perm)"; return 1 ;; esac
  case $perm in ??????????+*) why="$1 has an access control list"; return 1 ;; esac
}
walled() {
  above=$1
  while [ "$above" != / ]; do
    above=\${above%/*}
    [ -n "$above" ] || above=/
    inspect "$above" || { why="$above cannot be looked at"; return 1; }
    case $owner in "$uid"|0) ;; *) why="$above, above it, belongs to uid $owner"; return 1 ;; esac
    case $perm in
      ?????????[tT]*) ;;
      ?????w*|????????w*) why="$above, above it, can be written by others (mode $perm)"; return 1 ;;
    esac
  done
}
physical() {
  want=$1
  while :; do case $want in ?*/) want=\${want%/} ;; *) break ;; esac; done
  case $want in /*) ;; *) want=$PWD/$want ;; esac
  up=\${want%/*}
  up=$(cd -P -- "\${up:-/}" 2>/dev/null && pwd -P) || {
    if [ -e "\${want%/*}" ]; then why="\${want%/*} is not a directory"; else why="\${want%/*} does not exist"; fi
    return 1
  }
  place=\${up%/}/\${want##*/}
}
ours() {
  case $1 in
    [0-9]*.[0-9]*.[0-9]*-[0-9a-f]*|deno-[0-9]*.[0-9]*.[0-9]*|deno-dir|bundles|.probe-*|${CACHE_MARKER}) return 0 ;;
  esac
  return 1
}
marked() {
  [ ! -e "$1/${CACHE_MARKER}" ] || { guarded "$1/${CACHE_MARKER}" -; return; }
  for item in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    [ -e "$item" ] || [ -L "$item" ] || continue
    ours "\${item##*/}" || { why="$1 holds \${item##*/}, which socketpipe did not put there"; return 1; }
  done
  (umask 077 && echo "socketpipe's cache: what provisioning sends, kept for later runs" > "$1/${CACHE_MARKER}")
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
# Whether process $1 still runs: one that has ended but is not yet reaped (a zombie, whose
# parent is gone to a reaper that does not wait for it) answers kill -0, and must not hold
# a claim, a partial file or a ticker for ever.
lives() {
  kill -0 "$1" 2>/dev/null || return 1
  read -r stat < /proc/"$1"/stat 2>/dev/null || return 0 # no /proc: kill -0 must do
  state=\${stat##*) }
  case $state in Z*) return 1 ;; esac
}
text() { printf %s "$1" | tr '\\n\\t' '  ' | tr -d '\\000-\\037\\177"\\\\' | tr -s ' ' | head -c 2000; }
fail() {
  say "\\"event\\":\\"error\\",\\"step\\":\\"provision\\",\\"message\\":\\"$(text "$1")\\""
  let_go
  exit 2
}
ticker= claim=
# What this bootstrap holds while it works: the ticker that says it lives, the claim on a
# payload other runs wait for. Let go before it fails, is stopped, or becomes the remote half.
let_go() {
  [ -z "$ticker" ] || { kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null; ticker=; }
  [ -z "$claim" ] || { [ "$(cat "$claim" 2>/dev/null)" != "$(uname -n) $$" ] || rm -f -- "$claim"; claim=; }
}
# Reads exactly $1 bytes of stdin, and no byte past them (see the module's comment).
if [ "$(printf 0123456789 | { head -c 3 >/dev/null; cat; })" = 3456789 ]; then
  chunk() { head -c "$1"; }
elif [ "$(printf 0123456789 | { dd bs=3 count=1 iflag=fullblock >/dev/null 2>&1; cat; })" = 3456789 ]; then
  chunk() { dd bs="$1" count=1 iflag=fullblock 2>/dev/null; }
else
  chunk() { dd bs=1 count="$1" 2>/dev/null; }
fi
sum256() { if command -v sha256sum >/dev/null 2>&1; then sha256sum; else shasum -a 256; fi; }
${CACHE_TRUST}
IFS=' ' read -r entry hash || fail "the local half sent no bundle name"
deno_of_version() { "$1" --version 2>/dev/null | head -n 1 | grep -q "^deno $deno_version "; }
system_deno=
command -v deno >/dev/null 2>&1 && deno_of_version "$(command -v deno)" && system_deno=$(command -v deno)
# A cache is a directory of this user's own that nobody else can change (CACHE_TRUST),
# made here if missing (with the directories above it), and, unless this host has a Deno of this version, one a program
# can run from: a noexec mount (a hardened home) is found by a real exec, before anything
# is sent. A directory made here for a place that will not do is removed again.
usable() {
  want=$1
  while :; do case $want in ?*/) want=\${want%/} ;; *) break ;; esac; done
  case $want in ?*/*) (umask 077 && mkdir -p -- "\${want%/*}") 2>/dev/null ;; esac
  physical "$want" || return 1
  made=
  if [ ! -e "$place" ] && [ ! -L "$place" ]; then
    # Another run at the same time may make it first: then it is judged as found.
    if (umask 077 && mkdir -p -- "\${place%/*}" && mkdir -- "$place") 2>/dev/null; then
      made=$place
    elif [ ! -e "$place" ] && [ ! -L "$place" ]; then
      why="cannot be made"
      return 1
    fi
  fi
  guarded "$place" d && walled "$place" && marked "$place" || { unmake; return 1; }
  [ -n "$system_deno" ] && return 0
  probe=$place/.probe-$$
  { printf '#!/bin/sh\\nexit 0\\n' > "$probe" && chmod 700 "$probe" && "$probe"; } 2>/dev/null
  ran=$?
  rm -f "$probe"
  [ "$ran" = 0 ] || { why="no program can run from it (mounted noexec?)"; unmake; return 1; }
}
unmake() { [ -z "$made" ] || { rm -f -- "$made/${CACHE_MARKER}"; rmdir -- "$made"; } 2>/dev/null; }
top= tried=
pick() {
  [ -z "$top" ] && [ -n "$1" ] || return 0
  if usable "$1"; then top=$place; else tried="$tried; $1: $why"; fi
}
named=\${cache_dir:-$SOCKETPIPE_CACHE}
${CACHE_PLACES}
candidates pick
tried=\${tried#; }
[ -n "$top" ] ||
  fail "no cache directory here can hold and run socketpipe ($tried): name one only you can write with --remote-cache DIR, or SOCKETPIPE_CACHE=DIR on the remote host, or use -x"
# From here on the bootstrap may wait for another run's send, or receive a payload that a
# slow link delivers long after the local half handed it to the login, then unpack and
# check it: meanwhile it says it lives, lest the local half take the wait for a cut link.
# Not once it is the remote half, which speaks for itself (a runtime that hangs at its start
# is silence).
if [ "$peer_timeout" -gt 0 ] 2>/dev/null; then
  tick=$(((peer_timeout + 3) / 4)) half=$$
  (
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    while :; do
      sleep "$tick" </dev/null >/dev/null 2>&1 &
      nap=$!
      wait "$nap"
      lives "$half" || exit 0
      say '"event":"alive"'
    done
  ) </dev/null 2>/dev/null &
  ticker=$!
fi
bundle=$top/$entry/socketpipe.js
runtime_dir=$top/deno-$deno_version
runtime=$runtime_dir/deno
# What is cached is used only as this user left it, and only whole: the bundle by its
# sha256 at every use; the runtime, which is large, by its size, and by its sha256 (kept
# beside it when it was installed) whenever it has changed since.
bundle_ok() {
  [ -e "$top/$entry" ] || [ -L "$top/$entry" ] || return 1
  guarded "$top/$entry" d || { damaged="$why"; return 1; }
  # Not there yet (another run is sending it) or never installed (a run cut short): missing, not damaged.
  [ -e "$bundle" ] || [ -L "$bundle" ] || return 1
  guarded "$bundle" - || { damaged="$why"; return 1; }
  sum=$(sum256 < "$bundle") && [ "\${sum%% *}" = "$hash" ] || { damaged="$bundle is not the bundle it was (its sha256 differs)"; return 1; }
}
runtime_ok() {
  [ -e "$runtime_dir" ] || [ -L "$runtime_dir" ] || return 1
  guarded "$runtime_dir" d || { damaged="$why"; return 1; }
  [ -e "$runtime" ] || [ -L "$runtime" ] || return 1
  guarded "$runtime" - || { damaged="$why"; return 1; }
  [ -e "$runtime.sha256" ] || { damaged="$runtime has no sha256 beside it (an older socketpipe's)"; return 1; }
  guarded "$runtime.sha256" - || { damaged="$why"; return 1; }
  [ -x "$runtime" ] || { damaged="$runtime cannot be run"; return 1; }
  [ "$runtime_size" = 0 ] || [ "$(wc -c < "$runtime" | tr -d ' ')" = "$runtime_size" ] || { damaged="$runtime has another size than the runtime sent"; return 1; }
  [ -n "$(find "$runtime" -newer "$runtime.sha256" 2>/dev/null)" ] || return 0
  sum=$(sum256 < "$runtime") && [ "\${sum%% *}" = "$(cat "$runtime.sha256")" ] || { damaged="$runtime changed since it was installed (its sha256 differs)"; return 1; }
  touch "$runtime.sha256"
}
need_bundle=true need_runtime=true deno=$runtime using="a new bundle" replaced= runtime_replaced=
damaged=
if [ "$mode" != always ] && bundle_ok; then need_bundle=false using="the cached bundle"; fi
[ -z "$damaged" ] || replaced="$damaged: sending the bundle again"
damaged=
if [ "$mode" != always ] && runtime_ok; then
  need_runtime=false
elif [ -n "$system_deno" ]; then
  need_runtime=false deno=$system_deno
fi
[ -z "$damaged" ] || [ -n "$system_deno" ] || runtime_replaced="$damaged: sending the Deno runtime again"
if [ "$mode" != always ] && { $need_bundle || $need_runtime; } &&
  command -v socketpipe >/dev/null 2>&1 &&
  socketpipe --version 2>/dev/null | grep -qx "protocol $protocol"; then
  say "\\"event\\":\\"need\\",\\"bundle\\":false,\\"runtime\\":false,\\"gzip\\":false,\\"using\\":\\"$(text "$(command -v socketpipe)") on the PATH\\""
  let_go
  exec socketpipe "$@"
fi
if $need_runtime; then
  machine=$(uname -sm)
  case $machine in *" arm64") machine="\${machine% arm64} aarch64" ;; esac
  [ "$machine" = "$platform" ] ||
    fail "the remote host is $machine and has no Deno $deno_version; this socketpipe can send one only to $platform: install Deno $deno_version or socketpipe there, or use -x"
fi
# Runs at once share one send of the runtime: the first to claim it has it sent; the others
# wait while that run lives and its payload keeps arriving, then use what it installed (or
# claim it in turn, if it failed). A claim is "<host> <pid>", made whole by a hard link.
claims() {
  (umask 077 && echo "$(uname -n) $$" > "$1.$$") 2>/dev/null || return 0 # none can be made: send alone
  if ln -- "$1.$$" "$1" 2>/dev/null; then rm -f -- "$1.$$"; claim=$1; return 0; fi
  rm -f -- "$1.$$"
  return 1
}
await_claim() {
  size=-1 still=0
  while [ -e "$1" ]; do
    IFS=' ' read -r host pid < "$1" 2>/dev/null || return 0
    # Its holder is gone (killed), or its payload stopped arriving: the claim is void.
    if [ "$host" = "$(uname -n)" ] && ! lives "$pid"; then rm -f -- "$1"; return 0; fi
    now=-1
    [ -f "$2.$pid.part" ] && now=$(wc -c < "$2.$pid.part")
    if [ "$now" = "$size" ]; then still=$((still + 1)); else still=0; fi
    size=$now
    [ "$peer_timeout" -gt 0 ] && [ "$still" -gt $((peer_timeout * 2 + 10)) ] && { rm -f -- "$1"; return 0; }
    sleep 1
  done
}
shared=
while $need_runtime && ! claims "$runtime_dir.claim"; do
  await_claim "$runtime_dir.claim" "$runtime"
  damaged=
  runtime_ok && need_runtime=false shared=", sent by another run at the same time"
done
gzip=false
command -v gzip >/dev/null 2>&1 && gzip=true
# A runtime another run installed meanwhile was only on its way, not damaged.
if $need_runtime; then
  using="$using, a new Deno $deno_version" replaced="\${replaced:+$replaced\${runtime_replaced:+; }}$runtime_replaced"
else
  using="$using, Deno at $deno$shared"
fi
say "\\"event\\":\\"need\\",\\"bundle\\":$need_bundle,\\"runtime\\":$need_runtime,\\"gzip\\":$gzip,\\"using\\":\\"$(text "$using, cache $top\${tried:+ (passed over: $tried)}")\\",\\"cache\\":\\"$(text "$top")\\",\\"replaced\\":\\"$(text "$replaced")\\""
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
    # The half's own watchdog, once there, guards it instead, and knows better: a half
    # that waits for its login to be joined again (--reconnect) outlives its parent.
    for child in $(cat /proc/"$half"/task/*/children 2>/dev/null); do
      grep -aq socketpipe-watchdog /proc/"$child"/cmdline 2>/dev/null && exit 0
    done
    parent_is "$half" "$parent"
    case $? in
      1) end_half; exit 0 ;;
      2) exit 0 ;;
    esac
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
trap 'rm -f "$part" "$part.sum"; let_go; exit 2' HUP INT TERM
receive() {
  IFS=' ' read -r tag name encoding || fail "the $1 never came: the local half stopped"
  [ "$tag $name" = "socketpipe-payload $1" ] || fail "expected the $1, got: $tag $name"
  # What failed its check is replaced whole: its directory goes first unless it is as
  # socketpipe left it. A directory made here for a payload that does not arrive goes too.
  if [ -e "$2" ] || [ -L "$2" ]; then guarded "$2" d || rm -rf -- "$2"; fi
  [ -d "$2" ] || (umask 077 && mkdir -- "$2") 2>/dev/null || fail "cannot create $2"
  # What a run killed before it could clean up left (its process is gone) goes now.
  for old in "$3".*.part "$3".*.part.sum; do
    [ -f "$old" ] || continue
    pid=\${old#"$3".} && pid=\${pid%%.*}
    lives "$pid" || rm -f -- "$old"
  done
  part=$3.$$.part
  # Both files exist before the first byte: a directory that stops being writable midway
  # fails the install, by its real cause, not the end of the payload.
  (umask 077 && : > "$part" && : > "$part.sum") 2>/dev/null || fail "cannot create a file in $2"
  decode=cat
  [ "$encoding" = gzip ] && decode="gzip -dc"
  problem=$({
    while IFS=' ' read -r size sum; do
      [ "$size" = 0 ] && { echo "$sum" >> "$part.sum"; break; }
      chunk "$size" || exit 1 # the decoder stopped (a full disk): read no further
    done | $decode > "$part"
  } 2>&1) || {
    rm -f "$part" "$part.sum"
    rmdir -- "$2" 2>/dev/null
    fail "cannot store the $1 in $2: $(printf '%s\\n' "$problem" | head -n 2)"
  }
  [ -s "$part.sum" ] || { rm -f "$part" "$part.sum"; rmdir -- "$2" 2>/dev/null; fail "the $1 was cut off: the local half stopped sending"; }
  sum=$(cat "$part.sum")
  rm -f "$part.sum"
  [ "$(sum256 < "$part" | cut -c1-64)" = "$sum" ] || {
    rm -f "$part"
    rmdir -- "$2" 2>/dev/null
    fail "the $1 arrived damaged (its sha256 differs): try again"
  }
  # The runtime's sha256 goes beside it first, newer than it: checked again only once the
  # runtime has changed since, and never missing beside a runtime another run finds.
  problem=$({ [ "$1" != runtime ] || { (umask 077 && echo "$sum" > "$3.sha256.$$") && mv -f "$3.sha256.$$" "$3.sha256"; }; } 2>&1 &&
    chmod 700 "$part" 2>&1 && mv -f "$part" "$3" 2>&1) || {
    rm -f "$3.sha256.$$" 2>/dev/null
    rm -f "$part" "$part.sum" 2>/dev/null || {
      left="$part is left there: remove it"
      [ -e "$part.sum" ] && left="$part and $part.sum are left there: remove them"
      problem="$problem; $left"
    }
    fail "cannot install the $1 in $2: $problem"
  }
}
$need_bundle && receive bundle "$top/$entry" "$bundle"
$need_runtime && receive runtime "$runtime_dir" "$runtime"
# A bounded cache: the newest ${KEEP_BUNDLES} versions' bundles and ${KEEP_RUNTIMES} runtimes stay. Only
# socketpipe's own directories go, never anything reached through a symbolic link.
prune() {
  (cd "$top" 2>/dev/null || exit 0
    kept=0
    ls -dt -- $1 2>/dev/null | while IFS= read -r old; do
      [ -d "$old" ] && [ ! -L "$old" ] && ours "$old" || continue
      kept=$((kept + 1))
      [ "$kept" -le "$2" ] || rm -rf -- "./$old"
    done)
}
$need_bundle && prune '[0-9]*.[0-9]*.[0-9]*-[0-9a-f]*' ${KEEP_BUNDLES}
$need_runtime && prune 'deno-[0-9]*.[0-9]*.[0-9]*' ${KEEP_RUNTIMES}
# Deno's own cache: as this user left it, or made anew.
if [ -e "$top/deno-dir" ] || [ -L "$top/deno-dir" ]; then guarded "$top/deno-dir" d || rm -rf -- "$top/deno-dir"; fi
$need_bundle && ! bundle_ok && fail "the bundle in $top/$entry is not the one sent: try again"
let_go
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
