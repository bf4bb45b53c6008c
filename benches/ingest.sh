#!/usr/bin/env bash
# Benchmark: a text source of N lines (default 10M) served from 127.0.0.1 through `edlforge compile`
# into a PAN-OS list (fetch + parse + gates + store + compile + write), beside the bare
# `edlforge convert` on the same file, so the store's and fetcher's overhead shows.
#
#   benches/ingest.sh [LINES]     lines in the feed (default 10000000; also LINES=N)
#   RUNS=n                        rounds of the four measurements, the best is shown (default 3)
#   EDLFORGE_BIN=path             use this binary instead of building target/release/edlforge
#
# Each run is timed by GNU time (wall seconds, peak RSS). "first" compiles into an empty store
# (nothing to merge with); "changed" fetches the feed again over the full store (its mtime is
# moved, so the server answers 200 and every record is merged with its old self: the steady state
# of a scheduled fetch of a feed that changed); "304" finds the feed unchanged (If-Modified-Since
# answered 304) and compiles from the store alone.
#
# KIND=domain (issue 14's "recompile of a 1M-name list after one feed changed"): LINES names from
# scripts/gen-names.py split into two feeds of LINES/2 lines feeding one PAN-OS domain list;
# "changed" moves the mtime of one feed only (the other answers 304 and comes from the store),
# and a `serve` row measures the same recompile in the daemon: the two feeds as `path` sources,
# one line appended to one of them, timed from the edit until /lists/panos-dom serves a new ETag
# (includes the file watcher's 250 ms debounce), with the server's peak RSS (VmHWM).
#
# Loopback only: the source is served by `python3 -m http.server --bind 127.0.0.1`, stopped on exit.
set -euo pipefail
cd -- "$(dirname -- "$0")/.."
LINES=${1:-${LINES:-10000000}}
RUNS=${RUNS:-3}
KIND=${KIND:-ip}
[[ $KIND == ip || $KIND == domain ]] || { echo "KIND must be ip or domain" >&2; exit 1; }
if [[ $KIND == domain ]]; then exec bash benches/ingest-names.sh "$LINES"; fi
[[ $LINES =~ ^[1-9][0-9]*$ ]] || { echo "LINES must be a positive integer" >&2; exit 1; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "RUNS must be a positive integer" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
if [[ -n ${EDLFORGE_BIN:-} ]]; then bin=$EDLFORGE_BIN; else cargo build --release -q; bin=$PWD/target/release/edlforge; fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/edlforge-ingest.XXXXXX")
server=""
cleanup() { [[ -n $server ]] && kill "$server" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

echo "generating $LINES lines (scripts/gen-ip.py seed 4242)" >&2
python3 scripts/gen-ip.py 4242 "$LINES" "$tmp/feed.txt"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
(cd "$tmp" && exec python3 -m http.server --bind 127.0.0.1 "$port" >/dev/null 2>&1) &
server=$!
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/feed.txt" -r 0-0 2>/dev/null && break; sleep 0.1; done

cat > "$tmp/feeds.toml" <<TOML
[store]
data_dir = "data"
[[source]]
name = "bench"
url = "http://127.0.0.1:$port/feed.txt"
type = "ip"
max_body = "2GiB"
timeout = "600s"
[[list]]
name = "panos-ip"
vendor = "panos"
types = ["ip"]
max_entries = 100000000
TOML

# One timed run: prints "wall_s rss_kib".
measure() { /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }; cat "$tmp/time"; }

# RUNS rounds, each: compile into an empty store, compile again after the feed changed, compile
# with the feed unchanged (304), bare convert. Interleaved so that load from other processes on
# a shared machine falls on all four alike; each is reported by its best (least) wall time and
# its highest peak RSS.
compile=("$bin" compile --config "$tmp/feeds.toml" --out "$tmp/out" --force)
convert=("$bin" convert --vendor panos --type ip --max-entries 100000000 "$tmp/feed.txt")
declare -A bw br
keep() { # name wall rss
  echo "  $1: $2 s $(($3 / 1024)) MiB" >&2
  if [[ -z ${bw[$1]:-} ]] || (( $(echo "$2 < ${bw[$1]}" | bc -l) )); then bw[$1]=$2; fi
  (( $3 > ${br[$1]:-0} )) && br[$1]=$3
  return 0
}
for round in $(seq "$RUNS"); do
  echo "round $round" >&2
  rm -rf "$tmp/data" "$tmp/out"
  read -r w r < <(measure "${compile[@]}"); keep first "$w" "$r"
  touch -d "@$(($(date +%s) + round))" "$tmp/feed.txt"
  read -r w r < <(measure "${compile[@]}"); keep changed "$w" "$r"
  read -r w r < <(measure "${compile[@]}"); keep unchanged "$w" "$r"
  read -r w r < <(measure "${convert[@]}"); keep convert "$w" "$r"
done
cw=${bw[first]} cr=${br[first]} c2w=${bw[changed]} c2r=${br[changed]}
c3w=${bw[unchanged]} c3r=${br[unchanged]} vw=${bw[convert]} vr=${br[convert]}
cmp -s <("$bin" convert --vendor panos --type ip --max-entries 100000000 "$tmp/feed.txt" 2>/dev/null) "$tmp/out/panos-ip.txt" \
  && same="identical" || same="DIFFERENT"

printf '\n%s lines, %s bytes, served from 127.0.0.1 (python http.server); %s CPUs; best of %s\n' \
  "$LINES" "$(stat -c %s "$tmp/feed.txt")" "$(nproc)" "$RUNS"
printf '%-44s %8s %10s %14s %10s\n' "run" "wall s" "RSS MiB" "lines/s" "/ convert"
row() { printf '%-44s %8s %10.1f %14.0f %9.2fx\n' "$1" "$2" "$(echo "$3/1024" | bc -l)" "$(echo "$LINES/$2" | bc -l)" "$(echo "$2/$vw" | bc -l)"; }
row "compile --force (first, empty store)" "$cw" "$cr"
row "compile --force (feed changed, full store)" "$c2w" "$c2r"
row "compile --force (feed unchanged: 304)" "$c3w" "$c3r"
row "convert (bare, same file)" "$vw" "$vr"
printf 'store+fetch overhead (compile / convert - 1): first %.2fx, changed %.2fx (target <= 1.00x)\n' \
  "$(echo "$cw/$vw - 1" | bc -l)" "$(echo "$c2w/$vw - 1" | bc -l)"
printf 'store on disk: %s\n' "$(du -b "$tmp"/data/sources/*.snap | awk '{printf "%.1f MiB snapshot", $1/1048576}')"
printf 'list from compile vs convert: %s\n' "$same"
