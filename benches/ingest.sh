#!/usr/bin/env bash
# Benchmark: a 10M-line text source served from 127.0.0.1 through `edlforge compile` into a PAN-OS
# list (fetch + parse + gates + store + compile + write), beside the bare `edlforge convert` on
# the same file, so the store's and fetcher's overhead shows.
#
#   benches/ingest.sh            LINES=N to change the size (default 10000000)
#   EDLFORGE_BIN=path            use this binary instead of building target/release/edlforge
#
# Loopback only: the source is served by `python3 -m http.server --bind 127.0.0.1`, stopped on exit.
set -euo pipefail
cd -- "$(dirname -- "$0")/.."
LINES=${LINES:-10000000}
[[ $LINES =~ ^[1-9][0-9]*$ ]] || { echo "LINES must be a positive integer" >&2; exit 1; }
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

measure() { /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }; cat "$tmp/time"; }

read -r cw cr < <(measure "$bin" compile --config "$tmp/feeds.toml" --out "$tmp/out" --force)
read -r c2w c2r < <(measure "$bin" compile --config "$tmp/feeds.toml" --out "$tmp/out" --force)
read -r vw vr < <(measure "$bin" convert --vendor panos --type ip --max-entries 100000000 "$tmp/feed.txt")
cmp -s <("$bin" convert --vendor panos --type ip --max-entries 100000000 "$tmp/feed.txt" 2>/dev/null) "$tmp/out/panos-ip.txt" \
  && same="identical" || same="DIFFERENT"

printf '\n%s lines, %s bytes, served from 127.0.0.1 (python http.server); 2 CPUs\n' "$LINES" "$(stat -c %s "$tmp/feed.txt")"
printf '%-40s %8s %10s %14s\n' "run" "wall s" "RSS MiB" "lines/s"
row() { printf '%-40s %8s %10.1f %14.0f\n' "$1" "$2" "$(echo "$3/1024" | bc -l)" "$(echo "$LINES/$2" | bc -l)"; }
row "compile --force (first, empty store)" "$cw" "$cr"
row "compile --force (second, full store)" "$c2w" "$c2r"
row "convert (bare, same file)" "$vw" "$vr"
printf 'store+fetch overhead (first compile / convert - 1): %.2fx\n' "$(echo "$cw/$vw - 1" | bc -l)"
printf 'list from compile vs convert: %s\n' "$same"
