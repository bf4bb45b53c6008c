#!/usr/bin/env bash
# `benches/ingest.sh` with KIND=domain (run through it): a 1M-name PAN-OS domain list from two
# feeds, recompiled after one feed changed, through the store (`compile`) and the daemon (`serve`),
# beside the bare `convert` of the same lines.
#
#   KIND=domain benches/ingest.sh [LINES]   names in all (default 1000000), LINES/2 per feed
#   RUNS=n                                  rounds, the best wall and highest RSS shown (default 3)
#   EDLFORGE_BIN=path                       use this binary instead of building it
#
# Rows (each round runs them in this order, so load falls on all alike):
#   compile --force, first          both feeds fetched into an empty store
#   compile --force, one changed    feed "a" answers 200 (mtime moved), "b" 304 (from the store)
#   serve, one feed edited          `serve` on the same names as two `path` sources; one line
#                                   appended to feed "a"; time from the edit until the served
#                                   ETag changes (includes the watcher's 250 ms debounce);
#                                   RSS = the server's VmHWM after that recompile
#   convert                         bare `convert --vendor panos --type domain` of both files
# Loopback only (python3 http.server and edlforge serve on 127.0.0.1), stopped on exit.
set -euo pipefail
cd -- "$(dirname -- "$0")/.."
LINES=${1:-1000000}
[[ $LINES == 10000000 ]] && LINES=1000000 # ingest.sh's IP default is not this bench's
RUNS=${RUNS:-3}
[[ $LINES =~ ^[1-9][0-9]*$ ]] || { echo "LINES must be a positive integer" >&2; exit 1; }
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "RUNS must be a positive integer" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
if [[ -n ${EDLFORGE_BIN:-} ]]; then bin=$EDLFORGE_BIN; else cargo build --release -q; bin=$PWD/target/release/edlforge; fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/edlforge-ingest-names.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

echo "generating $LINES names (scripts/gen-names.py seed 4242 domain), two feeds" >&2
python3 scripts/gen-names.py 4242 "$LINES" domain "$tmp/all.txt"
half=$((LINES / 2))
head -n "$half" "$tmp/all.txt" >"$tmp/a.txt"
tail -n +"$((half + 1))" "$tmp/all.txt" >"$tmp/b.txt"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
port=$(free_port)
(cd "$tmp" && exec python3 -m http.server --bind 127.0.0.1 "$port" >/dev/null 2>&1) &
pids+=($!)
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/a.txt" -r 0-0 2>/dev/null && break; sleep 0.1; done

list='[[list]]
name = "panos-dom"
vendor = "panos"
types = ["domain"]
max_entries = 100000000'
cat >"$tmp/feeds.toml" <<TOML
[store]
data_dir = "data"
[[source]]
name = "a"
url = "http://127.0.0.1:$port/a.txt"
type = "domain"
max_body = "2GiB"
timeout = "600s"
[[source]]
name = "b"
url = "http://127.0.0.1:$port/b.txt"
type = "domain"
max_body = "2GiB"
timeout = "600s"
$list
TOML
mkdir -p "$tmp/srv"
cat >"$tmp/srv/feeds.toml" <<TOML
[store]
data_dir = "data"
[server]
tls = "off"
[[source]]
name = "a"
path = "$tmp/srv/a.txt"
type = "domain"
[[source]]
name = "b"
path = "$tmp/srv/b.txt"
type = "domain"
$list
TOML

measure() { /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }; cat "$tmp/time"; }
declare -A bw br
keep() { # name wall rss_kib
  echo "  $1: $2 s $(($3 / 1024)) MiB" >&2
  if [[ -z ${bw[$1]:-} ]] || (($(echo "$2 < ${bw[$1]}" | bc -l))); then bw[$1]=$2; fi
  (($3 > ${br[$1]:-0})) && br[$1]=$3
  return 0
}
etag() { curl -fsS -o /dev/null -D - "http://127.0.0.1:$sport/lists/panos-dom" 2>/dev/null | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}'; }
compile=("$bin" compile --config "$tmp/feeds.toml" --out "$tmp/out" --force)
convert=("$bin" convert --vendor panos --type domain --max-entries 100000000 "$tmp/a.txt" "$tmp/b.txt")
for round in $(seq "$RUNS"); do
  echo "round $round" >&2
  rm -rf "$tmp/data" "$tmp/out"
  read -r w r < <(measure "${compile[@]}"); keep first "$w" "$r"
  touch -d "@$(($(date +%s) + round))" "$tmp/a.txt"
  read -r w r < <(measure "${compile[@]}"); keep changed "$w" "$r"

  # serve: first compile at start, then one feed edited
  rm -rf "$tmp/srv/data"; cp "$tmp/a.txt" "$tmp/b.txt" "$tmp/srv/"
  sport=$(free_port)
  RUST_LOG=warn "$bin" serve --config "$tmp/srv/feeds.toml" --listen "127.0.0.1:$sport" 2>"$tmp/srv/stderr" &
  spid=$!; pids+=("$spid")
  before=""
  for _ in $(seq 600); do before=$(etag) && [[ -n $before ]] && break; sleep 0.1; done
  [[ -n $before ]] || { echo "serve did not publish the list" >&2; cat "$tmp/srv/stderr" >&2; exit 1; }
  sleep 1 # let the watcher settle after the first cycle
  t0=$(date +%s.%N)
  echo "added-$round.example.com" >>"$tmp/srv/a.txt"
  after=$before
  for _ in $(seq 6000); do after=$(etag) || after=$before; [[ $after != "$before" ]] && break; sleep 0.02; done
  t1=$(date +%s.%N)
  [[ $after != "$before" ]] || { echo "serve did not recompile after the edit" >&2; exit 1; }
  hwm=$(awk '/^VmHWM/{print $2}' "/proc/$spid/status")
  keep serve "$(echo "$t1 - $t0" | bc -l | awk '{printf "%.2f", $1}')" "$hwm"
  curl -fsS -o "$tmp/served.txt" "http://127.0.0.1:$sport/lists/panos-dom"
  kill "$spid"; wait "$spid" 2>/dev/null || true

  read -r w r < <(measure "${convert[@]}"); keep convert "$w" "$r"
done
"$bin" convert --vendor panos --type domain --max-entries 100000000 "$tmp/a.txt" "$tmp/b.txt" 2>/dev/null >"$tmp/convert.txt"
cmp -s "$tmp/convert.txt" "$tmp/out/panos-dom.txt" && same="identical" || same="DIFFERENT"
"$bin" convert --vendor panos --type domain --max-entries 100000000 "$tmp/srv/a.txt" "$tmp/srv/b.txt" 2>/dev/null >"$tmp/convert-srv.txt"
cmp -s "$tmp/convert-srv.txt" "$tmp/served.txt" && same_srv="identical" || same_srv="DIFFERENT"

vw=${bw[convert]}
printf '\n%s names in two feeds of %s, %s bytes (gen-names.py seed 4242 domain); %s CPUs; best of %s; load average: %s\n' \
  "$LINES" "$half" "$(stat -c %s "$tmp/all.txt")" "$(nproc)" "$RUNS" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-50s %8s %10s %10s\n' "run" "wall s" "RSS MiB" "/ convert"
row() { printf '%-50s %8s %10.1f %9.2fx\n' "$1" "$2" "$(echo "$3/1024" | bc -l)" "$(echo "$2/$vw" | bc -l)"; }
row "compile --force (first, empty store)" "${bw[first]}" "${br[first]}"
row "compile --force (one of two feeds changed)" "${bw[changed]}" "${br[changed]}"
row "serve (one feed edited -> new ETag, incl. 250ms)" "${bw[serve]}" "${br[serve]}"
row "convert (bare, both files)" "$vw" "${br[convert]}"
printf 'list from compile vs convert: %s; served vs convert of the edited files: %s\n' "$same" "$same_srv"
