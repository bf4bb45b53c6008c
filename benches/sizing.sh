#!/usr/bin/env bash
# Sizing: how many polling firewalls one `edlforge serve` holds, with the load firewalls make.
#
#   benches/sizing.sh [BIN]        BIN defaults to target/release/edlforge (build it first)
#
# A firewall opens a new TLS connection for every poll (minutes apart, no keep-alive) and asks
# with If-None-Match; the list changes far less often than it polls. So both rows put every
# request on a new TLS connection (`Connection: close`; TLS 1.3, ECDSA P-256):
#   304 poll   every request conditional -> 304
#   poll mix   1 request in 12 a full fetch of the list, the rest 304 (a list that changes every
#              hour, polled every 5 minutes)
# The list: LINES (default 50,000, PAN-OS's default cap) single IPv4 addresses, none adjacent,
# so none merge. wrk -t2 -cCONNS (default 200) -dDURATION (default 10s), loopback only, on the
# same machine as the server (the absolute numbers are those of that machine, load included).
# Prints requests/s and what that means in firewalls polling 4 lists every 5 minutes.
# Every process started here is stopped on exit. Needs wrk, openssl, curl.
set -euo pipefail
cd -- "$(dirname -- "$0")/.."
BIN=${1:-target/release/edlforge}
LINES=${LINES:-50000}
CONNS=${CONNS:-200}
DURATION=${DURATION:-10s}
for t in wrk openssl curl; do command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 1; }; done
[ -x "$BIN" ] || { echo "no $BIN: cargo build --release" >&2; exit 1; }

tmp=$(mktemp -d)
srv=""
cleanup() { [ -n "$srv" ] && kill "$srv" 2>/dev/null; wait 2>/dev/null; rm -rf -- "$tmp"; }
trap cleanup EXIT

mkdir -p "$tmp/lists"
# 81.0.0.0 upwards, every other address: LINES addresses that never merge into a network.
awk -v n="$LINES" 'BEGIN { for (i = 0; i < n; i++) { a = 2 * i; printf "81.%d.%d.%d\n", int(a / 65536) % 256, int(a / 256) % 256, a % 256 } }' > "$tmp/lists/block.txt"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$tmp/tls.key" -out "$tmp/tls.pem" 2>/dev/null
cat > "$tmp/feeds.toml" <<'TOML'
[server]
tls_cert = "tls.pem"
tls_key = "tls.key"

[[source]]
name = "block"
path = "lists/block.txt"

[[list]]
name = "pa"
vendor = "panos"
types = ["ip"]
TOML

(cd "$tmp" && RUST_LOG=warn exec "$OLDPWD/$BIN" serve --config feeds.toml --listen 127.0.0.1:0 2> "$tmp/serve.log") &
srv=$!
url=""
for _ in $(seq 1 300); do
    url=$(sed -n 's/^edlforge: listening on //p' "$tmp/serve.log" | head -1)
    [ -n "$url" ] && curl -sfk -o /dev/null "$url/lists/pa" && break
    sleep 0.2
done
[ -n "$url" ] || { echo "server did not start:"; cat "$tmp/serve.log"; exit 1; } >&2
etag=$(curl -sk -D - -o "$tmp/body" "$url/lists/pa" | tr -d '\r' | sed -n 's/^etag: //Ip')
echo "edlforge $("$BIN" --version | awk '{print $2}'), list: $(wc -l < "$tmp/body") lines, $(wc -c < "$tmp/body") bytes, ETag $etag"
echo "wrk -t2 -c$CONNS -d$DURATION, every request on a new TLS connection; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

cat > "$tmp/poll.lua" <<'LUA'
local etag = os.getenv("ETAG")
local every = tonumber(os.getenv("FULL_EVERY") or "0")
local n = 0
local cond, full
function init(args)
  cond = wrk.format("GET", nil, { ["If-None-Match"] = etag, ["Connection"] = "close" })
  full = wrk.format("GET", nil, { ["Connection"] = "close" })
end
function request()
  n = n + 1
  if every > 0 and n % every == 0 then return full end
  return cond
end
function done(summary, latency, requests)
  local s = summary.duration / 1e6
  io.write(string.format("RESULT %.0f req/s, p99 %.0f ms, errors %d\n",
    summary.requests / s, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
end
LUA

row() { # name FULL_EVERY
    local out rps
    out=$(ETAG="$etag" FULL_EVERY="$2" wrk -t2 -c"$CONNS" -d"$DURATION" --timeout 10s \
        -s "$tmp/poll.lua" "$url/lists/pa" | grep '^RESULT')
    rps=$(echo "$out" | awk '{print $2}')
    printf '%-10s %s; firewalls polling 4 lists every 5 min at that rate: %s\n' "$1" "${out#RESULT }" \
        "$(awk -v r="$rps" 'BEGIN { printf "%d", r * 300 / 4 }')"
}
row "304 poll" 0
row "poll mix" 12
