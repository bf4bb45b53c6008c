#!/usr/bin/env bash
# usage: cmp.sh ROUNDS input kind-args... ; compares /tmp/edl-base, $NEW (if set), and sort -u / iprange interleaved
R=$1; in=$2; shift 2
for ((i=1;i<=R;i++)); do
  /usr/bin/time -f 'base %e s %M KiB' -o /tmp/speedb/t1 /tmp/edl-base "$@" "$in" >/tmp/speedb/base.out 2>/tmp/speedb/base.err; cat /tmp/speedb/t1
  if [[ -n ${NEW:-} ]]; then /usr/bin/time -f 'new  %e s %M KiB' -o /tmp/speedb/t2 $NEW "$@" "$in" >/tmp/speedb/new.out 2>/tmp/speedb/new.err; cat /tmp/speedb/t2; fi
  if [[ ${PEER:-sort} == sort ]]; then /usr/bin/time -f 'sort %e s %M KiB' -o /tmp/speedb/t3 env LC_ALL=C sort -u "$in" >/dev/null; else /usr/bin/time -f 'iprange %e s %M KiB' -o /tmp/speedb/t3 iprange "$in" >/dev/null; fi; cat /tmp/speedb/t3
done
tail -1 /tmp/speedb/base.err; [[ -n ${NEW:-} ]] && { tail -1 /tmp/speedb/new.err; cmp /tmp/speedb/base.out /tmp/speedb/new.out && echo IDENTICAL; }
