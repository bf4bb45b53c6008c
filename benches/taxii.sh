#!/usr/bin/env bash
# TAXII 2.1 ingest: edlforge vs the OASIS Python client, same server, same pages, same run.
#
# medallion 3.0.0 (memory backend, with the O(n^2) spots of its toy backend patched out by
# taxii/medallion_fast.py: same answers, less work per request) serves N STIX 2.1 indicators
# (taxii/gen.py, deterministic) on 127.0.0.1. Then, one after the other:
#   1. curl walks every page (limit 1000, match[type]=indicator, following next): server time;
#   2. edlforge compile polls the collection (page_size 1000) into a fresh store and writes a
#      plain list (conversion, store and compile included);
#   3. taxii2-client fetches the same pages and taxii/client.py extracts the same values.
# edlforge and the Python client run in ROUNDS interleaved rounds (default 3), the fastest of
# each kept. Prints wall time, peak RSS and CPU time of each (/usr/bin/time -v), value counts,
# the ratios, and the server's share of the Python wall time (a floor for any client).
# Usage: [ROUNDS=3] benches/taxii.sh [N]   (default 100000; needs python3 with venv, curl, cargo)
set -euo pipefail
cd -- "$(dirname -- "$0")/.."
N=${1:-100000}
VENV=target/taxii-bench-venv
WORK=$PWD/target/taxii-bench
CID=a0b1c2d3-0000-4000-8000-000000000001
ACCEPT='application/taxii+json;version=2.1'

if [ ! -x "$VENV/bin/medallion" ] || [ ! -f "$VENV/lib/python3"*/site-packages/taxii2client/__init__.py ]; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check \
        'medallion==3.0.0' 'flask>=3.1,<3.2' 'taxii2-client==2.3.0'
fi
cargo build --release --quiet
EDL=$PWD/target/release/edlforge

rm -rf "$WORK"; mkdir -p "$WORK"
echo "generating $N indicators"
"$VENV/bin/python" benches/taxii/gen.py "$N" "$WORK/data.json"
cat > "$WORK/medallion.json" <<JSON
{"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
             "filename": "$WORK/data.json", "session_timeout": 3600},
 "users": {"bench": "bench"}, "taxii": {"max_page_size": 1000}}
JSON
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MEDALLION_TIMING="$WORK/server.times" "$VENV/bin/python" benches/taxii/medallion_fast.py --host 127.0.0.1 --port "$PORT" "$WORK/medallion.json" \
    > "$WORK/medallion.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
    sleep 0.1
done
ROOT="http://127.0.0.1:$PORT/api1/"

server_time() { awk '{s+=$1} END {printf "%.2f", s}' "$WORK/server.times"; }
measure() { # name, command...: runs it under /usr/bin/time -v, keeps wall s, RSS KiB, CPU s
    local name=$1; shift
    : > "$WORK/server.times"
    /usr/bin/time -v -o "$WORK/$name.time" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err"
    local wall rss cpu
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$WORK/$name.time")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/$name.time")
    cpu=$(awk -F': ' '/User time|System time/ {s+=$2} END {printf "%.2f", s}' "$WORK/$name.time")
    eval "${name}_wall=$wall; ${name}_rss=$rss; ${name}_cpu=$cpu"
    server_time > "$WORK/$name.server"
}
ROUNDS=${ROUNDS:-3}
cat > "$WORK/curl-loop.sh" <<'SH'
#!/usr/bin/env bash
set -euo pipefail
base="$1collections/$2/objects/?limit=1000&match%5Btype%5D=indicator"
next=""; pages=0; bytes=0
while :; do
    url=$base; [ -n "$next" ] && url="$base&next=$next"
    curl -sf -u bench:bench -H "Accept: $3" -o page.json "$url"
    pages=$((pages+1)); bytes=$((bytes+$(stat -c %s page.json)))
    next=$(grep -o '"next": "[^"]*"' page.json | cut -d'"' -f4 || true)
    grep -q '"more": true' page.json && [ -n "$next" ] || break
done
echo "pages $pages bytes $bytes"
SH
chmod +x "$WORK/curl-loop.sh"

echo "1/3 curl loop (server time)"
(cd "$WORK" && measure curl ./curl-loop.sh "$ROOT" "$CID" "$ACCEPT")

mkdir -p "$WORK/edl"
cat > "$WORK/edl/feeds.toml" <<TOML
[[source]]
name = "bench"
kind = "taxii"
url = "$ROOT"
collection = "$CID"
username = "bench"
password = "\${file:pw}"
page_size = 1000
max_body = "64MiB"

[[list]]
name = "all"
vendor = "plain"
max_tlp = "red"
TOML
echo bench > "$WORK/edl/pw"
# Interleaved rounds (edlforge, then Python, ROUNDS times), each side's fastest kept: the
# machine is shared, and a neighbour's burst should not decide the ratio.
best() { # name round: keep this round if its wall time is the lowest so far
    local name=$1 r=$2 w s
    w=$(eval echo "\$${name}_wall"); s=$(cat "$WORK/$name.server")
    echo "  round $r $name: wall ${w}s, CPU $(eval echo "\$${name}_cpu")s, server ${s}s, RSS $(( $(eval echo "\$${name}_rss") / 1024 )) MiB"
    if [ -z "$(eval echo "\${${name}_best_wall:-}")" ] || [ "$(echo "$w < $(eval echo "\$${name}_best_wall")" | bc)" = 1 ]; then
        eval "${name}_best_wall=$w; ${name}_best_rss=\$${name}_rss; ${name}_best_cpu=\$${name}_cpu; ${name}_best_srv=$s"
    fi
}
for r in $(seq 1 "$ROUNDS"); do
    echo "2/3 edlforge compile (poll, convert, store, compile, write), round $r"
    rm -rf "$WORK/edl/data" "$WORK/edl/out"
    measure edl "$EDL" compile --force --config "$WORK/edl/feeds.toml"
    best edl "$r"
    echo "3/3 taxii2-client + extraction, round $r"
    measure py "$VENV/bin/python" benches/taxii/client.py "$ROOT" "$CID" bench bench
    best py "$r"
done
edl_wall=$edl_best_wall; edl_rss=$edl_best_rss; edl_cpu=$edl_best_cpu; edl_srv=$edl_best_srv
py_wall=$py_best_wall; py_rss=$py_best_rss; py_cpu=$py_best_cpu; py_srv=$py_best_srv
curl_srv=$(cat "$WORK/curl.server")
# Re-read the measurements (measure ran in a subshell for curl).
read -r curl_wall curl_rss < <(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; w=s} /Maximum resident set size/ {r=$2} END {print w, r}' "$WORK/curl.time")
curl_cpu=$(awk -F': ' '/User time|System time/ {s+=$2} END {printf "%.2f", s}' "$WORK/curl.time")

edl_values=$(grep -c . "$WORK/edl/out/all.txt" || true)
echo
echo "TAXII ingest, $N indicators, page size 1000, medallion 3.0.0 on 127.0.0.1 ($(nproc) cores)"
echo "curl loop:      $(cat "$WORK/curl.out")"
echo "edlforge:       $(grep -m1 '^bench ' "$WORK/edl.out" | tr -s ' ')"
echo "                list lines: $((edl_values - 1)) (after the safety floor and aggregation)"
echo "python client:  $(cat "$WORK/py.out")"
echo "best of $ROUNDS interleaved rounds each:"
printf '%-28s %10s %12s %14s %12s %10s\n' "" "wall s" "peak RSS MiB" "server s" "client s" "CPU s"
row() { printf '%-28s %10.2f %12.1f %14.2f %12.2f %10.2f\n' "$1" "$2" "$(echo "$3/1024" | bc -l)" "$4" "$(echo "$2-$4" | bc -l)" "$5"; }
row "curl loop" "$curl_wall" "$curl_rss" "$curl_srv" "$curl_cpu"
row "edlforge compile" "$edl_wall" "$edl_rss" "$edl_srv" "$edl_cpu"
row "taxii2-client + extract" "$py_wall" "$py_rss" "$py_srv" "$py_cpu"
echo "(server s: medallion's time handling the requests of that run; client s: wall minus that;"
echo " CPU s: the client process's user + system time, which the server's speed does not touch)"
printf 'edlforge / python, wall:      %.3f (target <= 0.25)\n' "$(echo "$edl_wall/$py_wall" | bc -l)"
printf 'edlforge / python, client s:  %.3f\n' "$(echo "($edl_wall-$edl_srv)/($py_wall-$py_srv)" | bc -l)"
printf 'edlforge / python, CPU s:     %.3f\n' "$(echo "$edl_cpu/$py_cpu" | bc -l)"
printf 'server share of python wall:  %.3f (the wall ratio of a client that took no time at all)\n' "$(echo "$py_srv/$py_wall" | bc -l)"
