#!/usr/bin/env bash
# Sharing: objects/s served by edlforge's TAXII 2.1 collection of an N-indicator `stix` list
# (all pages, limit 1000) against medallion 3.0.0 serving the same objects (taxii/medallion_fast.py,
# its memory backend with the O(n^2) spots patched out), in one run, with the same stdlib-only
# client (share/walk.py); then edlforge's peak RSS while 10 clients page through it at once.
# Usage: benches/share.sh [N]   (default 100000; needs python3 with venv, cargo)
set -euo pipefail
cd -- "$(dirname -- "$0")/.."
N=${1:-100000}
VENV=target/taxii-bench-venv
WORK=$PWD/target/share-bench
CID=a0b1c2d3-0000-4000-8000-000000000002

if [ ! -x "$VENV/bin/medallion" ]; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check \
        'medallion==3.0.0' 'flask>=3.1,<3.2' 'taxii2-client==2.3.0'
fi
if [[ -n ${EDLFORGE_BIN:-} ]]; then EDL=$EDLFORGE_BIN; else cargo build --release --quiet; EDL=$PWD/target/release/edlforge; fi
PY="$VENV/bin/python"

rm -rf "$WORK"; mkdir -p "$WORK/lists"
echo "generating $N IPv4 addresses (deterministic)"
"$PY" - "$N" > "$WORK/lists/block.txt" <<'PYEOF'
import sys
n = int(sys.argv[1])
first = [23, 31, 37, 45, 62, 77, 89, 91, 103, 109, 141, 146, 151, 176, 185, 188, 193, 194, 195, 212, 213, 217]
seen = set()
i = 0
while len(seen) < n:
    h = (i * 2654435761) & 0xFFFFFFFF
    ip = "%d.%d.%d.%d" % (first[h % len(first)], (h >> 8) & 255, (h >> 16) & 255, 1 + (i % 254))
    i += 1
    if ip not in seen:
        seen.add(ip)
        print(ip)
PYEOF
cat > "$WORK/feeds.toml" <<TOML
[server]
tls = "off"
organization = "Bench CERT"

[[source]]
name = "block"
path = "lists/block.txt"

[[list]]
name = "bench"
vendor = "stix"
types = ["ip"]
TOML
(cd "$WORK" && exec "$EDL" serve --config feeds.toml --listen 127.0.0.1:0 2> "$WORK/edlforge.log") &
EDLPID=$!
MEDPID=
trap 'kill $EDLPID $MEDPID 2>/dev/null || true' EXIT
BASE=
for _ in $(seq 1 600); do
    BASE=$(sed -n 's/^edlforge: listening on //p' "$WORK/edlforge.log" | head -1)
    [ -n "$BASE" ] && break
    sleep 0.1
done
[ -n "$BASE" ] || { cat "$WORK/edlforge.log"; exit 1; }
# The pid of the server itself (the subshell execs it).
URL="$BASE/taxii2/api/collections/bench/objects/"
for _ in $(seq 1 3000); do
    curl -s "$URL?limit=1&match%5Btype%5D=indicator" | grep -q "indicator--" && break
    sleep 0.1
done

echo "edlforge: walking all pages"
read -r e_objs e_pages e_secs < <("$PY" benches/share/walk.py "$URL")
"$PY" benches/share/walk.py "$URL" x x --dump "$WORK/objects.json" > /dev/null

echo "medallion: loading the same objects"
"$PY" - "$WORK/objects.json" "$WORK/data.json" "$CID" <<'PYEOF'
import json, sys
src, out, cid = sys.argv[1:4]
d = json.load(open(src))
json.dump({
    "/discovery": {"title": "bench", "default": "/api1/", "api_roots": ["/api1/"]},
    "api1": {
        "information": {"title": "bench", "versions": ["application/taxii+json;version=2.1"],
                        "max_content_length": 104857600},
        "status": [],
        "collections": [{"id": cid, "title": "bench", "can_read": True, "can_write": False,
                         "media_types": ["application/stix+json;version=2.1"],
                         "objects": d["objects"], "manifest": d["manifest"]}],
    },
}, open(out, "w"))
PYEOF
cat > "$WORK/medallion.json" <<JSON
{"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
             "filename": "$WORK/data.json", "session_timeout": 3600},
 "users": {"bench": "bench"}, "taxii": {"max_page_size": 1000}}
JSON
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$PY" benches/taxii/medallion_fast.py --host 127.0.0.1 --port "$PORT" "$WORK/medallion.json" > "$WORK/medallion.log" 2>&1 &
MEDPID=$!
for _ in $(seq 1 600); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
    sleep 0.1
done
MURL="http://127.0.0.1:$PORT/api1/collections/$CID/objects/"
echo "medallion: walking all pages"
read -r m_objs m_pages m_secs < <("$PY" benches/share/walk.py "$MURL" bench bench)
kill $MEDPID 2>/dev/null || true; MEDPID=

echo "edlforge: 10 clients at once"
rss_before=$(awk '/VmRSS/ {print $2}' /proc/$EDLPID/status)
pids=()
for _ in $(seq 1 10); do "$PY" benches/share/walk.py "$URL" > /dev/null & pids+=($!); done
peak=$rss_before
for _ in $(seq 1 12000); do
    r=$(awk '/VmRSS/ {print $2}' /proc/$EDLPID/status)
    [ "$r" -gt "$peak" ] && peak=$r
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.05
done
wait "${pids[@]}"
hwm=$(awk '/VmHWM/ {print $2}' /proc/$EDLPID/status)

echo
echo "TAXII 2.1 sharing, $N indicators (+ identity + marking), pages of 1000, 127.0.0.1, $(nproc) cores"
printf '%-10s %8s %6s %9s %12s\n' server objects pages seconds objects/s
awk -v o="$e_objs" -v p="$e_pages" -v s="$e_secs" 'BEGIN {printf "%-10s %8d %6d %9.3f %12.0f\n", "edlforge", o, p, s, o/s}'
awk -v o="$m_objs" -v p="$m_pages" -v s="$m_secs" 'BEGIN {printf "%-10s %8d %6d %9.3f %12.0f\n", "medallion", o, p, s, o/s}'
awk -v e="$e_secs" -v m="$m_secs" 'BEGIN {printf "edlforge / medallion objects/s: %.1fx\n", m/e}'
echo "edlforge RSS: idle $((rss_before / 1024)) MiB; peak while 10 clients page through: $((peak / 1024)) MiB (VmHWM $((hwm / 1024)) MiB)"
