# Shared by the peer benchmarks (vs-iprange.sh, vs-sort.sh): timing one run and summing up
# interleaved rounds. Sourced after the caller has set $tmp (a scratch directory).

# run_once NAME OUT CMD... : one run of CMD with stdout to OUT and stderr to
# $tmp/NAME.err; appends "wall_s peak_rss_kib" to $tmp/NAME.times.
run_once() {
    local name=$1 out=$2 i w m rc
    shift 2
    rc=0
    /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" >"$out" 2>"$tmp/$name.err" || rc=$?
    if ((rc != 0)); then
        echo "error: $name exited with status $rc: $*" >&2
        tail -n 20 "$tmp/$name.err" >&2
        exit 1
    fi
    read -r w m < <(tail -n 1 "$tmp/time")
    echo "  $name: ${w}s ${m} KiB" >&2
    echo "$w $m" >>"$tmp/$name.times"
}

# summary NAME: sets WALL (best, s) and RSS (highest peak, KiB) over NAME's runs.
summary() {
    WALL=$(sort -n "$tmp/$1.times" | head -n 1 | cut -d' ' -f1)
    RSS=$(sort -n -k2 "$tmp/$1.times" | tail -n 1 | cut -d' ' -f2)
}

ratio() { # a/b with 2 decimals, or n/a when b is 0
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'
}
