#!/bin/bash
# HTTPS benchmark of `tlsrptd serve` against nginx as the ceiling
# (bench/README.md#https-benchmark-tlsrptd-serve-against-nginx).
# Owns: its temporary directory, the nginx and tlsrptd processes it starts (stopped by
# the EXIT trap, also on failure or Ctrl-C) and the report cache. Loopback only; never
# touches a system nginx or any database but its own fresh ones.
#
# Usage: bench/bench_https.sh            (root or not; see bench/README.md)
# Environment (defaults in brackets):
#   TLSRPTD          the binary [build/daemon/tlsrptd]
#   DURATION         seconds per throughput run [15]
#   WRK_THREADS      wrk threads [2]      CONNECTIONS  wrk connections [32]
#   SERVER_THREADS   tlsrptd https.threads = nginx worker_processes [nproc]
#   RSS_CONNECTIONS  concurrent connections for the memory run [1000]
#   RSS_DURATION     seconds of the memory run [10]
#   REPORTS          distinct reports generated [300000]
#   BENCH_CACHE      where generated reports are kept between runs [/var/tmp/tlsrptd-bench-reports]
#   KEEP=1           keep the temporary directory (configs, logs, databases)
# Exit status: 0 when every integrity check passed (throughput/RSS targets are reported
# as PASS/MISS but do not fail the run: the machine is shared), 1 otherwise.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
TLSRPTD=${TLSRPTD:-$REPO/build/daemon/tlsrptd}
DURATION=${DURATION:-15}
WRK_THREADS=${WRK_THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
SERVER_THREADS=${SERVER_THREADS:-$(nproc)}
RSS_CONNECTIONS=${RSS_CONNECTIONS:-1000}
RSS_DURATION=${RSS_DURATION:-10}
REPORTS=${REPORTS:-300000}
BENCH_CACHE=${BENCH_CACHE:-/var/tmp/tlsrptd-bench-reports}
KEEP=${KEEP:-0}
SERVICE_USER=tlsrptd
MAX_REQUESTS_PER_CONNECTION=1000  # tlsrptd's default; nginx gets the same keepalive_requests

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

for tool in nginx wrk openssl sqlite3 python3 cc curl; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install nginx wrk openssl sqlite3 python3 gcc curl)"
done
[[ -x $TLSRPTD ]] || die "no tlsrptd binary at $TLSRPTD (build first, or set TLSRPTD)"
TLSRPTD=$(readlink -f "$TLSRPTD")

TMP=$(mktemp -d /tmp/tlsrptd-bench.XXXXXX)
chmod 755 "$TMP"  # the daemon's unprivileged user must reach its database below
RESULTS=$TMP/results.txt
: >"$RESULTS"
declare -a PIDS=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [[ $KEEP == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'echo "bench: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

forget_pid() {
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# utime+stime of a process (and optionally its children's pids), in clock ticks.
cpu_ticks() {
  local total=0 pid f
  for pid in "$@"; do
    f=$(cut -d')' -f2- "/proc/$pid/stat" 2>/dev/null) || continue
    total=$((total + $(echo "$f" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

status_kib() {  # status_kib PID FIELD -> the field of /proc/PID/status in KiB
  awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"
}

record() { echo "$*" >>"$RESULTS"; }

# Open files: wrk and tlsrptd each need one per connection (1000 in the memory run).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[[ $(ulimit -n) -ge $((RSS_CONNECTIONS + 200)) ]] || die "ulimit -n is $(ulimit -n); need $((RSS_CONNECTIONS + 200))"

# ---------------------------------------------------------------- machine and versions
record "info nproc=$(nproc)"
record "info cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo | tr ' ' '_')"
record "info nginx=$(nginx -v 2>&1 | sed 's/.*: //')"
record "info wrk=$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
record "info openssl=$(openssl version | awk '{print $2}')"
record "info tlsrptd=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)"
record "info uptime_before=$(uptime | sed 's/.*load average: //; s/ //g')"
record "info duration=$DURATION wrk_threads=$WRK_THREADS connections=$CONNECTIONS server_threads=$SERVER_THREADS rss_connections=$RSS_CONNECTIONS"

# ---------------------------------------------------------------- inputs
log "certificate: one EC P-256 key and self-signed certificate for both servers"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
cc -O2 -shared -fPIC -o "$TMP/no_resume.so" "$HERE/no_resume.c" -ldl -lssl

# One slice of reports per wrk thread; every report-id is distinct.
python3 "$HERE/gen_reports.py" --count "$REPORTS" --slices "$WRK_THREADS" --out "$BENCH_CACHE/$REPORTS-$WRK_THREADS"
BODIES=$BENCH_CACHE/$REPORTS-$WRK_THREADS
record "info $(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print("reports=%d avg_json_bytes=%d avg_gzip_bytes=%d" % (m["count"], m["avg_json_bytes"], m["avg_gzip_bytes"]))' "$BODIES/meta.json")"

if [[ $(id -u) == 0 ]] && ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
fi

# ---------------------------------------------------------------- nginx, the ceiling
NGINX_PORT=$(free_port)
NGINX_LOG_PORT=$(free_port)
NGINX_STATUS_PORT=$(free_port)
mkdir -p "$TMP/nginx"
NGINX_USER=""
[[ $(id -u) == 0 ]] && NGINX_USER="user nobody nogroup;"
# Same protocols and TLS 1.2 suites as daemon/tls.cpp; session cache and tickets are
# left at both servers' defaults (the wrk shim makes every handshake a full one anyway).
cat >"$TMP/nginx/nginx.conf" <<EOF
$NGINX_USER
worker_processes $SERVER_THREADS;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  ssl_certificate $TMP/cert.pem;
  ssl_certificate_key $TMP/key.pem;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384;
  ssl_prefer_server_ciphers on;
  client_body_buffer_size 64k;
  client_max_body_size 1m;
  keepalive_requests $MAX_REQUESTS_PER_CONNECTION;
  log_format handshake '\$connection \$connection_requests \$ssl_protocol \$ssl_session_reused \$status';
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    location / { return 204; }
  }
  # The same, logging each request's connection and session reuse: only for the
  # check that wrk really opens a new connection with a full handshake per report.
  server {
    listen 127.0.0.1:$NGINX_LOG_PORT ssl;
    access_log $TMP/nginx/handshakes.log handshake;
    location / { return 204; }
  }
  server {
    listen 127.0.0.1:$NGINX_STATUS_PORT;
    location / { stub_status; }
  }
}
EOF
nginx -t -q -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" || die "nginx config rejected"
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$NGINX_STATUS_PORT/" >/dev/null 2>&1 && break
  kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited: $(cat "$TMP/nginx/error.log")"
  sleep 0.1
done
curl -sf "http://127.0.0.1:$NGINX_STATUS_PORT/" >/dev/null || die "nginx did not start"
nginx_workers() { pgrep -P "$NGINX_PID" | tr '\n' ' '; }
# "accepts handled requests" from stub_status
nginx_counters() { curl -sf "http://127.0.0.1:$NGINX_STATUS_PORT/" | awk 'NR == 3 {print $1, $3}'; }

# ---------------------------------------------------------------- wrk
# start_wrk NAME URL MODE CONNECTIONS SECONDS: wrk in the background (so that a signal
# reaches the trap at once, and the trap can stop it), its BENCH line in $TMP/NAME.bench.
start_wrk() {
  local name=$1 url=$2 mode=$3 conns=$4 secs=$5
  local args=(-t "$WRK_THREADS" -c "$conns" -d "${secs}s" --timeout 10s -s "$HERE/post_reports.lua")
  local preload=""
  if [[ $mode == close ]]; then
    args+=(-H "Connection: close")
    preload=$TMP/no_resume.so
  fi
  BENCH_RESULT=$TMP/$name.bench LD_PRELOAD=$preload timeout $((secs + 60)) \
    wrk "${args[@]}" "$url" -- "$BODIES" >"$TMP/$name.wrk" 2>&1 &
  WRK_PID=$!
  PIDS+=("$WRK_PID")
}
finish_wrk() {  # finish_wrk NAME
  wait "$WRK_PID" || die "wrk failed ($1): $(cat "$TMP/$1.wrk")"
  forget_pid "$WRK_PID"
  [[ -s $TMP/$1.bench ]] || die "wrk printed no result ($1): $(cat "$TMP/$1.wrk")"
}
run_wrk() { start_wrk "$@" && finish_wrk "$1"; }
bench_line() { sed 's/^BENCH //' "$TMP/$1.bench"; }

log "check: does wrk open a new connection with a full TLS handshake for every report?"
run_wrk handshake-check "https://127.0.0.1:$NGINX_LOG_PORT/" close 4 1
kill -USR1 "$NGINX_PID"  # reopen logs = flush
sleep 0.5
record "check $(awk '{n++; if ($2 == 1) fresh++; if ($4 == "r") reused++; proto[$3]++}
  END {p=""; for (k in proto) p = p k; printf "handshake_requests=%d one_request_per_connection=%d resumed=%d protocol=%s", n, fresh, reused, p}' \
  "$TMP/nginx/handshakes.log")"

# ---------------------------------------------------------------- tlsrptd
TLS_PID=""
start_tlsrptd() {  # start_tlsrptd NAME -> sets TLS_PID, TLS_DIR, TLS_PORT, TLS_ADMIN
  TLS_DIR=$TMP/$1
  mkdir -p "$TLS_DIR"
  TLS_PORT=$(free_port)
  TLS_ADMIN=$(free_port)
  local user=""
  [[ $(id -u) == 0 ]] && user="user = \"$SERVICE_USER\""
  # Durability is left at its default (WAL + synchronous=FULL, group commit). All
  # connections come from 127.0.0.1, so the per-client cap is raised with the total
  # and the daily budget of unauthenticated bytes (limits) is off.
  cat >"$TLS_DIR/tlsrptd.toml" <<EOF
database = "$TLS_DIR/var/tlsrptd.sqlite"
$user
[https]
listen = ["127.0.0.1:$TLS_PORT"]
certificate = "$TMP/cert.pem"
private_key = "$TMP/key.pem"
threads = $SERVER_THREADS
max_connections = $((RSS_CONNECTIONS + 1000))
max_connections_per_client = $((RSS_CONNECTIONS + 1000))
max_requests_per_connection = $MAX_REQUESTS_PER_CONNECTION
[admin]
listen = ["127.0.0.1:$TLS_ADMIN"]
[limits]
max_unauthenticated_bytes_per_client = 0
EOF
  "$TLSRPTD" serve --config "$TLS_DIR/tlsrptd.toml" >"$TLS_DIR/daemon.log" 2>&1 &
  TLS_PID=$!
  disown "$TLS_PID"  # no "Killed" job notice for the SIGKILL below
  PIDS+=("$TLS_PID")
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$TLS_ADMIN/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$TLS_PID" 2>/dev/null || die "tlsrptd exited: $(cat "$TLS_DIR/daemon.log")"
    sleep 0.1
  done
  die "tlsrptd did not become healthy: $(cat "$TLS_DIR/daemon.log")"
}
still_running() {
  kill -0 "$TLS_PID" 2>/dev/null && ! grep -q '^<5>stopping' "$TLS_DIR/daemon.log" ||
    die "tlsrptd stopped during the run (a signal from outside?): $(tail -5 "$TLS_DIR/daemon.log")"
}
metric() {  # metric NAME{labels} -> value from the admin listener (0 when absent)
  curl -sf "http://127.0.0.1:$TLS_ADMIN/metrics" | awk -v m="$1" 'index($0, m) == 1 {v = $2} END {print v + 0}'
}
# SIGKILL, not SIGTERM: the count afterwards shows what was durable when each 2xx
# went out, not what a clean shutdown flushed.
kill9_and_count() {
  kill -KILL "$TLS_PID"
  for _ in $(seq 200); do kill -0 "$TLS_PID" 2>/dev/null || break; sleep 0.05; done
  forget_pid "$TLS_PID"
  sqlite3 "$TLS_DIR/var/tlsrptd.sqlite" 'select count(*) from reports'
}

# ---------------------------------------------------------------- throughput runs
# nginx and tlsrptd alternate so that a change in the machine's load hits both.
for mode in keepalive close; do
  log "nginx, $mode: ${DURATION}s, $CONNECTIONS connections"
  read -r acc0 req0 <<<"$(nginx_counters)"
  workers=$(nginx_workers)
  cpu0=$(cpu_ticks $workers)
  run_wrk "nginx-$mode" "https://127.0.0.1:$NGINX_PORT/" "$mode" "$CONNECTIONS" "$DURATION"
  line=$(bench_line "nginx-$mode")
  kill -0 "$NGINX_PID" 2>/dev/null || die "nginx stopped during the run: $(tail -5 "$TMP/nginx/error.log")"
  cpu1=$(cpu_ticks $workers)
  read -r acc1 req1 <<<"$(nginx_counters)"
  record "run server=nginx mode=$mode $line server_connections=$((acc1 - acc0)) server_requests=$((req1 - req0)) cpu_ticks=$((cpu1 - cpu0))"

  log "tlsrptd, $mode: ${DURATION}s, $CONNECTIONS connections, fresh database"
  start_tlsrptd "tlsrptd-$mode"
  cpu0=$(cpu_ticks "$TLS_PID")
  run_wrk "tlsrptd-$mode" "https://127.0.0.1:$TLS_PORT/" "$mode" "$CONNECTIONS" "$DURATION"
  line=$(bench_line "tlsrptd-$mode")
  still_running
  cpu1=$(cpu_ticks "$TLS_PID")
  conns=$(metric 'tlsrptd_connections_total{listener="https"}')
  reqs=$(metric 'tlsrptd_http_requests_total{listener="https",code="200"}')
  hwm=$(status_kib "$TLS_PID" VmHWM)
  stored=$(kill9_and_count)
  record "run server=tlsrptd mode=$mode $line server_connections=$conns server_requests=$reqs cpu_ticks=$((cpu1 - cpu0)) vmhwm_kib=$hwm db_reports=$stored"
done

# ---------------------------------------------------------------- memory under 1000 connections
log "tlsrptd, memory: ${RSS_DURATION}s keep-alive with $RSS_CONNECTIONS connections"
start_tlsrptd tlsrptd-rss
base=$(status_kib "$TLS_PID" VmHWM)
start_wrk tlsrptd-rss "https://127.0.0.1:$TLS_PORT/" keepalive "$RSS_CONNECTIONS" "$RSS_DURATION"
# Sample the open connections while the load runs, to show they were really there.
peak_open=0
for _ in $(seq $((RSS_DURATION * 2))); do
  sleep 0.5
  open=$(metric 'tlsrptd_open_connections{listener="https"}')
  ((open > peak_open)) && peak_open=$open
  kill -0 "$WRK_PID" 2>/dev/null || break
done
finish_wrk tlsrptd-rss
still_running
hwm=$(status_kib "$TLS_PID" VmHWM)
stored=$(kill9_and_count)
record "rss server=tlsrptd $(bench_line tlsrptd-rss) vmhwm_kib=$hwm idle_vmhwm_kib=$base peak_open_connections=$peak_open db_reports=$stored"

kill -QUIT "$NGINX_PID" 2>/dev/null || true
wait "$NGINX_PID" 2>/dev/null || true
forget_pid "$NGINX_PID"
record "info uptime_after=$(uptime | sed 's/.*load average: //; s/ //g')"
record "info clk_tck=$(getconf CLK_TCK)"

python3 "$HERE/bench_report.py" "$RESULTS"
