#!/bin/sh
# A real transfer through a local login: 64 MB of random bytes go from an input command
# through a remote gzip and back into an output command that unpacks them, over one
# authenticated TCP connection. The login is `env` (the "remote host" is this one);
# over a network it would be `ssh host`.
set -eu
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c 67108864 /dev/urandom > "$work/original"

echo "socketpipe -v -i { cat original } -l { env } -r { gzip -1 } -o { gunzip > copy }"
status=0
deno run -A --quiet main.ts -v -h 127.0.0.1 \
  -i { cat "$work/original" } \
  -l { env } \
  -x { deno run -A --quiet main.ts } \
  -r { gzip -1 } \
  -o { sh -c "gunzip > $work/copy" } || status=$?
echo "exit status: $status"
[ "$status" = 0 ] || exit "$status"
sha256sum "$work/original" "$work/copy" | sed "s|$work/||"
cmp "$work/original" "$work/copy" && echo "the copy is byte-for-byte identical"
