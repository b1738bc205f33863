#!/usr/bin/env bash
# Side-by-side benchmark of sluice against nginx and HAProxy (issue 4, item 1).
#
#   bench/run.sh [full|quick]        (make bench / make bench-quick build sluice first)
#
# Starts, in a temp dir on loopback high ports: an nginx backend (13 B, 64 KiB, 1 MiB files and a
# sparse download file), nginx as a proxy, HAProxy twice (with and without option http-no-delay)
# and sluice, one worker each, access logs off. The proxy under test runs on core 0, wrk / the
# clients and the backend on core 1. Measures throughput and CPU µs/req, chunk flush delay, a large
# download and a large upload (MB/s, peak RSS; the upload goes to bench/upload_sink.py, which reads
# the whole body before it answers) and RSS per idle keep-alive connection; prints one Markdown
# table (medians, sluice against the best peer) and writes build/bench/results.{md,csv}.
# The tls section (bench/tls.sh, sourced) measures the three proxies again terminating TLS with
# one certificate and one cipher suite: HTTPS CPU µs/req, handshakes/s, a download, idle
# connections and flush delay over TLS; it adds a second table (bench/report_tls.py).
# The observability section (bench/observability.sh, sourced) measures sluice against itself:
# metrics and the access log on vs off, sluice_added_latency_seconds against an external probe,
# and the dashboard picture (build/bench/dashboard.png); it adds a third table.
# The fleet section (bench/fleet.sh, sourced) measures sluice --config against sluice --upstream:
# CPU µs/req over 100 routes and 10 servers, 20 reloads under load (errors, p99 against no
# reloads) and the skew of 1,000 SSE streams over 4 servers (least_conn, round_robin); a fourth table.
# The compression section (bench/compression.sh, sourced) measures sluice --compress zstd,br,gzip
# against itself: SSE flush delay per coding through one process (decoded as it arrives) and RSS
# and CPU per open SSE stream per coding over 1,000 streams; a fifth table.
# The http2 section (bench/http2.sh, sourced) measures nginx, HAProxy and sluice serving HTTP/2
# (h2load -c 100 -m 10 at 13 B, over h2c and over TLS): CPU µs/req and req/s; a sixth table.
# The h2streams section (bench/http2_streams.sh, sourced) measures the three again over h2c, what
# streams do to each other: SSE event delay alone and next to 20 downloads on its connection, a
# stopped reader's neighbour, gRPC server-streaming message delay, and 10,000 rapid resets
# (upstream requests, RSS, a parallel client served); a seventh table.
# The sse1000 section (bench/sse_fanout.sh, sourced) measures the three with 1,000 concurrent SSE
# streams of 10 events/s each (issue 15): RSS per stream, CPU per event, and the event delay's
# p50/p99 against the backend without a proxy; an eighth table.
#
# Environment overrides (for development runs): SLUICE (binary), BENCH_OUT (output dir),
# BENCH_RUNS, BENCH_DURATION (s per wrk run), BENCH_SIZES ("13 13ret 64k 1m"; 13ret is
# the backend's `return 200` answer instead of its static file), BENCH_TARGETS
# ("direct nginx haproxy haproxy-nodelay sluice"), BENCH_SECTIONS ("throughput flush download
# upload idle tls observability fleet compression http2 h2streams sse1000 workers2"), BENCH_DL_MIB (download and upload size), BENCH_IDLE_N, BENCH_KEEP=1
# (keep the temp dir), BENCH_HS_TIME (s per openssl s_time run of the tls section).
# SLUICE_BASELINE=<binary> (e.g. from bench/build-baseline.sh REV) adds the target sluice-base: that
# binary with the same flags, pinning and load as sluice, measured right after sluice in every
# section that measures sluice; the table gets its column and, for CPU µs/req, sluice / sluice-base.
# With gnuplot installed it also draws one chart per protocol of each proxy's CPU µs/req
# (bench/chart.sh): build/bench/cpu.png (HTTP/1.1), cpu-tls.png (HTTPS, and per handshake) and
# cpu-h2.png (HTTP/2); a protocol whose section did not run gets no chart.
set -euo pipefail

MODE=${1:-full}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
SLUICE=${SLUICE:-$ROOT/build/release/app/sluice}
BASE=${SLUICE_BASELINE:-}
OUT=${BENCH_OUT:-$ROOT/build/bench}

case "$MODE" in
  quick) RUNS=1; DUR=2; DL_MIB=256;  IDLE_N=1000; SECTIONS="throughput flush download upload idle tls observability fleet compression http2 h2streams sse1000" ;;
  full)  RUNS=3; DUR=10; DL_MIB=1024; IDLE_N=5000; SECTIONS="throughput flush download upload idle tls observability fleet compression http2 h2streams sse1000 workers2" ;;
  *) echo "usage: $0 [full|quick]" >&2; exit 2 ;;
esac
RUNS=${BENCH_RUNS:-$RUNS}
DUR=${BENCH_DURATION:-$DUR}
DL_MIB=${BENCH_DL_MIB:-$DL_MIB}
IDLE_N=${BENCH_IDLE_N:-$IDLE_N}
SECTIONS=${BENCH_SECTIONS:-$SECTIONS}
SIZES=${BENCH_SIZES:-"13 13ret 64k 1m"}
TARGETS=${BENCH_TARGETS:-"direct nginx haproxy haproxy-nodelay sluice"}
# The upstream writes a chunk every 50 ms for FLUSH_DUR s: 200 chunks in full mode (issue 15:
# a maximum over 40 chunks says little), 40 in quick mode.
case $MODE in quick) FLUSH_DUR=2 ;; *) FLUSH_DUR=10 ;; esac
CONNS=64

has() { [[ " $1 " == *" $2 "* ]]; }

# The sluice binaries: sluice, and with SLUICE_BASELINE also sluice-base, which goes into TARGETS
# right after sluice (unless BENCH_TARGETS places it) so that each measurement of one is next to
# the same measurement of the other.
declare -A BIN=([sluice]=$SLUICE)
SLUICES="sluice"
if [[ -n $BASE ]]; then
  [[ -f $BASE && -x $BASE ]] || { echo "bench: SLUICE_BASELINE=$BASE is not an executable" >&2; exit 1; }
  BASE=$(cd "$(dirname "$BASE")" && pwd)/$(basename "$BASE")
  BIN[sluice-base]=$BASE
  SLUICES="sluice sluice-base"
  if ! has "$TARGETS" sluice-base; then
    t2=""
    for t in $TARGETS; do t2+="$t "; [[ $t == sluice ]] && t2+="sluice-base "; done
    TARGETS=${t2% }
  fi
elif has "$TARGETS" sluice-base; then
  echo "bench: target sluice-base needs SLUICE_BASELINE=<binary>" >&2; exit 1
fi

tools="wrk nginx haproxy taskset curl python3"
has "$SECTIONS" tls && tools+=" openssl"
for tool in $tools; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (scripts/install-deps.sh bench)" >&2; exit 1; }
done
[[ -x $SLUICE ]] || { echo "bench: no sluice binary at $SLUICE (make bench builds it)" >&2; exit 1; }

log() { printf '[bench %5ds] %s\n' "$SECONDS" "$*" >&2; }

# Pinning: proxy on core 0, load generator and backend on core 1 (only where taskset works).
if [[ $(nproc) -ge 2 ]] && taskset -c 0 true 2>/dev/null && taskset -c 1 true 2>/dev/null; then
  PROXY_CPU=(taskset -c 0); LOAD_CPU=(taskset -c 1)
else
  log "warning: cannot pin to cores 0 and 1; running unpinned"
  PROXY_CPU=(); LOAD_CPU=()
fi

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
[[ $NOFILE == unlimited ]] && NOFILE=1048576
if (( NOFILE < IDLE_N * 2 + 512 )); then
  log "warning: fd limit $NOFILE is low for $IDLE_N idle connections"
fi
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- temp dir, files, ports
base=/tmp; [[ -d /dev/shm && -w /dev/shm ]] && base=/dev/shm   # tmpfs: the sparse file costs no RAM
TMP=$(mktemp -d "$base/sluice-bench.XXXXXX")
chmod 755 "$TMP"   # nginx workers run as nobody when started as root
mkdir -p "$TMP/www" "$TMP/tmp" "$TMP/log" "$OUT"
printf 'hello, world\n' > "$TMP/www/small"                       # 13 bytes
head -c 65536 /dev/urandom > "$TMP/www/64k"
head -c 1048576 /dev/urandom > "$TMP/www/1m"
truncate -s "${DL_MIB}M" "$TMP/www/dl"                             # also the upload's body
chmod -R a+rX "$TMP/www"
RAW=$OUT/raw.csv
echo "metric,target,run,value" > "$RAW"

PIDS=()
cleanup() {
  local rc=$? pid i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[i]}" 2>/dev/null || true; done
  for _ in $(seq 30); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    (( alive )) || break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Free loopback ports, all held at once while chosen so they differ.
read -r P_BACKEND P_BACKEND2 P_FLUSH P_NGINX P_HAPROXY P_HAPROXY_ND P_SLUICE P_SLUICE_F1 \
        P_SLUICE_SSE P_SLUICE_100 P_NGINX2 P_HAPROXY2 P_SLUICE2 \
        P_IDLE_NGINX P_IDLE_HAPROXY P_IDLE_HAPROXY_ND P_IDLE_SLUICE P_UPLOAD P_SLUICE_UP \
        P_BASE P_BASE_F1 P_BASE_SSE P_BASE_100 P_BASE2 P_IDLE_BASE P_BASE_UP \
        P_T_NGINX P_T_HAPROXY P_T_HAPROXY_ND P_T_SLUICE P_T_SLUICE_F1 P_T_BASE P_T_BASE_F1 \
        P_TI_NGINX P_TI_HAPROXY P_TI_SLUICE P_TI_BASE P_SLUICE_NF P_BASE_NF \
        < <(python3 - <<'PY'
import socket
socks = []
for _ in range(39):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)

render() {  # render TEMPLATE OUT KEY=VALUE...
  local tpl=$1 out=$2; shift 2
  local args=(-e "s|@DIR@|$TMP|g" -e "s|@NOFILE@|$NOFILE|g" -e "s|@BACKEND_PORT@|$P_BACKEND|g"
              -e "s|@FLUSH_PORT@|$P_FLUSH|g" -e "s|@UPLOAD_PORT@|$P_UPLOAD|g" -e "s|@WORKER_CONNECTIONS@|$((IDLE_N * 2 + 1024))|g"
              -e "s|@MAXCONN@|$((IDLE_N + 1024))|g")
  local kv
  for kv in "$@"; do args=(-e "s|@${kv%%=*}@|${kv#*=}|g" "${args[@]}"); done
  sed "${args[@]}" "$tpl" > "$out"
}

start() {  # start NAME CMD... -> PID in $STARTED
  local name=$1; shift
  "$@" > "$TMP/log/$name.out" 2>&1 &
  STARTED=$!
  PIDS+=("$STARTED")
}

wait_port() {
  local port=$1 name=$2
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "bench: $name did not listen on $port; its log:" >&2
  cat "$TMP/log/$name".* "$TMP/log/$name"-error.log >&2 2>/dev/null || true
  exit 1
}

nginx_workers() {  # the worker processes of an nginx master
  local i
  for i in $(seq 50); do
    local w; w=$(ps -o pid= --ppid "$1" | tr -d ' ' | tr '\n' ' ')
    if [[ -n ${w// } ]]; then echo "$w"; return; fi
    sleep 0.05
  done
  echo "bench: no nginx worker under $1" >&2; exit 1
}

start_nginx() {  # start_nginx NAME CONF CPU... ; sets STARTED (master)
  local name=$1 conf=$2; shift 2
  start "$name" "$@" nginx -e "$TMP/log/$name-error.log" -p "$TMP" -c "$conf"
}

# ---------------------------------------------------------------- start everything
log "mode $MODE: runs=$RUNS duration=${DUR}s download=${DL_MIB}MiB idle=$IDLE_N sections=[$SECTIONS] in $TMP"
declare -A PORT PROCS
render "$BENCH/nginx-backend.conf.in" "$TMP/backend.conf" WORKERS=1
start_nginx backend "$TMP/backend.conf" "${LOAD_CPU[@]}"
wait_port "$P_BACKEND" backend
PORT[direct]=$P_BACKEND
if has "$SECTIONS" upload; then   # the upload backend, on the backend's core
  start upload-sink "${LOAD_CPU[@]}" python3 "$BENCH/upload_sink.py" --port "$P_UPLOAD"
  wait_port "$P_UPLOAD" upload-sink
fi

render "$BENCH/nginx-proxy.conf.in" "$TMP/nginx-proxy.conf" WORKERS=1 PORT="$P_NGINX"
start_nginx nginx "$TMP/nginx-proxy.conf" "${PROXY_CPU[@]}"
wait_port "$P_NGINX" nginx
PORT[nginx]=$P_NGINX; PROCS[nginx]=$(nginx_workers "$STARTED")

render "$BENCH/haproxy.cfg.in" "$TMP/haproxy.cfg" WORKERS=1 PORT="$P_HAPROXY" NODELAY=""
start haproxy "${PROXY_CPU[@]}" haproxy -db -f "$TMP/haproxy.cfg"
PORT[haproxy]=$P_HAPROXY; PROCS[haproxy]=$STARTED
render "$BENCH/haproxy.cfg.in" "$TMP/haproxy-nodelay.cfg" WORKERS=1 PORT="$P_HAPROXY_ND" \
  NODELAY="option http-no-delay"
start haproxy-nodelay "${PROXY_CPU[@]}" haproxy -db -f "$TMP/haproxy-nodelay.cfg"
PORT[haproxy-nodelay]=$P_HAPROXY_ND; PROCS[haproxy-nodelay]=$STARTED
wait_port "$P_HAPROXY" haproxy; wait_port "$P_HAPROXY_ND" haproxy-nodelay

# Each sluice target (sluice, sluice-base) gets the same set of instances on its own ports.
declare -A SL_PORT=([sluice]=$P_SLUICE [sluice-base]=$P_BASE)
declare -A SL_F1=([sluice]=$P_SLUICE_F1 [sluice-base]=$P_BASE_F1)
declare -A SL_SSE=([sluice]=$P_SLUICE_SSE [sluice-base]=$P_BASE_SSE)
declare -A SL_100=([sluice]=$P_SLUICE_100 [sluice-base]=$P_BASE_100)
declare -A SL_UP=([sluice]=$P_SLUICE_UP [sluice-base]=$P_BASE_UP)
declare -A SL_UP_PID
sluice_common=(--access-log off --threads 1)
for t in $SLUICES; do
  start "$t" "${PROXY_CPU[@]}" "${BIN[$t]}" --listen "127.0.0.1:${SL_PORT[$t]}" \
    --upstream "http://127.0.0.1:$P_BACKEND" "${sluice_common[@]}"
  PORT[$t]=${SL_PORT[$t]}; PROCS[$t]=$STARTED
  wait_port "${SL_PORT[$t]}" "$t"
done
# The same in front of the same backend with --flush-interval -1, for the 13 B rows: issue 15's
# CPU target holds with the default interval and with -1.
declare -A SL_NF=([sluice]=$P_SLUICE_NF [sluice-base]=$P_BASE_NF) SL_NF_PID
if has "$SECTIONS" throughput; then
  for t in $SLUICES; do
    start "$t-nf" "${PROXY_CPU[@]}" "${BIN[$t]}" --listen "127.0.0.1:${SL_NF[$t]}" \
      --upstream "http://127.0.0.1:$P_BACKEND" --flush-interval -1 "${sluice_common[@]}"
    SL_NF_PID[$t]=$STARTED
    wait_port "${SL_NF[$t]}" "$t-nf"
  done
fi
if has "$SECTIONS" flush; then
  for t in $SLUICES; do
    start "$t-f1" "${PROXY_CPU[@]}" "${BIN[$t]}" --listen "127.0.0.1:${SL_F1[$t]}" \
      --upstream "http://127.0.0.1:$P_FLUSH" --flush-interval -1 "${sluice_common[@]}"
    start "$t-sse" "${PROXY_CPU[@]}" "${BIN[$t]}" --listen "127.0.0.1:${SL_SSE[$t]}" \
      --upstream "http://127.0.0.1:$P_FLUSH" "${sluice_common[@]}"
    start "$t-100" "${PROXY_CPU[@]}" "${BIN[$t]}" --listen "127.0.0.1:${SL_100[$t]}" \
      --upstream "http://127.0.0.1:$P_FLUSH" --flush-interval 100ms "${sluice_common[@]}"
    wait_port "${SL_F1[$t]}" "$t-f1"; wait_port "${SL_SSE[$t]}" "$t-sse"
    wait_port "${SL_100[$t]}" "$t-100"
  done
fi
if has "$SECTIONS" upload; then   # sluice has one upstream: a second instance for the upload sink
  for t in $SLUICES; do
    start "$t-up" "${PROXY_CPU[@]}" "${BIN[$t]}" --listen "127.0.0.1:${SL_UP[$t]}" \
      --upstream "http://127.0.0.1:$P_UPLOAD" "${sluice_common[@]}"
    SL_UP_PID[$t]=$STARTED
    wait_port "${SL_UP[$t]}" "$t-up"
  done
fi

# ---------------------------------------------------------------- measurement helpers
cpu_ticks() {  # utime+stime of the given processes (all their threads), in clock ticks
  local pid sum=0 f
  for pid in "$@"; do
    f=$(< "/proc/$pid/stat"); f=${f##*) }
    read -r -a a <<< "$f"
    sum=$((sum + a[11] + a[12]))
  done
  echo "$sum"
}

record() { echo "$1,$2,$3,$4" >> "$RAW"; }

reset_hwm() {  # reset_hwm PIDS...: restart the VmHWM high-water mark of these processes
  local p
  for p in "$@"; do echo 5 > "/proc/$p/clear_refs" 2>/dev/null || true; done
}
read_hwm() {  # read_hwm PIDS...: their VmHWM summed, in MiB
  local p
  for p in "$@"; do awk '/^VmHWM:/ {print $2}' "/proc/$p/status"; done |
    awk '{s += $1} END {printf "%.2f", s / 1024}'
}

path_of() { case $1 in 13) echo /small ;; 13ret) echo /ret ;; 64k) echo /64k ;; 1m) echo /1m ;; esac; }

WRK_OUT=$TMP/log/wrk.out
WRK_SCHEME=http
run_wrk() {  # run_wrk PORT PATH DURATION [prefix from LOADER, scheme from WRK_SCHEME]; sets REQS RPS
  local port=$1 path=$2 dur=$3
  "${LOADER[@]}" wrk -t"$WRK_THREADS" -c"$CONNS" -d"${dur}s" "$WRK_SCHEME://127.0.0.1:$port$path" > "$WRK_OUT" 2>&1 || {
    cat "$WRK_OUT" >&2; REQS=0; RPS=nan; return 0; }
  REQS=$(awk '/requests in/ {print $1}' "$WRK_OUT")
  RPS=$(awk '/^Requests\/sec:/ {print $2}' "$WRK_OUT")
  if grep -qE 'Non-2xx|Socket errors' "$WRK_OUT"; then
    log "warning: $(grep -E 'Non-2xx|Socket errors' "$WRK_OUT" | tr -s ' ' | tr '\n' ';') ($port$path)"
  fi
}

throughput() {  # throughput METRIC_SUFFIX TARGET PORT RUN SIZE PIDS...
  local sfx=$1 t=$2 port=$3 run=$4 size=$5; shift 5
  local path; path=$(path_of "$size")
  local c0=0 c1=0
  (( $# )) && c0=$(cpu_ticks "$@")
  run_wrk "$port" "$path" "$DUR"
  (( $# )) && c1=$(cpu_ticks "$@")
  record "rps${sfx}_$size" "$t" "$run" "$RPS"
  if (( $# )) && [[ ${REQS:-0} -gt 0 ]]; then
    local us; us=$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$REQS" 'BEGIN {printf "%.4f", d * 1e6 / hz / n}')
    record "cpu${sfx}_$size" "$t" "$run" "$us"
    log "$t $size run $run: $RPS req/s, $us µs/req CPU"
  else
    log "$t $size run $run: $RPS req/s"
  fi
}

# ---------------------------------------------------------------- 1. throughput and CPU/request
if has "$SECTIONS" throughput; then
  LOADER=("${LOAD_CPU[@]}"); WRK_THREADS=1
  for t in $TARGETS; do   # warm-up: connections, pools, page cache
    run_wrk "${PORT[$t]}" /small 1
    [[ -n ${SL_NF[$t]:-} ]] && run_wrk "${SL_NF[$t]}" /small 1
  done
  for run in $(seq "$RUNS"); do
    for size in $SIZES; do
      for t in $TARGETS; do
        # shellcheck disable=SC2086
        throughput "" "$t" "${PORT[$t]}" "$run" "$size" ${PROCS[$t]:-}
        if [[ -n ${SL_NF[$t]:-} && $size == 13* ]]; then
          throughput _f1 "$t" "${SL_NF[$t]}" "$run" "$size" "${SL_NF_PID[$t]}"
        fi
      done
    done
  done
fi

# ---------------------------------------------------------------- 2. flush delay
flush_probe() {  # flush_probe METRIC_SUFFIX TARGET PORT RUN [--sse]
  local sfx=$1 t=$2 port=$3 run=$4; shift 4
  local r
  r=$("${LOAD_CPU[@]}" python3 "$BENCH/flushdelay.py" --upstream-port "$P_FLUSH" \
        --proxy "127.0.0.1:$port" --path /flush/stream --duration "$FLUSH_DUR" "$@") || true
  read -r med max got sent <<< "${r:-nan nan 0 0}"
  record "flush_med$sfx" "$t" "$run" "$med"
  record "flush_max$sfx" "$t" "$run" "$max"
  log "flush $t${sfx:+ ($sfx)} run $run: median $med ms, max $max ms, $got/$sent chunks"
}
if has "$SECTIONS" flush; then
  for run in $(seq "$RUNS"); do
    for t in $TARGETS; do
      case $t in
        direct) ;;   # the upstream itself; nothing in between
        sluice|sluice-base)
          flush_probe "" "$t" "${SL_F1[$t]}" "$run"
          flush_probe _sse "$t" "${SL_SSE[$t]}" "$run" --sse
          flush_probe _100ms "$t" "${SL_100[$t]}" "$run" ;;
        *) flush_probe "" "$t" "${PORT[$t]}" "$run" ;;
      esac
    done
  done
fi

# ---------------------------------------------------------------- 3. large download
if has "$SECTIONS" download; then
  for run in $(seq "$RUNS"); do
    for t in $TARGETS; do
      pids=(${PROCS[$t]:-})
      reset_hwm "${pids[@]}"
      r=$("${LOAD_CPU[@]}" curl -s -o /dev/null -w '%{size_download} %{time_total} %{http_code}' \
            "http://127.0.0.1:${PORT[$t]}/dl") || r="0 1 000"
      read -r size secs code <<< "$r"
      if [[ $code != 200 || $size != $((DL_MIB * 1048576)) ]]; then
        log "warning: download via $t: HTTP $code, $size bytes"; continue
      fi
      mbps=$(awk -v s="$size" -v t="$secs" 'BEGIN {printf "%.1f", s / t / 1e6}')
      record dl_mbps "$t" "$run" "$mbps"
      hwm=""
      if (( ${#pids[@]} )); then
        hwm=$(read_hwm "${pids[@]}")
        record dl_rss_mib "$t" "$run" "$hwm"
      fi
      log "download ${DL_MIB} MiB via $t run $run: $mbps MB/s${hwm:+, peak RSS $hwm MiB}"
    done
  done
fi

# ---------------------------------------------------------------- 3b. large upload
# curl -T streams the sparse file (tmpfs: zero pages, no disk) as a PUT body with Content-Length,
# 64 KiB per read, never holding it whole; "Expect:" off so no proxy's 100-continue handling adds
# a round trip. bench/upload_sink.py (core 1) reads every body byte before it answers and returns
# the count it received, which must equal the size sent.
if has "$SECTIONS" upload; then
  UP_BODY=$TMP/log/upload.body
  for run in $(seq "$RUNS"); do
    for t in $TARGETS; do
      case $t in
        direct) port=$P_UPLOAD; pids=() ;;
        sluice|sluice-base) port=${SL_UP[$t]}; pids=("${SL_UP_PID[$t]}") ;;
        *) port=${PORT[$t]}; read -r -a pids <<< "${PROCS[$t]:-}" ;;
      esac
      reset_hwm "${pids[@]}"
      rm -f "$UP_BODY"
      r=$("${LOAD_CPU[@]}" curl -s -H 'Expect:' -T "$TMP/www/dl" -o "$UP_BODY" --max-time 120 \
            -w '%{size_upload} %{time_total} %{http_code}' "http://127.0.0.1:$port/upload") || r="0 1 000"
      read -r size secs code <<< "$r"
      got=$(cat "$UP_BODY" 2>/dev/null || true)
      if [[ $code != 200 || $size != $((DL_MIB * 1048576)) || $got != "$size" ]]; then
        log "warning: upload via $t: HTTP $code, $size bytes sent, backend got ${got:-?}"; continue
      fi
      mbps=$(awk -v s="$size" -v t="$secs" 'BEGIN {printf "%.1f", s / t / 1e6}')
      record up_mbps "$t" "$run" "$mbps"
      hwm=""
      if (( ${#pids[@]} )); then
        hwm=$(read_hwm "${pids[@]}")
        record up_rss_mib "$t" "$run" "$hwm"
      fi
      log "upload ${DL_MIB} MiB via $t run $run: $mbps MB/s${hwm:+, peak RSS $hwm MiB}"
    done
  done
fi

# ---------------------------------------------------------------- 4. idle keep-alive connections
if has "$SECTIONS" idle; then
  # Fresh instances (same configs), so that memory freed by the earlier sections cannot hide
  # the cost of the new connections: one for the keep-alive connections that made a request
  # (idle), then another for connections that connected and sent nothing (silent, the
  # slow-loris lever; within every proxy's header timeout).
  declare -A IDLE_PORT=([nginx]=$P_IDLE_NGINX [haproxy]=$P_IDLE_HAPROXY
                        [haproxy-nodelay]=$P_IDLE_HAPROXY_ND [sluice]=$P_IDLE_SLUICE
                        [sluice-base]=$P_IDLE_BASE)
  for mode in idle silent; do
  mode_flags=(); [[ $mode == silent ]] && mode_flags=(--silent)
  for t in $TARGETS; do
    port=${IDLE_PORT[$t]:-}
    [[ -n $port ]] || continue
    case $t in
      nginx)
        render "$BENCH/nginx-proxy.conf.in" "$TMP/nginx-idle.conf" WORKERS=1 PORT="$port"
        start_nginx nginx-idle "$TMP/nginx-idle.conf" "${PROXY_CPU[@]}"
        wait_port "$port" nginx-idle; procs=$(nginx_workers "$STARTED") ;;
      haproxy|haproxy-nodelay)
        nd=""; [[ $t == haproxy-nodelay ]] && nd="option http-no-delay"
        render "$BENCH/haproxy.cfg.in" "$TMP/$t-idle.cfg" WORKERS=1 PORT="$port" NODELAY="$nd"
        start "$t-idle" "${PROXY_CPU[@]}" haproxy -db -f "$TMP/$t-idle.cfg"
        wait_port "$port" "$t-idle"; procs=$STARTED ;;
      sluice|sluice-base)
        start "$t-idle" "${PROXY_CPU[@]}" "${BIN[$t]}" --listen "127.0.0.1:$port" \
          --upstream "http://127.0.0.1:$P_BACKEND" "${sluice_common[@]}"
        wait_port "$port" "$t-idle"; procs=$STARTED ;;
    esac
    master=$STARTED
    pidargs=(); for p in $procs; do pidargs+=(--pid "$p"); done
    r=$("${LOAD_CPU[@]}" python3 "$BENCH/idleconns.py" --proxy "127.0.0.1:$port" \
          "${pidargs[@]}" --count "$IDLE_N" --settle 1 "${mode_flags[@]}") ||
      log "warning: $mode connections via $t incomplete"
    read -r before after per n <<< "${r:-0 0 nan 0}"
    record "${mode}_kib" "$t" 1 "$per"
    log "$mode via $t: $n connections, RSS $before -> $after KiB, $per KiB/connection"
    # The port is taken again by the next mode's instance.
    kill "$master" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$master" 2>/dev/null || break; sleep 0.05; done
  done
  done
fi

# ---------------------------------------------------------------- 4b. TLS (bench/tls.sh)
if has "$SECTIONS" tls; then
  # shellcheck source=tls.sh source-path=SCRIPTDIR
  source "$BENCH/tls.sh"
fi

# ---------------------------------------------------------------- 4c. observability (bench/observability.sh)
if has "$SECTIONS" observability; then
  # shellcheck source=observability.sh source-path=SCRIPTDIR
  source "$BENCH/observability.sh"
fi

# ---------------------------------------------------------------- 4d. fleet (bench/fleet.sh)
if has "$SECTIONS" fleet; then
  # shellcheck source=fleet.sh source-path=SCRIPTDIR
  source "$BENCH/fleet.sh"
fi

# ---------------------------------------------------------------- 4f. HTTP/2 (bench/http2.sh)
if has "$SECTIONS" http2; then
  # shellcheck source=http2.sh source-path=SCRIPTDIR
  source "$BENCH/http2.sh"
fi

# ---------------------------------------------------------------- 4g. HTTP/2 streams (bench/http2_streams.sh)
if has "$SECTIONS" h2streams; then
  # shellcheck source=http2_streams.sh source-path=SCRIPTDIR
  source "$BENCH/http2_streams.sh"
fi

# ---------------------------------------------------------------- 4h. 1,000 SSE streams (bench/sse_fanout.sh)
if has "$SECTIONS" sse1000; then
  # shellcheck source=sse_fanout.sh source-path=SCRIPTDIR
  source "$BENCH/sse_fanout.sh"
fi

# ---------------------------------------------------------------- 4e. compression (bench/compression.sh)
if has "$SECTIONS" compression; then
  # shellcheck source=compression.sh source-path=SCRIPTDIR
  source "$BENCH/compression.sh"
fi

# ---------------------------------------------------------------- 5. two workers, unpinned (full mode)
if has "$SECTIONS" workers2; then
  log "2-worker unpinned run: backend, proxies and wrk -t2 all unpinned"
  render "$BENCH/nginx-backend.conf.in" "$TMP/backend2.conf" BACKEND_PORT="$P_BACKEND2"
  sed -i -e 's/^worker_processes 1;/worker_processes 2;/' -e "s|backend.pid|backend2.pid|" "$TMP/backend2.conf"
  start_nginx backend2 "$TMP/backend2.conf"
  wait_port "$P_BACKEND2" backend2
  render "$BENCH/nginx-proxy.conf.in" "$TMP/nginx2.conf" WORKERS=2 PORT="$P_NGINX2" BACKEND_PORT="$P_BACKEND2"
  start_nginx nginx2 "$TMP/nginx2.conf"; n2=$STARTED
  render "$BENCH/haproxy.cfg.in" "$TMP/haproxy2.cfg" WORKERS=2 PORT="$P_HAPROXY2" NODELAY="" BACKEND_PORT="$P_BACKEND2"
  start haproxy2 haproxy -db -f "$TMP/haproxy2.cfg"; h2=$STARTED
  declare -A PORT2=([direct]=$P_BACKEND2 [nginx]=$P_NGINX2 [haproxy]=$P_HAPROXY2 [sluice]=$P_SLUICE2
                    [sluice-base]=$P_BASE2)
  declare -A PROCS2=([haproxy]=$h2)
  W2_TARGETS="direct nginx haproxy"
  for t in $SLUICES; do
    start "${t}2" "${BIN[$t]}" --listen "127.0.0.1:${PORT2[$t]}" --upstream "http://127.0.0.1:$P_BACKEND2" \
      --access-log off --threads 2; PROCS2[$t]=$STARTED
    W2_TARGETS+=" $t"
  done
  wait_port "$P_NGINX2" nginx2; wait_port "$P_HAPROXY2" haproxy2
  for t in $SLUICES; do wait_port "${PORT2[$t]}" "${t}2"; done
  PROCS2[nginx]=$(nginx_workers "$n2")
  LOADER=(); WRK_THREADS=2
  for t in $W2_TARGETS; do run_wrk "${PORT2[$t]}" /small 1; done
  for run in $(seq "$RUNS"); do
    for t in $W2_TARGETS; do
      # shellcheck disable=SC2086
      throughput 2 "$t" "${PORT2[$t]}" "$run" 13 ${PROCS2[$t]:-}
    done
  done
fi

# ---------------------------------------------------------------- report
{
  echo "sluice benchmark, $MODE mode ($RUNS run(s) each, ${DUR} s per wrk run, wrk -t1 -c$CONNS), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r); elapsed ${SECONDS} s"
  if [[ -n $BASE ]]; then
    echo
    echo "sluice: $SLUICE; sluice-base: $BASE"
  fi
  echo
} > "$OUT/results.md.head"
python3 "$BENCH/report.py" "$RAW" "$OUT/results.csv" "$OUT/results.md.table" \
  "DL_SIZE=$(( DL_MIB >= 1024 ? DL_MIB / 1024 : DL_MIB )) $( (( DL_MIB >= 1024 )) && echo GiB || echo MiB)" \
  "IDLE_N=$IDLE_N" > /dev/null
# The TLS table (if the tls section ran): its rows appended to results.csv, the table below.
python3 "$BENCH/report_tls.py" "$RAW" "$OUT/results.csv" "$OUT/results.md.tls" \
  "DL_SIZE=$(( DL_MIB >= 1024 ? DL_MIB / 1024 : DL_MIB )) $( (( DL_MIB >= 1024 )) && echo GiB || echo MiB)" \
  "IDLE_N=$IDLE_N" > /dev/null
# Only the header when no cleartext section ran (e.g. BENCH_SECTIONS=tls): leave that table out.
(( $(wc -l < "$OUT/results.md.table") > 2 )) || : > "$OUT/results.md.table"
[[ -f $OUT/results.md.obs ]] || : > "$OUT/results.md.obs"
[[ -f $OUT/results.md.fleet ]] || : > "$OUT/results.md.fleet"
[[ -f $OUT/results.md.compression ]] || : > "$OUT/results.md.compression"
[[ -f $OUT/results.md.http2 ]] || : > "$OUT/results.md.http2"
[[ -f $OUT/results.md.h2streams ]] || : > "$OUT/results.md.h2streams"
[[ -f $OUT/results.md.sse1000 ]] || : > "$OUT/results.md.sse1000"
cat "$OUT/results.md.head" "$OUT/results.md.table" "$OUT/results.md.tls" "$OUT/results.md.obs" \
  "$OUT/results.md.fleet" "$OUT/results.md.compression" "$OUT/results.md.http2" \
  "$OUT/results.md.h2streams" "$OUT/results.md.sse1000" > "$OUT/results.md"
rm -f "$OUT/results.md.head" "$OUT/results.md.table" "$OUT/results.md.tls" "$OUT/results.md.obs" \
  "$OUT/results.md.fleet" "$OUT/results.md.compression" "$OUT/results.md.http2" \
  "$OUT/results.md.h2streams" "$OUT/results.md.sse1000"
if command -v gnuplot >/dev/null; then while IFS= read -r l; do log "$l"; done < <("$BENCH/chart.sh" "$OUT/results.csv" "$OUT/cpu.png" "${H2_RAW:-}" 2>&1 || echo "chart: bench/chart.sh failed"); fi
echo
cat "$OUT/results.md"
log "done in ${SECONDS} s; results in $OUT/results.md and $OUT/results.csv"
