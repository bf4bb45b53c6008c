#!/usr/bin/env bash
# Benchmark: `edlforge convert --vendor panos --type domain|url` against the
# floor every list pipeline pays anyway, `LC_ALL=C sort -u`, on 1M-line
# generated domain and URL feeds.
#
# Usage: benches/vs-sort.sh
#   LINES=N          input lines per kind (default 1000000)
#   RUNS=N           interleaved rounds (default 5)
#   MAX_ENTRIES=N    pass --max-entries N to edlforge (default: none, so the
#                    PAN-OS default limit of 50,000 entries applies)
#   EDLFORGE_BIN=P   use this binary instead of `cargo build --release` +
#                    target/release/edlforge
#
# Needs: python3, cargo, GNU time (/usr/bin/time), sort. A missing GNU time
# is installed with apt-get when run as root; otherwise the script says what
# to install and exits 1.
#
# Both commands run RUNS times (default 5) on the same (page-cached) input,
# in interleaved rounds (edlforge, sort, edlforge, sort, ...), so load from
# other processes on a shared machine falls on both alike; we report the
# best wall time and the highest peak RSS of the runs, both from
# `/usr/bin/time -f '%e %M'` (wall has 10 ms resolution).
#
# The two do different work: sort -u only drops byte-identical lines, while
# edlforge parses, validates, refangs, lowercases, IDNA-encodes, checks the
# public suffix list, deduplicates semantically and formats for PAN-OS (and
# caps the list at the vendor limit). Output line counts differ accordingly.

set -euo pipefail

cd -- "$(dirname -- "$0")/.."

LINES=${LINES:-1000000}
RUNS=${RUNS:-5}

if ! [[ $LINES =~ ^[1-9][0-9]*$ ]]; then
    echo "error: LINES must be a positive integer (got '$LINES')" >&2
    exit 1
fi
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

if ! gnu_time_ok; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "installing: time" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y time
    else
        echo "error: missing GNU time (/usr/bin/time); install with:" >&2
        echo "  sudo apt-get install -y time" >&2
        exit 1
    fi
fi
gnu_time_ok || { echo "error: /usr/bin/time is not GNU time" >&2; exit 1; }
command -v sort >/dev/null 2>&1 || { echo "error: sort (coreutils) is required" >&2; exit 1; }
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

tmp=$(mktemp -d "${TMPDIR:-/tmp}/edlforge-vs-sort.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- measurement -------------------------------------------------------------

# run_once, summary, ratio: benches/lib.sh.
# shellcheck source=benches/lib.sh
. benches/lib.sh # the working directory is the repository root (above)

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

rows=()
ratios=()
reports=()

for spec in domain:1 url:2; do
    kind=${spec%%:*}
    seed=${spec#*:}
    input=$tmp/$kind.txt
    echo "generating $LINES $kind lines (scripts/gen-names.py seed $seed)" >&2
    python3 scripts/gen-names.py "$seed" "$LINES" "$kind" "$input"

    edl_args=(convert --vendor panos --type "$kind")
    if [[ -n ${MAX_ENTRIES:-} ]]; then
        edl_args+=(--max-entries "$MAX_ENTRIES")
    fi

    # Interleaved rounds: load from other processes on a shared machine falls on both alike.
    echo "running $RUNS rounds: $edlforge ${edl_args[*]} FILE; LC_ALL=C sort -u FILE" >&2
    for ((round = 1; round <= RUNS; round++)); do
        run_once "edlforge-$kind" "$tmp/edlforge-$kind.out" "$edlforge" "${edl_args[@]}" "$input"
        run_once "sort-$kind" "$tmp/sort-$kind.out" env LC_ALL=C sort -u "$input"
    done
    summary "edlforge-$kind"
    wall_e=$WALL rss_e=$RSS
    summary "sort-$kind"
    wall_s=$WALL rss_s=$RSS

    rows+=("$(printf '%-7s %-10s %12s %14s %14s' "$kind" edlforge "$wall_e" "$(mib "$rss_e")" "$(wc -l <"$tmp/edlforge-$kind.out")")")
    rows+=("$(printf '%-7s %-10s %12s %14s %14s' "$kind" "sort -u" "$wall_s" "$(mib "$rss_s")" "$(wc -l <"$tmp/sort-$kind.out")")")
    ratios+=("$(printf '%-7s wall %sx, RSS %sx' "$kind" "$(ratio "$wall_e" "$wall_s")" "$(ratio "$rss_e" "$rss_s")")")
    reports+=("$(printf '%-7s %s' "$kind" "$(tail -n 1 "$tmp/edlforge-$kind.err")")")
done

# ---- report ------------------------------------------------------------------

echo
echo "input: $LINES lines per kind (gen-names.py seeds domain=1, url=2); $(nproc) CPUs; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "best wall of $RUNS interleaved rounds, highest peak RSS of $RUNS rounds"
echo
printf '%-7s %-10s %12s %14s %14s\n' kind tool "best wall s" "peak RSS MiB" "output lines"
printf '%s\n' "${rows[@]}"
echo
echo "edlforge / sort -u:"
printf '  %s\n' "${ratios[@]}"
echo
echo "edlforge reports:"
printf '  %s\n' "${reports[@]}"
echo
echo "Output line counts differ by design: sort -u keeps every distinct byte"
echo "string (case variants, defanged and invalid lines, comments); edlforge"
echo "normalizes and deduplicates semantically, drops what PAN-OS cannot take,"
if [[ -z ${MAX_ENTRIES:-} ]]; then
    echo "and caps each list at the PAN-OS default limit (50,000 entries; set"
    echo "MAX_ENTRIES to lift it)."
else
    echo "and caps each list at --max-entries $MAX_ENTRIES."
fi
