#!/bin/sh
# A real transfer through a local login: 64 MB of random bytes go from an input command
# through a remote gzip and back into an output command that unpacks them, over one
# authenticated TCP connection. The login is `sh -c 'eval "$*"' sh` (the "remote host" is
# this one; it runs its words as one shell command line, as ssh does); over a network it
# would be `ssh host`. The line printed first is exactly the command line that runs.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
head -c 67108864 /dev/urandom > original

# Prints its words as one shell command line that gives them back.
quoted() {
  for word in "$@"; do
    case $word in
      *[!A-Za-z0-9_./:=@%+{}-]* | '') printf " '%s'" "$(printf '%s' "$word" | sed "s/'/'\\\\''/g")" ;;
      *) printf ' %s' "$word" ;;
    esac
  done
}

set -- -v -h 127.0.0.1 \
  -i { cat original } \
  -l { sh -c 'eval "$*"' sh } \
  -x { deno run -A --quiet "$repo/main.ts" } \
  -r { gzip -1 } \
  -o { sh -c 'gunzip > copy' }
echo "socketpipe$(quoted "$@")"
status=0
deno run -A --quiet "$repo/main.ts" "$@" || status=$?
echo "exit status: $status"
[ "$status" = 0 ] || exit "$status"
sha256sum original copy
cmp original copy && echo "the copy is byte-for-byte identical"
