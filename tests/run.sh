#!/bin/sh
# The whole test suite, as `npm test` (the README's test command) runs it: installs what
# the suite needs that the machine may lack (sshd for the end-to-end tests, nft for the
# network tests' firewalls, tmux for the
# terminal's, the login shells a remote host may run for the quoting tests, qemu and
# Debian's kernel for the guest with kernel TLS), runs every
# test, and ends with one line "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 2

missing=
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
command -v tmux >/dev/null 2>&1 || missing="$missing tmux"
for shell in zsh fish tcsh mksh ksh; do
  command -v "$shell" >/dev/null 2>&1 || missing="$missing $shell"
done
# nft: the firewalls of the network tests (a withheld FIN).
command -v nft >/dev/null 2>&1 || missing="$missing nftables"
# busybox: the static one, a login shell for the quoting tests and the guest's init.
dpkg -s busybox-static >/dev/null 2>&1 || missing="$missing busybox-static"
# The guest with kernel TLS (tests/guest): Debian's kernel and qemu.
[ -x /usr/bin/qemu-system-x86_64 ] || missing="$missing qemu-system-x86"
ls /boot/vmlinuz-*-amd64 >/dev/null 2>&1 || missing="$missing linux-image-amd64"
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "tests/run.sh: installing$missing for the end-to-end, terminal and shell tests" >&2
  # shellcheck disable=SC2086 # one word per package
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) \
    >/dev/null 2>&1 || echo "tests/run.sh: could not install$missing; their tests will not run" >&2
fi

# As the install does (npm's prepare script): the bundle provisioning sends, built for these
# sources, so that no run of the suite needs the network for it.
deno run -A --quiet tools/prepare_bundle.ts

log=$(mktemp)
trap 'rm -f "$log" "$log.status"' EXIT
{ deno test -A --doc lib/ mod.ts tests/ 2>&1; echo $? > "$log.status"; } | tee "$log"
status=$(cat "$log.status")
# Deno's summary: "ok | 60 passed (2 steps) | 0 failed | 1 ignored (14s)".
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n 1)
passed=$(printf '%s\n' "$summary" | sed -n 's/.*| \([0-9][0-9]*\) passed.*/\1/p')
failed=$(printf '%s\n' "$summary" | sed -n 's/.*| \([0-9][0-9]*\) failed.*/\1/p')
ignored=$(printf '%s\n' "$summary" | sed -n 's/.*| \([0-9][0-9]*\) ignored.*/\1/p')
if [ -z "$passed" ]; then
  echo "tests/run.sh: deno test printed no summary (exit $status)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
# The fault tests print "faults survived: N/M" per file; say it once for the suite.
faults=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | sed -n 's/^faults survived: \([0-9]*\)\/\([0-9]*\)$/\1 \2/p' |
  awk '{ survived += $1; total += $2 } END { if (total) printf "faults survived: %d/%d", survived, total }')
[ -n "$faults" ] && echo "$faults"
# The pipe-exact table prints "pipe-exact: N/M shapes": say it again here, at the end.
sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^pipe-exact: [0-9]+/[0-9]+ shapes$' | tail -n 1
line="${passed} passed, ${failed:-0} failed"
[ -n "$ignored" ] && line="${line}, ${ignored} skipped"
echo "$line"
[ "${failed:-0}" = 0 ] && [ "$status" = 0 ]
