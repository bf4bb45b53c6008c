#!/usr/bin/env bash
# usage: before-after-s3.sh ROUNDS INPUT ARGS...
# Runs BASE (default /tmp/names-s3/edl-base), NEW (default /tmp/names-s3/edl-new1) and
# `LC_ALL=C sort -u` on INPUT in interleaved rounds; prints wall and peak RSS of each run, the
# report lines, and whether base and new wrote the same bytes (stdout and stderr).
set -euo pipefail
R=$1; in=$2; shift 2
BASE=${BASE:-/tmp/names-s3/edl-base}; NEW=${NEW:-/tmp/names-s3/edl-new1}
t=$(mktemp -d); trap 'rm -rf -- "$t"' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 1; i <= R; i++)); do
    /usr/bin/time -f 'base %e s %M KiB' -o "$t/t" "$BASE" "$@" "$in" >"$t/base.out" 2>"$t/base.err"; cat "$t/t"
    /usr/bin/time -f 'new  %e s %M KiB' -o "$t/t" "$NEW" "$@" "$in" >"$t/new.out" 2>"$t/new.err"; cat "$t/t"
    /usr/bin/time -f 'sort %e s %M KiB' -o "$t/t" env LC_ALL=C sort -u "$in" >/dev/null; cat "$t/t"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
tail -n 1 "$t/base.err"; tail -n 1 "$t/new.err"
cmp "$t/base.out" "$t/new.out" && cmp "$t/base.err" "$t/new.err" && echo IDENTICAL
