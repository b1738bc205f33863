# shellcheck shell=bash disable=SC2034,SC2153,SC2154  # sourced: run.sh defines and reads these
# The tls section of bench/run.sh: sluice, nginx and HAProxy terminating TLS with the same
# certificate and the same cipher suite, in the same run (docs/benchmarks.md, "TLS").
#
# Sourced by bench/run.sh when BENCH_SECTIONS has "tls"; not meant to be run alone. It uses
# run.sh's variables (TMP, BENCH, TARGETS, SLUICES, BIN, PORT, PROCS, P_*, PROXY_CPU, LOAD_CPU,
# RUNS, DUR, DL_MIB, IDLE_N, ...) and helpers (render, start, start_nginx, wait_port,
# nginx_workers, cpu_ticks, record, reset_hwm, read_hwm, throughput, run_wrk, flush_probe, log).
#
#   1. one ECDSA P-256 certificate (one `openssl req` into $TMP/tls); HAProxy gets cert+key in one
#      PEM; every client is pinned to TLS 1.3, TLS_AES_128_GCM_SHA256, X25519 through
#      OPENSSL_CONF=bench/openssl-client.cnf, nginx and HAProxy on their side too;
#   2. HTTPS keep-alive req/s and CPU µs/req at 13 B and 64 KiB (wrk over https, as the cleartext
#      rows);
#   3. new and resumed handshakes per second, and the proxy's CPU per handshake (openssl s_time
#      -new / -reuse, one GET /small each);
#   4. a large download over TLS (curl): MB/s and the proxy's peak RSS;
#   5. flush delay over TLS next to cleartext, in the same pass (bench/flushdelay.py --tls;
#      sluice with --flush-interval -1, as in the cleartext row);
#   6. RSS per idle TLS keep-alive connection (bench/idleconns.py --tls) on fresh instances.
# HAProxy with option http-no-delay only changes when small chunks leave, so it is measured in
# the flush row only. sluice-base (SLUICE_BASELINE) takes part only if that binary has
# --tls-cert.

TLS_SUITE=TLS_AES_128_GCM_SHA256   # as in bench/openssl-client.cnf
TLS_DIR=$TMP/tls
TLS_CA=$TLS_DIR/cert.pem
# Every TLS client runs with this environment (and on the load core).
TLS_CLIENT=(env "OPENSSL_CONF=$BENCH/openssl-client.cnf")
case "$MODE" in quick) HS_TIME=2 ;; *) HS_TIME=5 ;; esac
HS_TIME=${BENCH_HS_TIME:-$HS_TIME}   # seconds per openssl s_time run (it counts whole seconds)

# ---------------------------------------------------------------- certificate
mkdir -p "$TLS_DIR"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$TLS_DIR/key.pem" -out "$TLS_DIR/cert.pem" > "$TMP/log/openssl-req.out" 2>&1 ||
  { cat "$TMP/log/openssl-req.out" >&2; echo "bench: tls: cannot make the certificate" >&2; exit 1; }
cat "$TLS_DIR/cert.pem" "$TLS_DIR/key.pem" > "$TLS_DIR/combined.pem"   # HAProxy's crt
chmod 644 "$TLS_DIR"/*.pem   # nginx reads them as root (master), HAProxy as itself

# ---------------------------------------------------------------- who takes part
TLS_SLUICES=""
for t in $SLUICES; do
  has "$TARGETS" "$t" || continue
  if "${BIN[$t]}" --help 2>&1 | grep -q -- --tls-cert; then TLS_SLUICES+=" $t"
  else log "tls: ${BIN[$t]} has no --tls-cert; $t left out of the tls section"; fi
done
TLS_MAIN="" TLS_FLUSH=""   # TLS_MAIN: every row but flush; TLS_FLUSH: the flush row
for t in $TARGETS; do
  case $t in
    direct) ;;
    haproxy-nodelay) TLS_FLUSH+=" $t" ;;
    sluice|sluice-base) has "$TLS_SLUICES" "$t" && { TLS_MAIN+=" $t"; TLS_FLUSH+=" $t"; } ;;
    *) TLS_MAIN+=" $t"; TLS_FLUSH+=" $t" ;;
  esac
done
TLS_MAIN=${TLS_MAIN# } TLS_FLUSH=${TLS_FLUSH# }

# ---------------------------------------------------------------- instances
render_nginx_tls() {  # render_nginx_tls OUT PORT: the cleartext proxy config with an ssl listener
  local out=$1 port=$2
  render "$BENCH/nginx-proxy.conf.in" "$out.plain" WORKERS=1 PORT="$port"
  render "$BENCH/nginx-tls.conf.in" "$out.tls" TLS_SUITE="$TLS_SUITE"
  sed -e "/^ *listen 127\.0\.0\.1:$port /{s/ backlog=/ ssl backlog=/;r $out.tls" -e "}" "$out.plain" > "$out"
  grep -q "listen 127.0.0.1:$port ssl " "$out" || { echo "bench: tls: no ssl listener in $out" >&2; exit 1; }
}
render_haproxy_tls() {  # render_haproxy_tls OUT PORT NODELAY: the cleartext config, bind with ssl
  local out=$1 port=$2 nd=$3
  render "$BENCH/haproxy.cfg.in" "$out.plain" WORKERS=1 PORT="$port" NODELAY="$nd"
  # TLS 1.2 like sluice (ECDHE AEAD suites); TLS 1.3 pinned to the one suite.
  sed -e "s|^\( *bind 127\.0\.0\.1:$port\)\$|\1 ssl crt $TLS_DIR/combined.pem alpn http/1.1 ssl-min-ver TLSv1.2 ciphers ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL ciphersuites $TLS_SUITE|" \
    "$out.plain" > "$out"
  grep -q "bind 127.0.0.1:$port ssl " "$out" || { echo "bench: tls: no ssl bind in $out" >&2; exit 1; }
}
# start_tls_proxy NAME TARGET PORT [UPSTREAM_PORT [sluice flags...]]: sets STARTED_PROCS
start_tls_proxy() {
  local name=$1 t=$2 port=$3 up=${4:-$P_BACKEND}; shift 3; (( $# )) && shift
  case $t in
    nginx)
      render_nginx_tls "$TMP/$name.conf" "$port"
      start_nginx "$name" "$TMP/$name.conf" "${PROXY_CPU[@]}"
      wait_port "$port" "$name"; STARTED_PROCS=$(nginx_workers "$STARTED") ;;
    haproxy|haproxy-nodelay)
      local nd=""; [[ $t == haproxy-nodelay ]] && nd="option http-no-delay"
      render_haproxy_tls "$TMP/$name.cfg" "$port" "$nd"
      start "$name" "${PROXY_CPU[@]}" haproxy -db -f "$TMP/$name.cfg"
      wait_port "$port" "$name"; STARTED_PROCS=$STARTED ;;
    sluice|sluice-base)
      start "$name" "${PROXY_CPU[@]}" "${BIN[$t]}" --listen "127.0.0.1:$port" \
        --upstream "http://127.0.0.1:$up" --tls-cert "$TLS_DIR/cert.pem" --tls-key "$TLS_DIR/key.pem" \
        "${sluice_common[@]}" "$@"
      wait_port "$port" "$name"; STARTED_PROCS=$STARTED ;;
  esac
}

# The negotiated protocol and suite of one handshake, and a GET /small over it: a proxy that
# negotiates anything but the pinned suite, or answers wrongly, stops the run.
tls_check() {  # tls_check NAME PORT
  local name=$1 port=$2 hs body
  hs=$("${TLS_CLIENT[@]}" openssl s_client -connect "127.0.0.1:$port" -servername localhost \
         -CAfile "$TLS_CA" -verify_return_error -brief < /dev/null 2>&1) || true
  if ! grep -q "^Ciphersuite: $TLS_SUITE\$" <<< "$hs" || ! grep -q '^Protocol version: TLSv1.3$' <<< "$hs"; then
    echo "bench: tls: $name (port $port) did not negotiate TLSv1.3 $TLS_SUITE:" >&2; echo "$hs" >&2; exit 1
  fi
  body=$("${TLS_CLIENT[@]}" curl -sS --max-time 10 --cacert "$TLS_CA" "https://127.0.0.1:$port/small") || true
  if [[ $body != "hello, world" ]]; then
    echo "bench: tls: GET https://127.0.0.1:$port/small via $name answered '$body'; its log:" >&2
    cat "$TMP/log/$name".* >&2 2>/dev/null || true; exit 1
  fi
}

log "tls: TLS 1.3 $TLS_SUITE (X25519), ECDSA P-256 certificate; rows: [$TLS_MAIN], flush: [$TLS_FLUSH]"
declare -A TPORT TPROCS TF1
declare -A TLS_P=([nginx]=$P_T_NGINX [haproxy]=$P_T_HAPROXY [haproxy-nodelay]=$P_T_HAPROXY_ND
                  [sluice]=$P_T_SLUICE [sluice-base]=$P_T_BASE)
declare -A TLS_P_F1=([sluice]=$P_T_SLUICE_F1 [sluice-base]=$P_T_BASE_F1)
for t in $TLS_FLUSH; do
  start_tls_proxy "$t-tls" "$t" "${TLS_P[$t]}"
  TPORT[$t]=${TLS_P[$t]}; TPROCS[$t]=$STARTED_PROCS
  tls_check "$t-tls" "${TPORT[$t]}"
done
for t in $TLS_SLUICES; do   # the flush probe's sluices: TLS, and cleartext unless flush started it
  start_tls_proxy "$t-tls-f1" "$t" "${TLS_P_F1[$t]}" "$P_FLUSH" --flush-interval -1
  TF1[$t]=${TLS_P_F1[$t]}
  if ! has "$SECTIONS" flush; then
    start "$t-f1" "${PROXY_CPU[@]}" "${BIN[$t]}" --listen "127.0.0.1:${SL_F1[$t]}" \
      --upstream "http://127.0.0.1:$P_FLUSH" --flush-interval -1 "${sluice_common[@]}"
    wait_port "${SL_F1[$t]}" "$t-f1"
  fi
  log "tls: $t: $(grep -m1 'listening on' "$TMP/log/$t-tls.out" 2>/dev/null || echo '?')"
done

# ---------------------------------------------------------------- 2. HTTPS keep-alive, CPU/request
LOADER=("${TLS_CLIENT[@]}" "${LOAD_CPU[@]}"); WRK_THREADS=1; WRK_SCHEME=https
for t in $TLS_MAIN; do run_wrk "${TPORT[$t]}" /small 1; done   # warm-up
for run in $(seq "$RUNS"); do
  for size in 13 64k; do
    for t in $TLS_MAIN; do
      # shellcheck disable=SC2086
      throughput _tls "$t" "${TPORT[$t]}" "$run" "$size" ${TPROCS[$t]}
    done
  done
done
WRK_SCHEME=http

# ---------------------------------------------------------------- 3. handshakes per second
# openssl s_time, one process on the load core: connect, full (-new) or resumed (-reuse, the
# session ticket of the connection before) TLS 1.3 handshake, "GET /small HTTP/1.0", read to the
# close, again for HS_TIME s. Sequential, so the rate is one client's latency-bound rate; the
# proxy's CPU per handshake (its request and close included) is the cost figure. s_time prints a
# character per connection, "r" for a resumed one: the resumed share is recorded too.
S_TIME_OUT=$TMP/log/s_time.out
hs_probe() {  # hs_probe new|reuse TARGET PORT RUN PIDS...
  local mode=$1 t=$2 port=$3 run=$4; shift 4
  local c0 c1 t0 t1 n reused per
  c0=$(cpu_ticks "$@"); t0=$(date +%s%N)
  "${TLS_CLIENT[@]}" "${LOAD_CPU[@]}" openssl s_time -connect "127.0.0.1:$port" "-$mode" \
    -time "$HS_TIME" -www /small -ciphersuites "$TLS_SUITE" > "$S_TIME_OUT" 2> "$S_TIME_OUT.err" || true
  t1=$(date +%s%N); c1=$(cpu_ticks "$@")
  read -r n reused per < <(awk '
      /^[rt*23]+$/ { n += length($0); r += gsub(/r/, "r") }
      /bytes read per connection/ { b = $(NF - 4) }
      END { print n + 0, r + 0, (b == "" ? "?" : b) }' "$S_TIME_OUT")
  if (( n == 0 )); then
    log "warning: s_time -$mode via $t: no connection; its output:"
    cat "$S_TIME_OUT" "$S_TIME_OUT.err" >&2; return 0
  fi
  local rate us pct
  rate=$(awk -v n="$n" -v ns=$((t1 - t0)) 'BEGIN {printf "%.1f", n / (ns / 1e9)}')
  us=$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$n" 'BEGIN {printf "%.2f", d * 1e6 / hz / n}')
  pct=$(awk -v r="$reused" -v n="$n" 'BEGIN {printf "%.1f", 100 * r / n}')
  record "hs_${mode}" "$t" "$run" "$rate"
  record "hs_${mode}_cpu" "$t" "$run" "$us"
  record "hs_${mode}_resumed_pct" "$t" "$run" "$pct"
  log "handshakes -$mode via $t run $run: $n in $(( (t1 - t0) / 1000000 )) ms = $rate/s, $us µs CPU each, $pct % resumed, $per bytes read per connection"
}
for run in $(seq "$RUNS"); do
  for mode in new reuse; do
    for t in $TLS_MAIN; do
      # shellcheck disable=SC2086
      hs_probe "$mode" "$t" "${TPORT[$t]}" "$run" ${TPROCS[$t]}
    done
  done
done

# ---------------------------------------------------------------- 4. large download over TLS
for run in $(seq "$RUNS"); do
  for t in $TLS_MAIN; do
    read -r -a pids <<< "${TPROCS[$t]}"
    reset_hwm "${pids[@]}"
    r=$("${TLS_CLIENT[@]}" "${LOAD_CPU[@]}" curl -s --cacert "$TLS_CA" -o /dev/null \
          -w '%{size_download} %{time_total} %{http_code}' "https://127.0.0.1:${TPORT[$t]}/dl") || r="0 1 000"
    read -r size secs code <<< "$r"
    if [[ $code != 200 || $size != $((DL_MIB * 1048576)) ]]; then
      log "warning: TLS download via $t: HTTP $code, $size bytes"; continue
    fi
    mbps=$(awk -v s="$size" -v t="$secs" 'BEGIN {printf "%.1f", s / t / 1e6}')
    hwm=$(read_hwm "${pids[@]}")
    record tls_dl_mbps "$t" "$run" "$mbps"
    record tls_dl_rss_mib "$t" "$run" "$hwm"
    log "TLS download ${DL_MIB} MiB via $t run $run: $mbps MB/s, peak RSS $hwm MiB"
  done
done

# ---------------------------------------------------------------- 5. flush delay, TLS next to cleartext
TLS_PROBE_ARGS=(--tls --cafile "$TLS_CA" --expect-cipher "$TLS_SUITE")
for run in $(seq "$RUNS"); do
  for t in $TLS_FLUSH; do
    case $t in
      sluice|sluice-base) clear_port=${SL_F1[$t]}; tls_port=${TF1[$t]} ;;
      *) clear_port=${PORT[$t]}; tls_port=${TPORT[$t]} ;;
    esac
    flush_probe _clear "$t" "$clear_port" "$run"
    ( export OPENSSL_CONF="$BENCH/openssl-client.cnf"; flush_probe _tls "$t" "$tls_port" "$run" "${TLS_PROBE_ARGS[@]}" )
  done
done

# ---------------------------------------------------------------- 6. idle TLS keep-alive connections
# Fresh instances, as in the cleartext idle section.
declare -A TLS_P_IDLE=([nginx]=$P_TI_NGINX [haproxy]=$P_TI_HAPROXY [sluice]=$P_TI_SLUICE
                       [sluice-base]=$P_TI_BASE)
for t in $TLS_MAIN; do
  port=${TLS_P_IDLE[$t]:-}
  [[ -n $port ]] || continue
  start_tls_proxy "$t-tls-idle" "$t" "$port"
  pidargs=(); for p in $STARTED_PROCS; do pidargs+=(--pid "$p"); done
  r=$("${TLS_CLIENT[@]}" "${LOAD_CPU[@]}" python3 "$BENCH/idleconns.py" --proxy "127.0.0.1:$port" \
        "${pidargs[@]}" --count "$IDLE_N" --settle 1 "${TLS_PROBE_ARGS[@]}") ||
    log "warning: idle TLS connections via $t incomplete"
  read -r before after per n <<< "${r:-0 0 nan 0}"
  record tls_idle_kib "$t" 1 "$per"
  log "idle TLS via $t: $n connections, RSS $before -> $after KiB, $per KiB/connection"
done
