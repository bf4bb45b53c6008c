#!/usr/bin/env bash
# Benchmark: several `edlforge serve` replicas on one PostgreSQL database (issue 13's figures),
# everything on 127.0.0.1: a throwaway PostgreSQL cluster, a static feed server
# (`python3 -m http.server`), REPLICAS replicas sharing one feeds.toml and one lists/ folder,
# each with its own `--data-dir`.
#
#   benches/replicas.sh            prints its inputs, versions, every round and a summary
#   REPLICAS=3                     replicas of the takeover, propagation and wrk phases (>= 2)
#   TAKEOVERS=10 EDITS=20          kill -9 rounds; lists/ edits
#   POLL_MS=50                     poll period of the takeover and propagation waits
#   DURATION=8s CONNS=120 WRK_ROUNDS=3
#                                  wrk per run; connections in all (split over the replicas
#                                  loaded); rounds of the 1..REPLICAS runs (alternating order)
#   BIG_LINES=1000000 BIG_ROUNDS=5 BIG_REPLICAS=2
#                                  the 1M-entry list: input lines (scripts/gen-ip.py seed 4242),
#                                  changes per backend (interleaved), replicas on PostgreSQL
#   EDLFORGE_BIN=path              use this binary instead of building target/release/edlforge
#   EDLFORGE_PG_BIN=dir            PostgreSQL server binaries (default /usr/lib/postgresql/15/bin)
#   KEEP_LOGS=dir                  copy every replica's log and PostgreSQL's there before cleaning up
#
# 1. Takeover: kill -9 of the leader, then every POLL_MS each survivor's /status.json, until one
#    says "role": "leader"; then until its /metrics shows `edlforge_cycle_success 1` (its first
#    cycle as leader: fetch of the feed, compile; a follower runs none). Every list answer
#    meanwhile must be 200 with the ETag served before (counted as "bad" otherwise). The killed
#    replica is started again (same data_dir, same port) and the next round waits for one leader.
# 2. Propagation: lists/block.txt replaced (write + rename) by a new content each round; time
#    until one replica (the leader) and until every replica serves the new ETag of list `pa`.
#    Includes the server's 250 ms quiet period after a file event.
# 3. Requests/s of a poll mix against 1..REPLICAS replicas: one wrk per replica loaded, at once,
#    summed; per wrk thread a fixed cycle over three lists, 9 of 10 requests If-None-Match (304),
#    1 of 10 a full GET, every 4th `Connection: close` (as benches/serve.sh). wrk and the
#    replicas share this machine's CPUs: this shows what more processes on one box give, not
#    what more machines would.
# 4. A 1M-entry list (file source) changed, BIG_ROUNDS times per backend, interleaved: the
#    embedded store (one serve) against PostgreSQL (BIG_REPLICAS replicas), the same input
#    files; time from the rename until each replica serves the new ETag, and from the leader's
#    log, when it served the list itself ("List published.") and when the database transaction
#    committed ("List published to the database."), and from each follower's, when it swapped
#    the new version in ("List followed from the leader."). Then, roughly, where a follower's
#    time goes: reading the version (psql) and gzip level 6 of the body (zlib, in Python).
#
# PostgreSQL runs with its defaults (fsync on) apart from address, port and socket folder.
# initdb and postgres refuse to run as root: as root they run as the `postgres` user, in a
# folder under /tmp handed to it. Loopback only; everything started here is stopped on exit
# (trap). About 4-6 minutes on a loaded 2-core machine; every wait is bounded.
set -euo pipefail
cd -- "$(dirname -- "$0")/.."
REPLICAS=${REPLICAS:-3}
TAKEOVERS=${TAKEOVERS:-10}
EDITS=${EDITS:-20}
POLL_MS=${POLL_MS:-50}
DURATION=${DURATION:-8s}
CONNS=${CONNS:-120}
WRK_ROUNDS=${WRK_ROUNDS:-3}
BIG_LINES=${BIG_LINES:-1000000}
BIG_ROUNDS=${BIG_ROUNDS:-5}
BIG_REPLICAS=${BIG_REPLICAS:-2}
PGBIN=${EDLFORGE_PG_BIN:-/usr/lib/postgresql/15/bin}
LIMIT=60  # seconds: the bound of every wait (for failure, not speed)
SEED=4242
for v in REPLICAS TAKEOVERS EDITS POLL_MS CONNS WRK_ROUNDS BIG_LINES BIG_ROUNDS BIG_REPLICAS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer" >&2; exit 1; }
done
((REPLICAS >= 2 && BIG_REPLICAS >= 2)) || { echo "REPLICAS and BIG_REPLICAS must be >= 2" >&2; exit 1; }
for t in wrk curl python3 "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/psql" $([[ $(id -u) == 0 ]] && echo runuser); do
  command -v "$t" >/dev/null || { echo "needs $t (apt-get install -y wrk curl python3 postgresql-15)" >&2; exit 1; }
done
if [[ -n ${EDLFORGE_BIN:-} ]]; then bin=$EDLFORGE_BIN; else cargo build --release -q; bin=$PWD/target/release/edlforge; fi
# The interpreter itself, not a shim (pyenv's python3 is a script that does not exec it: a kill
# of its pid would leave the feed server running).
py=$(python3 -c 'import sys; print(sys.executable)')
probe=("$py" "$PWD/benches/replicas/probe.py")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/edlforge-replicas-bench.XXXXXX")
# The cluster's folder: under /tmp, where the `postgres` user can reach it when we are root.
pgdir=$(mktemp -d /tmp/edlforge-replicas-pg.XXXXXX)
declare -A PID=()  # replica key -> pid
feed_pid=""
pg_started=""
as_pg() { # runs a PostgreSQL server binary, as `postgres` when we are root
  if [[ $(id -u) == 0 ]]; then (cd "$pgdir" && runuser -u postgres -- "$@"); else (cd "$pgdir" && "$@"); fi
}
cleanup() {
  set +e # every step runs, whatever the one before returned
  local k
  for k in "${!PID[@]}"; do kill "${PID[$k]}" 2>/dev/null || true; done
  for k in "${!PID[@]}"; do wait "${PID[$k]}" 2>/dev/null || true; done
  if [[ -n $feed_pid ]]; then kill "$feed_pid" 2>/dev/null; wait "$feed_pid" 2>/dev/null; fi
  if [[ -n ${KEEP_LOGS:-} ]]; then
    mkdir -p "$KEEP_LOGS"
    for k in "$tmp"/site "$tmp"/big-emb "$tmp"/big-pg; do
      for f in "$k"/*.log; do [[ -f $f ]] && cp "$f" "$KEEP_LOGS/$(basename "$k")-$(basename "$f")"; done
    done
    cp "$pgdir/server.log" "$KEEP_LOGS/postgresql.log"
  fi
  if [[ -n $pg_started ]]; then as_pg "$PGBIN/pg_ctl" stop -w -t 30 -m immediate -D "$pgdir/data" >/dev/null 2>&1; fi
  rm -rf "$tmp" "$pgdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
kv() { sed -n "s/.*\<$2=\([^ ]*\).*/\1/p" <<<"$1"; } # kv LINE KEY: the value of KEY=value
load() { echo "loadavg $(cut -d' ' -f1-3 /proc/loadavg)"; }
# stats: reads numbers of seconds (one a line); prints their median (of an even count: the mean
# of the two middle ones), min, max and count.
stats() {
  sort -g | awk '{v[NR]=$1} END { if (NR == 0) { print "n 0"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "median %.3f s, min %.3f s, max %.3f s (n %d)\n", m, v[1], v[NR], NR }'
}

# logtimes T0 LIST SITE LEADER_KEY KEYS...: the probe's log times of LIST after T0 (leader first),
# indented; appends "db - local" of the leader to $tmp/$5-commit and "last follower - db" to
# $tmp/$5-follow when both are there. Sets nothing else.
logtimes() {
  local t0=$1 lst=$2 dir=$3 lead=$4 tag=$5 k out first l d fmax
  shift 5
  out=$("${probe[@]}" logs "$t0" "$lst" "$dir/$lead.log" $(for k in "$@"; do if [[ $k != "$lead" ]]; then echo "$dir/$k.log"; fi; done))
  sed 's/^/  /' <<<"$out"
  first=$(head -n 1 <<<"$out")
  l=$(kv "$first" local_s); d=$(kv "$first" db_s)
  fmax=$(tail -n +2 <<<"$out" | sed -n 's/.*followed_s=\([0-9.]*\).*/\1/p' | sort -g | tail -n 1)
  if [[ -n $l && -n $d ]]; then awk -v a="$d" -v b="$l" 'BEGIN{printf "%.3f\n", a - b}' >>"$tmp/$tag-commit"; fi
  if [[ -n $d && -n $fmax ]] && (($(tail -n +2 <<<"$out" | grep -c followed_s) == $# - 1)); then
    awk -v a="$fmax" -v b="$d" 'BEGIN{printf "%.3f\n", a - b}' >>"$tmp/$tag-follow"
  fi
}

# ---- versions and inputs --------------------------------------------------------------------
echo "== inputs"
echo "date:       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "edlforge:   $("$bin" --version 2>&1 | head -1), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet -- src 2>/dev/null || echo ' (src/ modified)'), binary $bin"
echo "postgresql: $("$PGBIN/postgres" --version) ($PGBIN), defaults (fsync on)"
echo "wrk:        $(wrk -v 2>&1 | head -1 || true)"
echo "kernel:     $(uname -sr), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "uptime:    $(uptime) (other people's processes compete for the CPUs)"
echo "settings:   REPLICAS=$REPLICAS TAKEOVERS=$TAKEOVERS EDITS=$EDITS POLL_MS=$POLL_MS DURATION=$DURATION CONNS=$CONNS WRK_ROUNDS=$WRK_ROUNDS BIG_LINES=$BIG_LINES BIG_ROUNDS=$BIG_ROUNDS BIG_REPLICAS=$BIG_REPLICAS"

# ---- PostgreSQL -----------------------------------------------------------------------------
[[ $(id -u) == 0 ]] && chown postgres:postgres "$pgdir"
as_pg "$PGBIN/initdb" -D "$pgdir/data" -A trust -U postgres --no-sync -E UTF8 --locale=C >/dev/null
PGPORT=$(free_port)
as_pg "$PGBIN/pg_ctl" start -w -t 120 -D "$pgdir/data" -l "$pgdir/server.log" \
  -o "-c listen_addresses=127.0.0.1 -c port=$PGPORT -c unix_socket_directories=$pgdir" >/dev/null
pg_started=1
for db in edl big; do
  "$PGBIN/psql" -X -q -h "$pgdir" -p "$PGPORT" -U postgres -d postgres -c "CREATE DATABASE $db"
done
dburl() { echo "postgresql://postgres@127.0.0.1:$PGPORT/$1?sslmode=disable"; }

# ---- the feed -------------------------------------------------------------------------------
mkdir -p "$tmp/www"
python3 scripts/gen-ip.py "$SEED" 20000 "$tmp/www/feed.txt"
FP=$(free_port)
(cd "$tmp/www" && exec "$py" -m http.server --bind 127.0.0.1 "$FP" >/dev/null 2>&1) &
feed_pid=$!
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$FP/feed.txt" 2>/dev/null && break; sleep 0.1; done

# ---- replicas -------------------------------------------------------------------------------
# start_replica KEY SITE DB PORT: `edlforge serve` in SITE with --data-dir data-KEY, its stderr
# appended to SITE/KEY.log; DB "" for the embedded store.
start_replica() {
  local key=$1 site=$2 db=$3 port=$4
  (
    cd "$site"
    if [[ -n $db ]]; then export EDLFORGE_DATABASE_URL; EDLFORGE_DATABASE_URL=$(dburl "$db"); fi
    RUST_LOG=info exec "$bin" serve --config feeds.toml --listen "127.0.0.1:$port" \
      --data-dir "data-$key" 2>>"$site/$key.log"
  ) &
  PID[$key]=$!
}
stop_replica() { kill "${PID[$1]}" 2>/dev/null || true; wait "${PID[$1]}" 2>/dev/null || true; unset "PID[$1]"; }
wait_up() { # port: the server answers /healthz (60 s)
  for _ in $(seq 600); do curl -fsS -o /dev/null "http://127.0.0.1:$1/healthz" 2>/dev/null && return 0; sleep 0.1; done
  echo "no answer on 127.0.0.1:$1" >&2; return 1
}

site=$tmp/site
mkdir -p "$site/lists"
printf '45.137.21.9\n91.92.242.0/24\n' >"$site/lists/block.txt"
cat >"$site/feeds.toml" <<TOML
[store]
backend = "postgres"
url = "\${env:EDLFORGE_DATABASE_URL}"

[server]
tls = "off"
max_connections = 4096
max_connections_per_client = 4096  # wrk is one address standing for many firewalls

[[source]]
name = "feed"
url = "http://127.0.0.1:$FP/feed.txt"
type = "ip"
refresh = "1h"

[[source]]
name = "block"
path = "lists/block.txt"

[[list]]
name = "pa"
vendor = "plain"
sources = ["block"]

[[list]]
name = "panos-feed"
vendor = "panos"
types = ["ip"]
sources = ["feed"]
max_entries = 100000

[[list]]
name = "forti-feed"
vendor = "fortigate"
types = ["ip"]
sources = ["feed", "block"]
max_entries = 100000
TOML
declare -A PORT=()
keys=()
for i in $(seq "$REPLICAS"); do
  keys+=("r$i")
  PORT[r$i]=$(free_port)
  start_replica "r$i" "$site" edl "${PORT[r$i]}"
done
for k in "${keys[@]}"; do wait_up "${PORT[$k]}"; done
ports() { local k; for k in "${keys[@]}"; do echo -n "${PORT[$k]} "; done; }
key_of_port() { local k; for k in "${keys[@]}"; do if [[ ${PORT[$k]} == "$1" ]]; then echo "$k"; fi; done; }
for l in panos-feed forti-feed pa; do # every list published and followed before any round
  out=$("${probe[@]}" settle "$l" "$LIMIT" $(ports)) || { echo "$l: $out" >&2; exit 1; }
done
echo "== $REPLICAS replicas up: $out"

# ---- 1. takeover ----------------------------------------------------------------------------
echo
echo "== 1. takeover after kill -9 of the leader ($TAKEOVERS rounds, poll ${POLL_MS} ms)"
: >"$tmp/takeover" ; : >"$tmp/cycle"
bad_total=0
db_publishes() { cat "$site"/r*.log | grep -c 'List published to the database\.' || true; }
published_before=$(db_publishes)
for round in $(seq "$TAKEOVERS"); do
  out=$("${probe[@]}" settle pa "$LIMIT" $(ports)) || { echo "round $round: $out" >&2; exit 1; }
  lk=$(key_of_port "$(kv "$out" leader)")
  survivors=()
  for k in "${keys[@]}"; do if [[ $k != "$lk" ]]; then survivors+=("${PORT[$k]}"); fi; done
  out=$("${probe[@]}" takeover "${PID[$lk]}" pa,panos-feed,forti-feed "$LIMIT" "$POLL_MS" "${survivors[@]}") || true
  wait "${PID[$lk]}" 2>/dev/null || true
  echo "round $round: killed $lk ($(load)): $out"
  t=$(kv "$out" takeover_s); c=$(kv "$out" cycle_s)
  [[ -n $t ]] && echo "$t" >>"$tmp/takeover"
  [[ $c =~ ^[0-9.]+$ ]] && echo "$c" >>"$tmp/cycle"
  b=$(kv "$out" bad)
  bad_total=$((bad_total + ${b:-0}))
  # The new leader publishes nothing when the files did not change (same ETags): count it.
  start_replica "$lk" "$site" edl "${PORT[$lk]}"
  wait_up "${PORT[$lk]}"
done
out=$("${probe[@]}" settle pa "$LIMIT" $(ports)) || { echo "$out" >&2; exit 1; }
echo "takeover (kill -9 -> another replica's status.json says leader): $(stats <"$tmp/takeover")"
echo "first cycle of the new leader (kill -9 -> edlforge_cycle_success 1): $(stats <"$tmp/cycle")"
echo "answers of the 3 lists (HEAD, each poll, each survivor) during the takeovers that were not 200 with the ETag served before: $bad_total"
echo "lists the new leaders published to the database: $(($(db_publishes) - published_before)) (a new leader compiles the same files: same ETags, nothing to publish, so no first publish to time)"

# ---- 2. propagation -------------------------------------------------------------------------
echo
echo "== 2. a lists/ edit reaching every replica ($EDITS edits, poll ${POLL_MS} ms)"
: >"$tmp/prop-first"; : >"$tmp/prop-all"; : >"$tmp/prop-commit"; : >"$tmp/prop-follow"
out=$("${probe[@]}" settle pa "$LIMIT" $(ports)) || { echo "$out" >&2; exit 1; }
lk=$(key_of_port "$(kv "$out" leader)")
echo "leader: $lk"
for round in $(seq "$EDITS"); do
  printf '45.137.21.9\n91.92.242.0/24\n185.220.%d.%d\n' $((100 + round / 250)) $((round % 250 + 1)) >"$tmp/block-$round.txt"
  out=$("${probe[@]}" edit "$site/lists/block.txt" "$tmp/block-$round.txt" pa "$LIMIT" "$POLL_MS" $(ports)) || true
  echo "edit $round ($(load)): $out"
  f=$(kv "$out" first_s); a=$(kv "$out" all_s)
  [[ -n $f ]] && echo "$f" >>"$tmp/prop-first"
  [[ -n $a ]] && echo "$a" >>"$tmp/prop-all"
  sleep 0.5
  t0=$(kv "$out" t0)
  if [[ -n $t0 ]]; then logtimes "$t0" pa "$site" "$lk" prop "${keys[@]}"; fi
done
echo "edit -> first replica (the leader) serves the new ETag: $(stats <"$tmp/prop-first")"
echo "edit -> every replica serves the new ETag:              $(stats <"$tmp/prop-all")"
echo "from the logs (ms resolution, not the poll's):"
echo "  leader served it -> publish committed:               $(stats <"$tmp/prop-commit")"
echo "  publish committed -> the last follower swapped it in: $(stats <"$tmp/prop-follow")"

# ---- 3. poll mix, 1..REPLICAS replicas --------------------------------------------------------
echo
echo "== 3. poll mix with wrk against 1..$REPLICAS replicas ($CONNS connections in all, $DURATION per run)"
out=$("${probe[@]}" settle pa "$LIMIT" $(ports)) || { echo "$out" >&2; exit 1; }
lists_env=""
for l in pa panos-feed forti-feed; do
  e=$(curl -fsS -o /dev/null -w '%header{etag}' "http://127.0.0.1:${PORT[r1]}/lists/$l")
  for k in "${keys[@]}"; do
    code=$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $e" "http://127.0.0.1:${PORT[$k]}/lists/$l")
    [[ $code == 304 ]] || { echo "$k /lists/$l: If-None-Match $e gave $code, not 304" >&2; exit 1; }
  done
  size=$(curl -fsS "http://127.0.0.1:${PORT[r1]}/lists/$l" | wc -c)
  echo "list $l: $size bytes, ETag $e (304 on every replica)"
  lists_env+="/lists/$l=$e "
done
cat >"$tmp/mix.lua" <<'LUA'
-- One line at the end of a run; a fixed request cycle per thread (reproducible).
local lists = {}
for path, etag in string.gmatch(os.getenv("LISTS"), "([^ =]+)=([^ ]+)") do
  lists[#lists + 1] = { path = path, etag = etag }
end
local reqs, n
function init(args)
  n = 0
  reqs = {}
  for i, l in ipairs(lists) do
    reqs[i] = {
      cond    = wrk.format("GET", l.path, { ["If-None-Match"] = l.etag }),
      cond_cl = wrk.format("GET", l.path, { ["If-None-Match"] = l.etag, ["Connection"] = "close" }),
      full    = wrk.format("GET", l.path, {}),
      full_cl = wrk.format("GET", l.path, { ["Connection"] = "close" }),
    }
  end
end
function request()
  n = n + 1
  local r = reqs[(n % #reqs) + 1]
  local full = (math.floor(n / #reqs) % 10 == 0) -- per list, 1 in 10 a full GET, else 304
  local close = (n % 4 == 0)                      -- 1 in 4: Connection: close, a new connection
  if full then return close and r.full_cl or r.full end
  return close and r.cond_cl or r.cond
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT rps=%.1f p99_ms=%.3f requests=%d err_connect=%d err_read=%d err_write=%d err_timeout=%d non2xx3xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000, summary.requests,
    e.connect, e.read, e.write, e.timeout, e.status))
end
LUA
declare -A BEST=()
wrk_run() { # n: one wrk per replica r1..rn at once, summed
  local n=$1 i k threads conns rps=0 p99=0 errs=0 reqs=0 line
  threads=$((n == 1 ? 2 : 1))
  conns=$((CONNS / n))
  echo "-- $n replica(s): wrk -t$threads -c$conns -d$DURATION each, at once ($(load))"
  for i in $(seq "$n"); do
    k=r$i
    LISTS=$lists_env wrk -t"$threads" -c"$conns" -d"$DURATION" --timeout 10s -s "$tmp/mix.lua" \
      "http://127.0.0.1:${PORT[$k]}/" >"$tmp/wrk-$i.out" 2>&1 &
    WRK[$i]=$!
  done
  for i in $(seq "$n"); do wait "${WRK[$i]}" || { cat "$tmp/wrk-$i.out" >&2; exit 1; }; done
  for i in $(seq "$n"); do
    line=$(grep '^RESULT' "$tmp/wrk-$i.out")
    echo "   r$i: $line"
    rps=$(awk -v a="$rps" -v b="$(kv "$line" rps)" 'BEGIN{printf "%.1f", a + b}')
    p99=$(awk -v a="$p99" -v b="$(kv "$line" p99_ms)" 'BEGIN{printf "%.3f", (b > a) ? b : a}')
    for f in err_connect err_read err_write err_timeout non2xx3xx; do errs=$((errs + $(kv "$line" $f))); done
    reqs=$((reqs + $(kv "$line" requests)))
  done
  echo "   sum: $rps req/s, $reqs requests, highest p99 $p99 ms, errors $errs"
  echo "$rps" >>"$tmp/rps-$n"
  if [[ -z ${BEST[$n]:-} ]] || awk -v a="$rps" -v b="${BEST[$n]}" 'BEGIN{exit !(a > b)}'; then BEST[$n]=$rps; fi
}
declare -A WRK=()
for round in $(seq "$WRK_ROUNDS"); do
  if ((round % 2)); then order=$(seq 1 "$REPLICAS"); else order=$(seq "$REPLICAS" -1 1); fi
  for n in $order; do wrk_run "$n"; done
done
echo "poll mix, req/s summed over the replicas (best of $WRK_ROUNDS rounds; / 1 replica):"
for n in $(seq "$REPLICAS"); do
  printf '  %d replica(s): %8.0f req/s  %5.2fx   (rounds: %s)\n' "$n" "${BEST[$n]}" \
    "$(awk -v a="${BEST[$n]}" -v b="${BEST[1]}" 'BEGIN{print a / b}')" "$(tr '\n' ' ' <"$tmp/rps-$n")"
done

for k in "${keys[@]}"; do stop_replica "$k"; done

# ---- 4. a 1M-entry list: embedded against PostgreSQL ------------------------------------------
echo
echo "== 4. a change of a $BIG_LINES-line input: embedded store against PostgreSQL ($BIG_REPLICAS replicas), $BIG_ROUNDS rounds each, interleaved"
python3 scripts/gen-ip.py "$SEED" "$BIG_LINES" "$tmp/big-a.txt"
# B: the same lines and two public addresses more (outside every special-purpose block).
{ cat "$tmp/big-a.txt"; printf '45.137.21.9\n91.92.242.17\n'; } >"$tmp/big-b.txt"
for s in emb pg; do
  mkdir -p "$tmp/big-$s/lists"
  cp "$tmp/big-a.txt" "$tmp/big-$s/lists/big.txt"
  {
    if [[ $s == pg ]]; then printf '[store]\nbackend = "postgres"\nurl = "${env:EDLFORGE_DATABASE_URL}"\n\n'; fi
    printf '[server]\ntls = "off"\n\n[[source]]\nname = "big"\npath = "lists/big.txt"\ntype = "ip"\n\n'
    printf '[[list]]\nname = "big"\nvendor = "plain"\nsources = ["big"]\nmax_entries = 100000000\n'
  } >"$tmp/big-$s/feeds.toml"
done
PORT[emb]=$(free_port)
start_replica emb "$tmp/big-emb" "" "${PORT[emb]}"
pgkeys=()
for i in $(seq "$BIG_REPLICAS"); do
  pgkeys+=("p$i"); PORT[p$i]=$(free_port)
  start_replica "p$i" "$tmp/big-pg" big "${PORT[p$i]}"
done
pgports() { local k; for k in "${pgkeys[@]}"; do echo -n "${PORT[$k]} "; done; }
for k in emb "${pgkeys[@]}"; do wait_up "${PORT[$k]}"; done
# The embedded server leads alone ("role": "leader" too): settle works for it as for one replica.
out=$("${probe[@]}" settle big 300 "${PORT[emb]}") || { echo "$out" >&2; exit 1; }
out=$("${probe[@]}" settle big 300 $(pgports)) || { echo "$out" >&2; exit 1; }
plead=""
for k in "${pgkeys[@]}"; do if [[ ${PORT[$k]} == "$(kv "$out" leader)" ]]; then plead=$k; fi; done
curl -fsS -o "$tmp/big-served" "http://127.0.0.1:${PORT[emb]}/lists/big"
echo "served: $(head -n 1 "$tmp/big-served"), $(stat -c %s "$tmp/big-served") bytes; PostgreSQL leader $plead"
: >"$tmp/emb"; : >"$tmp/pg-first"; : >"$tmp/pg-all"; : >"$tmp/big-commit"; : >"$tmp/big-follow"
for round in $(seq "$BIG_ROUNDS"); do
  src=$tmp/big-b.txt; ((round % 2)) || src=$tmp/big-a.txt
  out=$("${probe[@]}" edit "$tmp/big-emb/lists/big.txt" "$src" big 300 "$POLL_MS" "${PORT[emb]}") || true
  echo "round $round embedded ($(load)): $out"
  e_emb=$(kv "$out" etag)
  [[ -n $(kv "$out" all_s) ]] && kv "$out" all_s >>"$tmp/emb"
  sleep 1
  out=$("${probe[@]}" edit "$tmp/big-pg/lists/big.txt" "$src" big 300 "$POLL_MS" $(pgports)) || true
  echo "round $round postgres ($(load)): $out"
  t0=$(kv "$out" t0)
  [[ -n $(kv "$out" first_s) ]] && kv "$out" first_s >>"$tmp/pg-first"
  [[ -n $(kv "$out" all_s) ]] && kv "$out" all_s >>"$tmp/pg-all"
  [[ $(kv "$out" etag) == "$e_emb" ]] && echo "  same ETag as the embedded store" || echo "  ETag differs from the embedded store's"
  sleep 1
  if [[ -n $t0 ]]; then logtimes "$t0" big "$tmp/big-pg" "$plead" big "${pgkeys[@]}"; fi
done
echo "edit -> served, embedded store:                               $(stats <"$tmp/emb")"
echo "edit -> served by the PostgreSQL leader:                      $(stats <"$tmp/pg-first")"
echo "edit -> served by every PostgreSQL replica:                   $(stats <"$tmp/pg-all")"
echo "leader served it -> publish committed (leader's log):        $(stats <"$tmp/big-commit")"
echo "publish committed -> the last follower swapped it in (logs):  $(stats <"$tmp/big-follow")"
me=$(stats <"$tmp/emb" | awk '{print $2}'); ma=$(stats <"$tmp/pg-all" | awk '{print $2}')
echo "every replica on PostgreSQL / embedded (medians): $(awk -v a="$ma" -v b="$me" 'BEGIN{ if (b + 0 == 0) print "n/a"; else printf "%.2fx, +%.3f s", a / b, a - b }')"
# Where a follower's time goes, roughly: reading the version from the database (psql, which
# moves bytea as hex text: twice the bytes tokio-postgres moves) and gzip level 6 of the body
# (a follower recompresses it, `Published::new`).
psql_ms=$(printf '%s\n' '\timing on' \
  "SELECT body, body_gzip FROM edlforge_lists WHERE name = 'big' ORDER BY version DESC LIMIT 1 \\g /dev/null" \
  | "$PGBIN/psql" -X -q -h "$pgdir" -p "$PGPORT" -U postgres -d big | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1)
echo "psql: newest version of the list (body + gzip) read in ${psql_ms:-?} ms ($(load))"
echo "zlib level 6 of the served body: $("${probe[@]}" gzip "$tmp/big-served") ($(load))"
echo "database size after the run: $("$PGBIN/psql" -X -A -t -h "$pgdir" -p "$PGPORT" -U postgres -d big -c "SELECT pg_size_pretty(pg_database_size('big'))")"
echo
echo "== done $(date -u +%Y-%m-%dT%H:%M:%SZ), $(uptime)"
