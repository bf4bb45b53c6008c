#!/usr/bin/env bash
# Benchmark: `edlforge convert --vendor plain --type ip` against Debian's
# `iprange` (FireHOL) on 3M- and 10M-line mixed IPv4 feeds.
#
# Usage: benches/vs-iprange.sh
#   LINES="N ..."    input sizes in lines, one run each (default "3000000
#                    10000000"; e.g. LINES=100000 for a quick run)
#   RUNS=N           interleaved rounds per size (default 5)
#   MAX_ENTRIES=N    pass --max-entries N to edlforge (default: none)
#   EDLFORGE_BIN=P   use this binary instead of `cargo build --release` +
#                    target/release/edlforge
#
# Needs: python3, cargo, iprange, GNU time (/usr/bin/time). Missing iprange /
# time are installed with apt-get when run as root; otherwise the script says
# what to install and exits 1.
#
# Both tools run RUNS times (default 5) on the same (page-cached) input, in
# interleaved rounds (edlforge, iprange, edlforge, ...), so load from other
# processes on a shared machine falls on both alike; we report the best wall
# time and the highest peak RSS of the runs, both from
# `/usr/bin/time -f '%e %M'` (wall has 10 ms resolution).
#
# The outputs are not the same list: edlforge subtracts special-purpose space
# (private, loopback, multicast, reserved, ...) and writes a `#` header;
# iprange prints the plain union (hosts as `a.b.c.d`, no `/32`). So line
# counts differ. As a cheap sanity check we also let iprange compare the two
# address sets.

set -euo pipefail

cd -- "$(dirname -- "$0")/.."

SIZES=${LINES:-3000000 10000000}
SEED=4242
RUNS=${RUNS:-5}

for n in $SIZES; do
    if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then
        echo "error: LINES must be positive integers (got '$n')" >&2
        exit 1
    fi
done
if ! [[ $RUNS =~ ^[1-9][0-9]*$ ]]; then
    echo "error: RUNS must be a positive integer (got '$RUNS')" >&2
    exit 1
fi
if [[ -n ${MAX_ENTRIES:-} ]] && ! [[ $MAX_ENTRIES =~ ^[1-9][0-9]*$ ]]; then
    echo "error: MAX_ENTRIES must be a positive integer (got '$MAX_ENTRIES')" >&2
    exit 1
fi

# ---- requirements ------------------------------------------------------------

gnu_time_ok() {
    [[ -x /usr/bin/time ]] && /usr/bin/time -f '%e %M' -o /dev/null true 2>/dev/null
}

missing=()
command -v iprange >/dev/null 2>&1 || missing+=(iprange)
gnu_time_ok || missing+=(time)
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "installing: ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y "${missing[@]}"
    else
        echo "error: missing ${missing[*]}; install with:" >&2
        echo "  sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi
command -v iprange >/dev/null 2>&1 || { echo "error: iprange still not found" >&2; exit 1; }
gnu_time_ok || { echo "error: /usr/bin/time is not GNU time" >&2; exit 1; }
command -v python3 >/dev/null 2>&1 || { echo "error: python3 is required" >&2; exit 1; }

# ---- build -------------------------------------------------------------------

if [[ -n ${EDLFORGE_BIN:-} ]]; then
    edlforge=$EDLFORGE_BIN
else
    command -v cargo >/dev/null 2>&1 || { echo "error: cargo is required" >&2; exit 1; }
    echo "building: cargo build --release" >&2
    cargo build --release
    edlforge=target/release/edlforge
fi
[[ -x $edlforge ]] || { echo "error: $edlforge is not executable" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/edlforge-vs-iprange.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- measurement -------------------------------------------------------------

# run_once, summary, ratio: benches/lib.sh.
# shellcheck source=benches/lib.sh
. benches/lib.sh # the working directory is the repository root (above)

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
entries() { grep -cv '^#' "$1" || true; } # lines that are not `#` comments

for LINES in $SIZES; do

    # ---- input -------------------------------------------------------------------

    input=$tmp/ip.txt
    echo "generating $LINES lines (scripts/gen-ip.py seed $SEED)" >&2
    python3 scripts/gen-ip.py "$SEED" "$LINES" "$input"

    edl_args=(convert --vendor plain --type ip)
    if [[ -n ${MAX_ENTRIES:-} ]]; then
        edl_args+=(--max-entries "$MAX_ENTRIES")
    fi

    out_e=$tmp/edlforge.out
    out_i=$tmp/iprange.out

    # Interleaved rounds: load from other processes on a shared machine falls on both alike.
    rm -f "$tmp/edlforge.times" "$tmp/iprange.times"
    echo "running $RUNS rounds: $edlforge ${edl_args[*]} FILE; iprange FILE" >&2
    for ((round = 1; round <= RUNS; round++)); do
        run_once edlforge "$out_e" "$edlforge" "${edl_args[@]}" "$input"
        run_once iprange "$out_i" iprange "$input"
    done
    summary edlforge
    wall_e=$WALL rss_e=$RSS
    summary iprange
    wall_i=$WALL rss_i=$RSS

    lines_e=$(wc -l <"$out_e")
    lines_i=$(wc -l <"$out_i")
    ent_e=$(entries "$out_e")

    # ---- set check (informational) -----------------------------------------------

    # Keep in step with SPECIAL_V4 in src/compile/guard.rs.
    special=$tmp/special.txt
    printf '%s\n' \
        0.0.0.0/8 \
        10.0.0.0/8 \
        100.64.0.0/10 \
        127.0.0.0/8 \
        169.254.0.0/16 \
        172.16.0.0/12 \
        192.0.0.0/24 \
        192.0.2.0/24 \
        192.168.0.0/16 \
        198.18.0.0/15 \
        198.51.100.0/24 \
        203.0.113.0/24 \
        224.0.0.0/4 \
        240.0.0.0/4 \
        >"$special"

    # iprange -C prints "entries,unique_ips".
    uniq_ips() { iprange -C "$@" | tail -n 1 | cut -d, -f2; }
    set_check=ok
    ips_e=$(uniq_ips "$out_e" 2>/dev/null) || set_check=failed
    ips_i=$(uniq_ips "$out_i" 2>/dev/null) || set_check=failed
    if [[ $set_check == ok ]]; then
        # edlforge must equal input minus special space:
        extra=$(iprange "$out_e" --except "$out_i" | uniq_ips)       # published, not in input
        missed=$(iprange "$out_i" --except "$out_e" "$special" | uniq_ips) # in input, not special, not published
        dropped=$(iprange "$out_i" --except "$out_e" | uniq_ips)     # all addresses left out
    fi

    # ---- report ------------------------------------------------------------------

    echo
    echo "input: $LINES lines, $(wc -c <"$input") bytes (gen-ip.py seed $SEED); $(nproc) CPUs"
    echo "best wall of $RUNS interleaved rounds, highest peak RSS of $RUNS rounds; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    printf '%-10s %12s %14s %14s\n' tool "best wall s" "peak RSS MiB" "output lines"
    printf '%-10s %12s %14s %14s\n' edlforge "$wall_e" "$(mib "$rss_e")" "$lines_e"
    printf '%-10s %12s %14s %14s\n' iprange "$wall_i" "$(mib "$rss_i")" "$lines_i"
    echo
    echo "edlforge/iprange: wall $(ratio "$wall_e" "$wall_i")x, RSS $(ratio "$rss_e" "$rss_i")x"
    echo
    echo "edlforge report: $(tail -n 1 "$tmp/edlforge.err")"
    echo
    echo "Line counts differ by design: edlforge subtracts special-purpose space"
    echo "(private, loopback, CGN, documentation, multicast, reserved, ...) and writes"
    echo "a '#' header ($ent_e entry lines of $lines_e); iprange prints the plain union,"
    echo "hosts as a.b.c.d."
    if [[ $set_check == ok ]]; then
        echo
        echo "address sets (iprange -C): edlforge $ips_e, iprange $ips_i unique IPs;"
        echo "  left out by edlforge: $dropped (special-purpose space in the input)"
        echo "  published but not in input: $extra (expect 0)"
        echo "  in input, not special, not published: $missed (expect 0)"
        if [[ $extra != 0 || $missed != 0 ]]; then
            echo "  WARNING: edlforge's set is not input minus special-purpose space"
        fi
    else
        echo
        echo "address set check skipped: iprange could not read edlforge's output"
    fi

done
