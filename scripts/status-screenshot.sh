#!/usr/bin/env bash
# A headless Chromium screenshot of `edlforge serve`'s status page (`/`), 1280 px wide, with a
# few lists (one behind basic auth), a failing network source, and some polls made with curl
# first (with and without credentials) so the poll columns have something to show.
#
#   scripts/status-screenshot.sh [OUT.png]    default docs/status-page.png
#   EDLFORGE_BIN=path                         use this binary instead of target/release/edlforge
#
# Also runs `promtool check metrics` (Debian prometheus) on /metrics, with every kind of label the
# polls above produced. The server runs with tls = "auto" (its own self-signed certificate, as a
# default install does; Chromium is told to ignore that it is untrusted). Needs Debian's chromium
# (apt-get install -y chromium). Loopback only; the failing source points at 127.0.0.1:9 (discard
# port, nothing listens). Everything started here is stopped on exit.
set -euo pipefail
cd -- "$(dirname -- "$0")/.."
out=${1:-docs/status-page.png}
command -v chromium >/dev/null || { echo "needs chromium: apt-get install -y chromium" >&2; exit 1; }
if [[ -n ${EDLFORGE_BIN:-} ]]; then bin=$EDLFORGE_BIN; else cargo build --release -q; bin=$PWD/target/release/edlforge; fi
mkdir -p "$(dirname -- "$out")"
out=$(cd "$(dirname -- "$out")" && pwd)/$(basename -- "$out")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/edlforge-status.XXXXXX")
server=""
cleanup() { [[ -n $server ]] && { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; }; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 scripts/gen-ip.py 7 2000 "$tmp/ips.txt"
printf 'evil.example\nphish.example.net\nbad.example.org\n' > "$tmp/domains.txt"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
cat > "$tmp/feeds.toml" <<'TOML'
[store]
data_dir = "data"
[server]
tls = "auto"
[defaults]
refresh = "15m"
timeout = "2s"
retries = 0
[[source]]
name = "local-ips"
path = "ips.txt"
type = "ip"
[[source]]
name = "local-domains"
path = "domains.txt"
type = "domain"
[[source]]
name = "unreachable-feed"
url = "http://127.0.0.1:9/x"
type = "ip"
[[list]]
name = "pa-ip"
vendor = "panos"
types = ["ip"]
sources = ["local-ips", "unreachable-feed"]
[[list]]
name = "fg-domains"
vendor = "fortigate"
types = ["domain"]
sources = ["local-domains"]
auth = "basic"
users = [{ name = "fw-hq", password = "${env:FW_HQ}" }]
[[list]]
name = "only-unreachable"
vendor = "plain"
types = ["ip"]
sources = ["unreachable-feed"]
TOML
export FW_HQ=s3cret-bench-pass
"$bin" serve --config "$tmp/feeds.toml" --listen "127.0.0.1:$port" 2>"$tmp/stderr" &
server=$!
base=https://127.0.0.1:$port
ca=$tmp/data/tls/self-signed.pem   # tls = "auto": edlforge's own self-signed certificate
for _ in $(seq 300); do [[ -s $ca ]] && curl -fsS -o /dev/null --cacert "$ca" "$base/lists/pa-ip" 2>/dev/null && break; sleep 0.1; done
curl() { command curl --cacert "$ca" "$@"; }
sleep 3 # let the failing source's first attempt land

echo "== polls"
poll() { printf '%-58s -> %s\n' "$*" "$(curl -sS -o /dev/null -w '%{http_code}' "$@")"; }
poll "$base/lists/pa-ip"
etag=$(curl -sS -D - -o /dev/null "$base/lists/pa-ip" | tr -d '\r' | awk 'tolower($1)=="etag:"{print $2}')
poll -H "If-None-Match: $etag" "$base/lists/pa-ip"
poll -H 'Accept-Encoding: gzip' "$base/lists/pa-ip"
poll "$base/lists/fg-domains"
poll -u "fw-hq:wrong" "$base/lists/fg-domains"
poll -u "fw-hq:$FW_HQ" "$base/lists/fg-domains"
poll -u "fw-hq:$FW_HQ" "$base/lists/fg-domains"
poll "$base/lists/only-unreachable"
poll "$base/lists/no-such-list"
poll "$base/readyz"

chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$tmp/chrome" --hide-scrollbars --window-size=1280,1000 \
  --ignore-certificate-errors \
  --screenshot="$out" "$base/" >/dev/null 2>"$tmp/chrome.log" \
  || { cat "$tmp/chrome.log" >&2; exit 1; }
echo "screenshot: $out"
curl -sS "$base/status.json" > "$tmp/status.json"
echo "== /status.json"; cat "$tmp/status.json"
echo "== curl -s $base/metrics | promtool check metrics"
rc=0; curl -sS "$base/metrics" | promtool check metrics 2>&1 || rc=$?
echo "(promtool exit status $rc)"
echo "== server log"; cat "$tmp/stderr"
