#!/usr/bin/env bash
# testssl.sh (Debian `testssl.sh`, command `testssl`) against `edlforge serve`'s TLS listener on
# 127.0.0.1, twice:
#   ca    tls_cert = a leaf for localhost/127.0.0.1 (+ the CA, as a chain) from a throw-away local
#         CA made here with openssl (1 year), given to testssl with --add-ca: the trust checks have
#         a real chain to judge, so what remains is about the server, not the certificate
#   auto  no tls_cert: edlforge's own self-signed certificate (tls = "auto", made in data_dir/tls/),
#         itself given to testssl with --add-ca: what a default installation presents
#
#   benches/testssl.sh OUT_DIR   writes OUT_DIR/testssl-{ca,auto}.{log,json} (full log, flat
#                                JSON) and prints the findings by severity of each pass
#   PASSES="ca auto"             which passes to run
#   EDLFORGE_BIN=path            use this binary instead of building target/release/edlforge
#
# Loopback only; each server is stopped after its pass. About 2-3 minutes a pass.
set -euo pipefail
cd -- "$(dirname -- "$0")/.."
out=${1:?usage: benches/testssl.sh OUT_DIR}
PASSES=${PASSES:-ca auto}
mkdir -p "$out"; out=$(cd "$out" && pwd)
command -v testssl >/dev/null || { echo "needs testssl: apt-get install -y testssl.sh" >&2; exit 1; }
if [[ -n ${EDLFORGE_BIN:-} ]]; then bin=$EDLFORGE_BIN; else cargo build --release -q; bin=$PWD/target/release/edlforge; fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/edlforge-testssl.XXXXXX")
server=""
stop_server() { [[ -n $server ]] && { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; }; server=""; }
cleanup() { stop_server; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "edlforge: $("$bin" --version 2>&1 | head -1), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet -- src 2>/dev/null || echo ' (src/ modified)'), binary $bin"
echo "testssl:  $(testssl --version 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' | grep -m1 -o 'testssl *[0-9][^ ]*')"
echo "openssl:  $(openssl version)"

(
  cd "$tmp"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
    -out ca.pem -days 730 -subj "/CN=edlforge test CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key \
    -out leaf.csr -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' > leaf.ext
  openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 \
    -extfile leaf.ext -out leaf.pem 2>/dev/null
  # Full chain (leaf then CA) as a deployment would serve it.
  cat leaf.pem ca.pem > chain.pem
  printf '10.0.0.1\n192.0.2.0/24\n' > list.txt
)

scan() { # pass
  local pass=$1 dir=$tmp/$1 tls_lines trust leaf port
  mkdir -p "$dir"
  case $pass in
    ca)   tls_lines="tls_cert = \"$tmp/chain.pem\""$'\n'"tls_key = \"$tmp/leaf.key\""; trust=$tmp/ca.pem; leaf=$tmp/leaf.pem;;
    auto) tls_lines='tls = "auto"'; trust=$dir/data/tls/self-signed.pem; leaf=$trust;;
    *) echo "unknown pass $pass" >&2; exit 1;;
  esac
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  cat > "$dir/feeds.toml" <<TOML
[store]
data_dir = "data"
[server]
$tls_lines
[[source]]
name = "local"
path = "$tmp/list.txt"
type = "ip"
[[list]]
name = "pa"
vendor = "panos"
types = ["ip"]
sources = ["local"]
TOML
  "$bin" serve --config "$dir/feeds.toml" --listen "127.0.0.1:$port" 2>"$dir/stderr" &
  server=$!
  for _ in $(seq 300); do
    [[ -s $trust ]] && curl -fsS -o /dev/null --cacert "$trust" "https://127.0.0.1:$port/lists/pa" 2>/dev/null && break
    sleep 0.1
  done
  curl -fsS -o /dev/null --cacert "$trust" "https://127.0.0.1:$port/lists/pa" \
    || { echo "edlforge did not answer; its log:" >&2; cat "$dir/stderr" >&2; exit 1; }
  echo
  echo "==== pass $pass: leaf $(openssl x509 -in "$leaf" -noout -subject -issuer -startdate -enddate | tr '\n' ' ')"
  rm -f "$out/testssl-$pass.log" "$out/testssl-$pass.json"
  # --ip 127.0.0.1: only the IPv4 loopback (localhost also resolves to ::1, where nothing listens).
  testssl --quiet --color 0 --warnings off --ip 127.0.0.1 --add-ca "$trust" \
    --logfile "$out/testssl-$pass.log" --jsonfile "$out/testssl-$pass.json" \
    "https://localhost:$port/lists/pa" >/dev/null 2>&1 || true
  stop_server
  [[ -s $out/testssl-$pass.json ]] || { echo "testssl wrote no JSON; see $out/testssl-$pass.log" >&2; exit 1; }
  echo "findings by severity (testssl-$pass.json; OK and INFO counted only):"
  python3 - "$out/testssl-$pass.json" <<'PY'
import json, sys, collections
items = json.load(open(sys.argv[1]))
by = collections.defaultdict(list)
for f in items:
    by[f.get("severity", "?")].append(f)
order = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "WARN", "INFO", "OK", "FATAL", "DEBUG"]
for sev in order + sorted(set(by) - set(order)):
    fs = by.get(sev, [])
    print(f"  {sev:9} {len(fs)}")
    if sev in ("OK", "INFO", "DEBUG"):
        continue
    for f in fs:
        print(f"      {f['id']}: {f.get('finding', '')}")
PY
}

for p in $PASSES; do scan "$p"; done
