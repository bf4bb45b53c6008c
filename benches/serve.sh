#!/usr/bin/env bash
# Benchmark: `edlforge serve` against nginx serving the same compiled ~5 MB list on 127.0.0.1,
# with wrk, over plain HTTP and over TLS (the same certificate and key for both servers).
#
#   benches/serve.sh             prints its inputs, versions and a results table
#   LINES=N                      lines given to scripts/gen-ip.py (default 278000, ~5 MB list)
#   DURATION=10s CONNS=64        wrk duration and connections of the single-kind rows
#   MIX_CONNS=1000               connections of the poll-mix rows ("1k firewalls")
#   WRK_TIMEOUT=10s              wrk --timeout (a slower answer counts as an error, no latency)
#   ONLY='plain mix'             run only the rows matching this regex ("plain full", "tls 304"...)
#   EDLFORGE_BIN=path            use this binary instead of building target/release/edlforge
#
# Rows, each run against edlforge and then nginx, plain HTTP then TLS (wrk -t2 --latency):
#   full GET       GET /lists/pa, no Accept-Encoding: the ~5 MB identity body
#   gzip GET       Accept-Encoding: gzip: edlforge's precompressed copy, nginx gzip_static (.gz, -9)
#   304            If-None-Match: the server's own identity ETag (fetched with curl first)
#   poll mix       MIX_CONNS connections; a fixed cycle per wrk thread: 9 of 10 requests are
#                  conditional (304), 1 of 10 a full identity fetch; every 4th request carries
#                  `Connection: close`, so the server closes and wrk opens a new connection
#                  (a new TCP connection, and a new TLS handshake on the TLS rows)
#
# nginx (Debian) runs in the foreground from a temporary prefix: workers = nproc, sendfile,
# tcp_nopush, open_file_cache, gzip_static on a `gzip -9 -n` copy of the exact bytes edlforge
# serves, etag on, access_log off, keepalive_requests raised so neither server closes keep-alive
# connections during a run (edlforge never does). Both TLS servers use one ECDSA P-256 leaf from a
# throw-away local CA made here with openssl, TLS 1.2 + 1.3.
#
# wrk and the servers share the machine's cores: the absolute numbers are those of a loaded
# 2-core box; the ratio edlforge/nginx is the figure of merit (target >= 1.2 on every row).
# Loopback only; every process started here is stopped on exit. About 4 minutes in all.
set -euo pipefail
cd -- "$(dirname -- "$0")/.."
LINES=${LINES:-278000}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
MIX_CONNS=${MIX_CONNS:-1000}
WRK_TIMEOUT=${WRK_TIMEOUT:-10s}
ONLY=${ONLY:-}
SEED=4242
for v in LINES CONNS MIX_CONNS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer" >&2; exit 1; }
done
for t in wrk nginx openssl curl python3 gzip nstat bc /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "needs $t (apt-get install -y wrk nginx openssl curl)" >&2; exit 1; }
done
if [[ -n ${EDLFORGE_BIN:-} ]]; then bin=$EDLFORGE_BIN; else cargo build --release -q; bin=$PWD/target/release/edlforge; fi
ncpu=$(nproc)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/edlforge-serve-bench.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_url() { # url [curl args...]: wait up to 60 s for a 200
  local u=$1; shift
  for _ in $(seq 600); do curl -fsS -o /dev/null "$@" "$u" 2>/dev/null && return 0; sleep 0.1; done
  echo "no answer from $u" >&2; return 1
}
header() { # file name: value of a response header in a curl -D dump
  tr -d '\r' < "$1" | awk -v h="$(echo "$2" | tr 'A-Z' 'a-z')" 'BEGIN{FS=": "} tolower($1)==h {print substr($0, length($1)+3)}' | tail -1
}

# ---- versions and inputs --------------------------------------------------------------------
echo "== inputs"
echo "date:      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "edlforge:  $("$bin" --version 2>&1 | head -1), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet -- src 2>/dev/null || echo ' (src/ modified)'), binary $bin"
echo "nginx:     $(nginx -v 2>&1)"
echo "wrk:       $(wrk -v 2>&1 | head -1 || true)"
echo "openssl:   $(openssl version)"
echo "kernel:    $(uname -sr), $ncpu CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "list:      scripts/gen-ip.py $SEED $LINES -> file source -> [[list]] vendor plain"
echo "wrk:       -t2 -c$CONNS -d$DURATION --timeout $WRK_TIMEOUT --latency (poll mix: -c$MIX_CONNS)"
echo "loadavg:   $(cut -d' ' -f1-3 /proc/loadavg) (other processes on this machine compete for the CPUs)"

# ---- list source, certificate ---------------------------------------------------------------
python3 scripts/gen-ip.py "$SEED" "$LINES" "$tmp/big.txt"
mkdir -p "$tmp/pki"
(
  cd "$tmp/pki"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
    -out ca.pem -days 2 -subj "/CN=edlforge bench CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key \
    -out leaf.csr -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' > leaf.ext
  openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile leaf.ext -out leaf.pem 2>/dev/null
)
ca=$tmp/pki/ca.pem

# ---- edlforge: one process with TLS, one without (TLS is server-wide) -------------------------
EP=$(free_port); ES=$(free_port)
start_edlforge() { # dir tls-lines port
  mkdir -p "$tmp/$1"
  cat > "$tmp/$1/feeds.toml" <<TOML
[store]
data_dir = "data"
[server]
$2
max_connections = 4096
max_connections_per_client = 4096
[[source]]
name = "big"
path = "$tmp/big.txt"
type = "ip"
[[list]]
name = "pa"
vendor = "plain"
sources = ["big"]
max_entries = 10000000
TOML
  RUST_LOG=warn "$bin" serve --config "$tmp/$1/feeds.toml" --listen "127.0.0.1:$3" 2>"$tmp/$1/stderr" &
  pids+=($!)
}
start_edlforge edl-plain 'tls = "off"' "$EP"
EDL_PLAIN_PID=$!
start_edlforge edl-tls "tls_cert = \"$tmp/pki/leaf.pem\"
tls_key = \"$tmp/pki/leaf.key\"" "$ES"
EDL_TLS_PID=$!
wait_url "http://127.0.0.1:$EP/lists/pa"
wait_url "https://127.0.0.1:$ES/lists/pa" --cacert "$ca"

mkdir -p "$tmp/www/lists"
curl -fsS -D "$tmp/edl.h" -o "$tmp/www/lists/pa" "http://127.0.0.1:$EP/lists/pa"
curl -fsS --cacert "$ca" -o "$tmp/served-tls" "https://127.0.0.1:$ES/lists/pa"
cmp -s "$tmp/www/lists/pa" "$tmp/served-tls" || { echo "edlforge plain and TLS serve different bytes" >&2; exit 1; }
size=$(stat -c %s "$tmp/www/lists/pa")
clen=$(header "$tmp/edl.h" content-length)
[[ $clen == "$size" ]] || { echo "Content-Length $clen but $size bytes received" >&2; exit 1; }
(( size > 4500000 && size < 5500000 )) || { echo "list is $size bytes, not ~5 MB: adjust LINES" >&2; exit 1; }
gzip -9 -n -c "$tmp/www/lists/pa" > "$tmp/www/lists/pa.gz"
edl_gz=$(curl -fsS -H 'Accept-Encoding: gzip' -o - "http://127.0.0.1:$EP/lists/pa" | wc -c)
echo "served:    $(wc -l < "$tmp/www/lists/pa") lines, Content-Length $clen bytes ($(header "$tmp/edl.h" content-type)); gzip: edlforge $edl_gz bytes, nginx .gz (gzip -9) $(stat -c %s "$tmp/www/lists/pa.gz") bytes"

# ---- nginx ----------------------------------------------------------------------------------
NP=$(free_port); NS=$(free_port)
mkdir -p "$tmp/nginx/logs"
chmod 755 "$tmp" "$tmp/www" "$tmp/www/lists" "$tmp/pki"
chmod 644 "$tmp/www/lists/"*
user_line=""; [[ $(id -u) == 0 ]] && user_line="user nobody nogroup;"
cat > "$tmp/nginx/nginx.conf" <<NGINX
$user_line
worker_processes $ncpu;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 8192; }
http {
    types { text/plain txt; }
    default_type text/plain;
    charset utf-8;
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 10000000;
    open_file_cache max=64 inactive=60s;
    open_file_cache_valid 60s;
    etag on;
    gzip_static on;
    gzip_vary on;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    server {
        listen 127.0.0.1:$NP;
        root $tmp/www;
        add_header Cache-Control no-cache;
    }
    server {
        listen 127.0.0.1:$NS ssl;
        root $tmp/www;
        ssl_certificate $tmp/pki/leaf.pem;
        ssl_certificate_key $tmp/pki/leaf.key;
        add_header Cache-Control no-cache;
    }
}
NGINX
nginx -t -q -e "$tmp/nginx/logs/error.log" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf"
nginx -e "$tmp/nginx/logs/error.log" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
pids+=($!)
wait_url "http://127.0.0.1:$NP/lists/pa"
wait_url "https://127.0.0.1:$NS/lists/pa" --cacert "$ca"
curl -fsS --cacert "$ca" -o "$tmp/nginx-body" "https://127.0.0.1:$NS/lists/pa"
cmp -s "$tmp/nginx-body" "$tmp/www/lists/pa" || { echo "nginx serves different bytes" >&2; exit 1; }

# ETags and negotiated TLS parameters of each server (each server's own ETag for its 304 row).
declare -A URL ETAG
URL[edlforge,plain]=http://127.0.0.1:$EP/lists/pa
URL[edlforge,tls]=https://127.0.0.1:$ES/lists/pa
URL[nginx,plain]=http://127.0.0.1:$NP/lists/pa
URL[nginx,tls]=https://127.0.0.1:$NS/lists/pa
echo "== servers"
for s in edlforge nginx; do
  for t in plain tls; do
    curl -fsS --cacert "$ca" -D "$tmp/h" -o /dev/null "${URL[$s,$t]}"
    ETAG[$s,$t]=$(header "$tmp/h" etag)
    curl -fsS --cacert "$ca" -D "$tmp/hg" -o /dev/null -H 'Accept-Encoding: gzip' "${URL[$s,$t]}"
    code=$(curl -sS --cacert "$ca" -o /dev/null -w '%{http_code}' -H "If-None-Match: ${ETAG[$s,$t]}" "${URL[$s,$t]}")
    [[ $code == 304 ]] || { echo "$s $t: If-None-Match gave $code, not 304" >&2; exit 1; }
    printf '%-9s %-5s %s  ETag %s  gzip: %s, ETag %s; If-None-Match -> %s\n' "$s" "$t" "${URL[$s,$t]}" \
      "${ETAG[$s,$t]}" "$(header "$tmp/hg" content-encoding)" "$(header "$tmp/hg" etag)" "$code"
  done
  port=$([[ $s == edlforge ]] && echo "$ES" || echo "$NS")
  echo | openssl s_client -connect "127.0.0.1:$port" -CAfile "$ca" -servername localhost 2>/dev/null \
    | awk -v s="$s" '/^ *Protocol *:|^ *Cipher *:|^New, /{sub(/^ +/,""); printf "%-9s tls   %s\n", s, $0}' | sort -u
done

# ---- wrk scripts ----------------------------------------------------------------------------
cat > "$tmp/report.lua" <<'LUA'
-- Shared by every row: one machine-readable line at the end of a run.
function done(summary, latency, requests)
  local s = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f bytes_per_req=%.0f requests=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests / s, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.bytes / math.max(summary.requests, 1), summary.requests,
    e.connect, e.read, e.write, e.status, e.timeout))
end
LUA
# Static headers from the environment (HDR_NAME / HDR_VALUE, optional): one fixed request.
cat > "$tmp/static.lua" <<'LUA'
dofile(os.getenv("REPORT_LUA"))
local n, v = os.getenv("HDR_NAME"), os.getenv("HDR_VALUE")
if n and n ~= "" then wrk.headers[n] = v end
LUA
# Poll mix: a fixed cycle per connection-thread, no randomness (reproducible).
cat > "$tmp/mix.lua" <<'LUA'
dofile(os.getenv("REPORT_LUA"))
local etag = os.getenv("ETAG")
local reqs, n
function init(args)
  n = 0
  reqs = {
    cond    = wrk.format("GET", nil, { ["If-None-Match"] = etag }),
    cond_cl = wrk.format("GET", nil, { ["If-None-Match"] = etag, ["Connection"] = "close" }),
    full    = wrk.format("GET", nil, {}),
    full_cl = wrk.format("GET", nil, { ["Connection"] = "close" }),
  }
end
function request()
  n = n + 1
  local full = (n % 10 == 0)   -- 1 in 10: full identity fetch; else If-None-Match -> 304
  local close = (n % 4 == 0)   -- 1 in 4: Connection: close -> a new connection next
  if full then return close and reqs.full_cl or reqs.full end
  return close and reqs.cond_cl or reqs.cond
end
LUA
export REPORT_LUA=$tmp/report.lua

# Per run, besides wrk's own figures: CPU time the server used (edlforge: its process; nginx:
# master and workers) and wrk used, the CPU share of everything else on the machine (other
# people's builds: the noise), and the kernel's listen-queue overflow count.
jiffies() { # pids...: utime+stime, in clock ticks
  local t=0 p
  for p in "$@"; do
    [[ -r /proc/$p/stat ]] && t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$t"
}
# busy = user+nice+system+steal (irq and softirq time belongs to no process, so it is left out).
cpu_total() { awk '/^cpu /{b=$2+$3+$4+$9; print b, b+$5+$6+$7+$8}' /proc/stat; }
overflows() { nstat -az TcpExtListenOverflows 2>/dev/null | awk '/ListenOverflows/{print $2}' || echo 0; }
server_pids() { # edlforge|nginx transport
  if [[ $1 == edlforge ]]; then
    [[ $2 == plain ]] && echo "$EDL_PLAIN_PID" || echo "$EDL_TLS_PID"
  else
    echo "$NGINX_PID" $(pgrep -P "$NGINX_PID")
  fi
}
HZ=$(getconf CLK_TCK)
declare -A RES
run_wrk() { # key conns script url [env...]
  local key=$1 conns=$2 script=$3 url=$4; shift 4
  local out sp s0 s1 b0 t0 b1 t1 o0 o1 w
  sp=$(server_pids "${key%%,*}" "$(cut -d, -f2 <<<"$key")")
  s0=$(jiffies $sp); read -r b0 t0 < <(cpu_total); o0=$(overflows)
  out=$(env "$@" /usr/bin/time -f 'WRKCPU %U %S' -o "$tmp/wrk.time" \
    wrk -t2 -c"$conns" -d"$DURATION" --timeout "$WRK_TIMEOUT" --latency -s "$script" "$url" 2>&1) \
    || { echo "$out" >&2; exit 1; }
  s1=$(jiffies $sp); read -r b1 t1 < <(cpu_total); o1=$(overflows)
  w=$(awk '/^WRKCPU/{printf "%d", ($2 + $3) * '"$HZ"'}' "$tmp/wrk.time")
  echo "---- $key: wrk -t2 -c$conns -d$DURATION --timeout $WRK_TIMEOUT --latency -s $(basename "$script") $url $*"
  echo "$out"
  local srv_cpu others
  srv_cpu=$(echo "($s1 - $s0) / $HZ" | bc -l)
  others=$(echo "100 * (($b1 - $b0) - ($s1 - $s0) - $w) / ($t1 - $t0)" | bc -l)
  printf 'CPU: server %.2f s, wrk %.2f s, everything else %.0f%% of all CPUs; listen overflows +%d\n' \
    "$srv_cpu" "$(echo "$w / $HZ" | bc -l)" "$others" "$((o1 - o0))"
  RES[$key]="$(grep '^RESULT' <<<"$out") srv_cpu=$srv_cpu others_pct=$others overflows=$((o1 - o0))"
}
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"${RES[$1]} "; }

echo "== wrk runs"
# Row by row, edlforge then nginx, so that load from other processes on the machine falls on
# both servers alike; the load average is printed before each run.
for t in plain tls; do
  for r in full gzip 304 mix; do
    for s in edlforge nginx; do
      [[ -z $ONLY || "$t $r" =~ $ONLY ]] || continue
      u=${URL[$s,$t]}
      echo "loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)"
      case $r in
        full) run_wrk "$s,$t,$r" "$CONNS" "$tmp/static.lua" "$u";;
        gzip) run_wrk "$s,$t,$r" "$CONNS" "$tmp/static.lua" "$u" HDR_NAME=Accept-Encoding HDR_VALUE=gzip;;
        304)  run_wrk "$s,$t,$r" "$CONNS" "$tmp/static.lua" "$u" HDR_NAME=If-None-Match "HDR_VALUE=${ETAG[$s,$t]}";;
        mix)  run_wrk "$s,$t,$r" "$MIX_CONNS" "$tmp/mix.lua" "$u" "ETAG=${ETAG[$s,$t]}";;
      esac
    done
  done
done

# ---- table ----------------------------------------------------------------------------------
row_name() {
  case $2 in
    full) echo "$1 full GET";; gzip) echo "$1 gzip GET";; 304) echo "$1 304 If-None-Match";;
    mix) echo "$1 poll mix (c=$MIX_CONNS)";;
  esac
}
echo
echo "== results: ~$((size / 1000)) kB list, 127.0.0.1, $ncpu CPUs shared by wrk, the server and other processes"
printf '%-26s %12s %9s %12s %9s %7s %7s\n' row "edlforge r/s" "p99 ms" "nginx r/s" "p99 ms" "r/s x" errors
for t in plain tls; do
  for r in full gzip 304 mix; do
    [[ -n ${RES[edlforge,$t,$r]:-} && -n ${RES[nginx,$t,$r]:-} ]] || continue
    er=$(field "edlforge,$t,$r" rps); nr=$(field "nginx,$t,$r" rps)
    errs=0
    for s in edlforge nginx; do
      for f in err_connect err_read err_write err_status err_timeout; do
        errs=$((errs + $(field "$s,$t,$r" $f)))
      done
    done
    printf '%-26s %12.0f %9.2f %12.0f %9.2f %6.2fx %7s\n' "$(row_name "$t" "$r")" \
      "$er" "$(field "edlforge,$t,$r" p99_ms)" "$nr" "$(field "nginx,$t,$r" p99_ms)" \
      "$(echo "$er / $nr" | bc -l)" "$errs"
  done
done
echo "(r/s x = edlforge requests/s / nginx requests/s; target >= 1.20 on every row."
echo " errors = wrk connect/read/write errors, timeouts (> $WRK_TIMEOUT) and non-2xx/3xx answers, both servers.)"
echo
echo "== server CPU per 1000 requests (less sensitive to other load than r/s) and the noise"
printf '%-26s %14s %14s %9s %14s %14s\n' row "edlforge ms" "nginx ms" "nginx/edl" "others % e/n" "overflows e/n"
for t in plain tls; do
  for r in full gzip 304 mix; do
    [[ -n ${RES[edlforge,$t,$r]:-} && -n ${RES[nginx,$t,$r]:-} ]] || continue
    ec=$(echo "1000000 * $(field "edlforge,$t,$r" srv_cpu) / $(field "edlforge,$t,$r" requests)" | bc -l)
    nc=$(echo "1000000 * $(field "nginx,$t,$r" srv_cpu) / $(field "nginx,$t,$r" requests)" | bc -l)
    printf '%-26s %14.1f %14.1f %8.2fx %6.0f / %-5.0f %6d / %-6d\n' "$(row_name "$t" "$r")" "$ec" "$nc" \
      "$(echo "$nc / $ec" | bc -l)" "$(field "edlforge,$t,$r" others_pct)" "$(field "nginx,$t,$r" others_pct)" \
      "$(field "edlforge,$t,$r" overflows)" "$(field "nginx,$t,$r" overflows)"
  done
done
echo "(ms = server CPU seconds x 1e6 / requests: user+system time of edlforge's process, of nginx's"
echo " master and workers. others % = share of all CPUs used by processes other than the server and"
echo " wrk during the run. overflows = kernel TcpExtListenOverflows during the run.)"
