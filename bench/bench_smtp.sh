#!/usr/bin/env bash
# Mail benchmark of tlsrptd (bench/README.md#mail-benchmark-smtp-and-lmtp-beside-https):
# report mails per second over the built-in SMTP listener with a fresh connection per
# mail (plain and with STARTTLS) and over LMTP with one connection (TCP and unix
# socket), durability on, beside the HTTPS new-connection-per-report rate measured in
# the same run the way bench_https.sh measures it. Loopback only; every server it starts
# is stopped by the EXIT trap. Not a test: it prints numbers; it fails only when an
# integrity check fails.
#
# Usage: bench/bench_smtp.sh            (root or not; about two minutes, plus a few
#                                        minutes the first time to generate the mails)
# Environment (defaults in brackets):
#   TLSRPTD          the binary [build/daemon/tlsrptd]
#   SMTP_LOAD        the load client [build/bench/smtp_load]
#   DURATION         seconds per throughput run [10]
#   CONNECTIONS      concurrent SMTP clients = wrk connections for HTTPS [32]
#   CLIENT_THREADS   smtp_load threads = wrk threads [2]
#   SERVER_THREADS   tlsrptd https.threads [nproc]
#   MAILS            distinct report mails generated [60000]
#   REPORTS          distinct reports for the HTTPS runs [300000] (bench_https.sh's set)
#   BENCH_CACHE      where generated mails and reports are kept [/var/tmp/tlsrptd-bench-reports]
#   RUNS             which runs, in order [https smtp starttls smtp-dkim lmtp lmtp-unix smtp https]
#   KEEP=1           keep the temporary directory (configs, logs, databases)
# Exit status: 0 when every integrity check passed (the throughput target is reported
# as PASS/MISS but does not fail the run: the machine is shared), 1 otherwise.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
TLSRPTD=${TLSRPTD:-$REPO/build/daemon/tlsrptd}
SMTP_LOAD=${SMTP_LOAD:-$REPO/build/bench/smtp_load}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
CLIENT_THREADS=${CLIENT_THREADS:-2}
SERVER_THREADS=${SERVER_THREADS:-$(nproc)}
MAILS=${MAILS:-60000}
REPORTS=${REPORTS:-300000}
BENCH_CACHE=${BENCH_CACHE:-/var/tmp/tlsrptd-bench-reports}
RUNS=${RUNS:-https smtp starttls smtp-dkim lmtp lmtp-unix smtp https}
KEEP=${KEEP:-0}
SERVICE_USER=tlsrptd
RECIPIENT=tlsrpt@bench.example
PY=/usr/bin/python3  # Debian's, with python3-dkim and python3-cryptography

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

for tool in wrk openssl sqlite3 cc curl dnsmasq; do
  command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] ||
    die "$tool is missing (scripts/deps.sh bench: wrk openssl sqlite3 gcc curl dnsmasq-base)"
done
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
$PY -c 'import dkim, cryptography' 2>/dev/null || die "$PY lacks dkim or cryptography (apt-get install python3-dkim python3-cryptography)"
[[ -x $TLSRPTD ]] || die "no tlsrptd binary at $TLSRPTD (build first, or set TLSRPTD)"
[[ -x $SMTP_LOAD ]] || die "no smtp_load at $SMTP_LOAD (cmake --build build --target smtp_load, or set SMTP_LOAD)"
TLSRPTD=$(readlink -f "$TLSRPTD")

TMP=$(mktemp -d /tmp/tlsrptd-bench-smtp.XXXXXX)
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

free_port() {  # a port free for TCP and UDP (dnsmasq needs both)
  $PY -c '
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        u.close(); t.close()'
}

cpu_ticks() {  # utime+stime of a process, in clock ticks
  cut -d')' -f2- "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}'
}

load_now() { uptime | sed 's/.*load average: //; s/ //g'; }

record() { echo "$*" >>"$RESULTS"; }

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# ---------------------------------------------------------------- machine and versions
record "info nproc=$(nproc)"
record "info cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo | tr ' ' '_')"
record "info kernel=$(uname -r)"
record "info wrk=$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
record "info openssl=$(openssl version | awk '{print $2}')"
record "info tlsrptd=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)"
record "info uptime_before=$(load_now)"
record "info duration=$DURATION connections=$CONNECTIONS client_threads=$CLIENT_THREADS server_threads=$SERVER_THREADS"
record "info fs=$(df -T "$TMP" | awk 'NR == 2 {print $2}')"

# ---------------------------------------------------------------- inputs
log "mails: $MAILS distinct, DKIM-signed report mails (generated once into $BENCH_CACHE)"
MAIL_DIR=$BENCH_CACHE/mails-$MAILS
$PY "$HERE/gen_mails.py" --count "$MAILS" --out "$MAIL_DIR" --recipient "$RECIPIENT"
record "info $($PY -c 'import json,sys; m=json.load(open(sys.argv[1])); print("mails=%d avg_mail_bytes=%d min_mail_bytes=%d max_mail_bytes=%d avg_gzip_bytes=%d" % (m["count"], m["avg_mail_bytes"], m["min_mail_bytes"], m["max_mail_bytes"], m["avg_gzip_bytes"]))' "$MAIL_DIR/meta.json")"

log "reports for the HTTPS runs: bench_https.sh's set"
$PY "$HERE/gen_reports.py" --count "$REPORTS" --slices "$CLIENT_THREADS" --out "$BENCH_CACHE/$REPORTS-$CLIENT_THREADS"
BODIES=$BENCH_CACHE/$REPORTS-$CLIENT_THREADS

log "certificate: one EC P-256 key and self-signed certificate (HTTPS and STARTTLS)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
cc -O2 -shared -fPIC -o "$TMP/no_resume.so" "$HERE/no_resume.c" -ldl -lssl

if [[ $(id -u) == 0 ]] && ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
fi

# ---------------------------------------------------------------- DNS for DKIM keys
# dnsmasq on a loopback port serves the signing key's TXT records (the daemon's
# [dns] servers points there); nothing else resolves.
DNS_PORT=$(free_port)
# --local-ttl: dnsmasq answers its own records with TTL 0 by default, which no
# published DKIM key has (minutes to a day); 300 s lets the daemon's key cache work as
# it does against real DNS.
dns_args=(--no-daemon --conf-file=/dev/null "--port=$DNS_PORT" --listen-address=127.0.0.1 --bind-interfaces
  --no-resolv --no-hosts --pid-file= --log-facility=- --local-ttl=300)
[[ $(id -u) == 0 ]] && dns_args+=(--user=root --group=root)
while read -r name value; do
  dns_args+=("--local=/${name#*._domainkey.}/" "--txt-record=$name,$value")
done <"$MAIL_DIR/dkim.txt"
"$DNSMASQ" "${dns_args[@]}" >"$TMP/dnsmasq.log" 2>&1 &
DNS_PID=$!
PIDS+=("$DNS_PID")
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$DNS_PORT") 2>/dev/null && break
  kill -0 "$DNS_PID" 2>/dev/null || die "dnsmasq exited: $(cat "$TMP/dnsmasq.log")"
  sleep 0.1
done

# ---------------------------------------------------------------- tlsrptd
TLS_PID=""
start_tlsrptd() {  # start_tlsrptd NAME DKIM -> TLS_PID, TLS_DIR, HTTPS_PORT, SMTP_PORT, LMTP_PORT, LMTP_SOCK, ADMIN_PORT
  TLS_DIR=$TMP/$1
  mkdir -p "$TLS_DIR"
  chmod 755 "$TLS_DIR"
  HTTPS_PORT=$(free_port)
  SMTP_PORT=$(free_port)
  LMTP_PORT=$(free_port)
  ADMIN_PORT=$(free_port)
  mkdir -p "$TLS_DIR/run"
  LMTP_SOCK=$TLS_DIR/run/lmtp.sock
  local user=""
  if [[ $(id -u) == 0 ]]; then
    user="user = \"$SERVICE_USER\""
    chown "$SERVICE_USER" "$TLS_DIR/run"
  fi
  # Durability at its default (WAL + synchronous=FULL, group commit; 250 and 2xx only
  # after the commit). All clients come from 127.0.0.1, so the per-client caps are
  # raised; [https] is the same as in bench_https.sh.
  cat >"$TLS_DIR/tlsrptd.toml" <<EOF
database = "$TLS_DIR/var/tlsrptd.sqlite"
$user
[https]
listen = ["127.0.0.1:$HTTPS_PORT"]
certificate = "$TMP/cert.pem"
private_key = "$TMP/key.pem"
threads = $SERVER_THREADS
max_connections = 2000
max_connections_per_client = 2000
[admin]
listen = ["127.0.0.1:$ADMIN_PORT"]
[smtp]
listen = ["127.0.0.1:$SMTP_PORT"]
lmtp_listen = ["127.0.0.1:$LMTP_PORT", "unix:$LMTP_SOCK"]
recipients = ["$RECIPIENT"]
hostname = "tlsrptd.bench.example"
dkim = "$2"
max_connections = 2000
max_connections_per_client = 2000
[dns]
servers = ["127.0.0.1:$DNS_PORT"]
[limits]
max_unauthenticated_bytes_per_client = 0
EOF
  "$TLSRPTD" serve --config "$TLS_DIR/tlsrptd.toml" >"$TLS_DIR/daemon.log" 2>&1 &
  TLS_PID=$!
  disown "$TLS_PID"  # no "Killed" job notice for the SIGKILL below
  PIDS+=("$TLS_PID")
  for _ in $(seq 200); do
    if curl -sf "http://127.0.0.1:$ADMIN_PORT/healthz" >/dev/null 2>&1; then
      [[ -S $LMTP_SOCK ]] || die "tlsrptd made no LMTP socket: $(cat "$TLS_DIR/daemon.log")"
      return 0
    fi
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
  curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics" | awk -v m="$1" 'index($0, m) == 1 {v = $2} END {print v + 0}'
}
# SIGKILL, not SIGTERM: the count afterwards shows what was durable when each 250 or
# 2xx went out, not what a clean shutdown flushed.
kill9_and_count() {  # -> "counted authenticated held"
  kill -KILL "$TLS_PID"
  for _ in $(seq 200); do kill -0 "$TLS_PID" 2>/dev/null || break; sleep 0.05; done
  forget_pid "$TLS_PID"
  sqlite3 -separator ' ' "$TLS_DIR/var/tlsrptd.sqlite" \
    'select (select count(*) from reports), (select count(*) from report_auth where authenticated = 1),
            (select count(*) from held_report)'
}

# ---------------------------------------------------------------- runs
run_https() {  # run_https NAME: wrk, a new TLS connection per report (bench_https.sh's "close" run)
  local name=$1
  start_tlsrptd "$name" off
  local load cpu0 cpu1
  load=$(load_now)
  cpu0=$(cpu_ticks "$TLS_PID")
  BENCH_RESULT=$TMP/$name.bench LD_PRELOAD=$TMP/no_resume.so timeout $((DURATION + 60)) \
    wrk -t "$CLIENT_THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --timeout 10s -s "$HERE/post_reports.lua" \
    -H "Connection: close" "https://127.0.0.1:$HTTPS_PORT/" -- "$BODIES" >"$TMP/$name.wrk" 2>&1 &
  local wrk_pid=$!
  PIDS+=("$wrk_pid")
  wait "$wrk_pid" || die "wrk failed ($name): $(cat "$TMP/$name.wrk")"
  forget_pid "$wrk_pid"
  [[ -s $TMP/$name.bench ]] || die "wrk printed no result ($name): $(cat "$TMP/$name.wrk")"
  still_running
  cpu1=$(cpu_ticks "$TLS_PID")
  local conns reqs
  conns=$(metric 'tlsrptd_connections_total{listener="https"}')
  reqs=$(metric 'tlsrptd_http_requests_total{listener="https",code="200"}')
  read -r counted authed held <<<"$(kill9_and_count)"
  record "run name=$name kind=https dkim=- connections=$CONNECTIONS $(sed 's/^BENCH //' "$TMP/$name.bench") server_connections=$conns" \
    "server_requests=$reqs cpu_ticks=$((cpu1 - cpu0)) load=$load db_reports=$counted db_authenticated=$authed db_held=$held"
}

run_mail() {  # run_mail NAME MODE DKIM TARGET CONNECTIONS THREADS
  local name=$1 mode=$2 dkim=$3 target=$4 conns=$5 threads=$6
  start_tlsrptd "$name" "$dkim"
  local where listener=smtp
  case $target in
    smtp) where=(--connect "127.0.0.1:$SMTP_PORT") ;;
    lmtp) where=(--connect "127.0.0.1:$LMTP_PORT"); listener=lmtp ;;
    lmtp-unix) where=(--unix "$LMTP_SOCK"); listener=lmtp ;;
  esac
  local load cpu0 cpu1
  load=$(load_now)
  cpu0=$(cpu_ticks "$TLS_PID")
  timeout $((DURATION + 120)) "$SMTP_LOAD" --mode "$mode" "${where[@]}" --mails "$MAIL_DIR/mails.bin" \
    --connections "$conns" --threads "$threads" --duration "$DURATION" --recipient "$RECIPIENT" \
    >"$TMP/$name.out" 2>"$TMP/$name.err" &
  local client=$!
  PIDS+=("$client")
  wait "$client" || die "smtp_load failed ($name): $(cat "$TMP/$name.err" "$TMP/$name.out")"
  forget_pid "$client"
  grep -q '^BENCH ' "$TMP/$name.out" || die "smtp_load printed no result ($name): $(cat "$TMP/$name.err")"
  still_running
  cpu1=$(cpu_ticks "$TLS_PID")
  local sconns
  sconns=$(metric "tlsrptd_connections_total{listener=\"$listener\"}")
  read -r counted authed held <<<"$(kill9_and_count)"
  record "run name=$name kind=$target dkim=$dkim $(sed -n 's/^BENCH //p' "$TMP/$name.out") server_connections=$sconns" \
    "cpu_ticks=$((cpu1 - cpu0)) load=$load db_reports=$counted db_authenticated=$authed db_held=$held"
}

declare -A seen=()
for run in $RUNS; do
  n=$(( ${seen[$run]:-0} + 1 ))
  seen[$run]=$n
  name=$run-$n
  log "$name: ${DURATION}s"
  case $run in
    https)     run_https "$name" ;;
    smtp)      run_mail "$name" smtp off smtp "$CONNECTIONS" "$CLIENT_THREADS" ;;
    starttls)  run_mail "$name" starttls off smtp "$CONNECTIONS" "$CLIENT_THREADS" ;;
    smtp-dkim) run_mail "$name" smtp require smtp "$CONNECTIONS" "$CLIENT_THREADS" ;;
    lmtp)      run_mail "$name" lmtp off lmtp 1 1 ;;
    lmtp-unix) run_mail "$name" lmtp off lmtp-unix 1 1 ;;
    *) die "unknown run \"$run\" (https smtp starttls smtp-dkim lmtp lmtp-unix)" ;;
  esac
done

record "info uptime_after=$(load_now)"
record "info clk_tck=$(getconf CLK_TCK)"
$PY "$HERE/bench_smtp_report.py" "$RESULTS"
