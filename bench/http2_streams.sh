# shellcheck shell=bash disable=SC2153,SC2154  # sourced: run.sh defines and reads these
# The h2streams section of bench/run.sh (sourced: it uses run.sh's helpers, pinning, temp dir and
# cleanup): what HTTP/2 streams do to each other, issue 13's other performance rows, for nginx,
# HAProxy and sluice in the same run, each serving h2c (prior knowledge: nginx `listen … http2`,
# HAProxy `bind … proto h2`, sluice by the preface), one worker each on core 0; the clients and
# the backends on core 1. HAProxy runs with `option http-no-delay` here (its low-latency setting:
# three of the four rows are about delay). Every client is a probe in Python (Debian's
# /usr/bin/python3 with python3-hpack and python3-grpcio; bench/h2_*.py say what each does):
#   1. SSE over h2 (bench/h2_sse.py): one SSE stream from bench/sse_backend.py (HTTP/1.1, one
#      event every 10 ms, each stamped with time.time_ns() when written) over an h2c connection
#      to the proxy; per event, arrival minus send. Direct: the same over HTTP/1.1 to the backend.
#      Alone: the median minus direct's (target ≤ 0.3 ms) and the max (target ≤ 2 ms). Then the
#      same stream with 20 downloads of the backend nginx's sparse /dl running on the SAME h2
#      connection (opened first, kept running, reset at the end): p99 (target ≤ 5 ms) and the
#      downloads' MB/s meanwhile. Streams get the protocol's 65,535-byte window, the connection
#      16 MiB, both returned as the client reads. nginx and HAProxy route /events to the SSE
#      backend and the rest to the nginx backend; sluice does the same with --config (two
#      upstreams, a route for /events).
#   2. A stopped reader's neighbour (bench/h2_neighbour.py): on one h2c connection stream A
#      downloads /dl but its reader stops (A's stream window is never returned, the connection's
#      is, A's bytes included), then stream B downloads /dl (DL_MIB MiB) as fast as the client
#      reads; B's MB/s with A stopped over B's MB/s alone (the same connection setup without A),
#      medians of 3 of each per run, alone and stopped alternating, after one warm-up download.
#      Target: ≥ 90 %.
#      Windows: 1 MiB per stream, 16 MiB for the connection.
#   3. gRPC server streaming (bench/h2_grpc.py, python3-grpcio, a generic handler, no protoc):
#      N messages 5 ms apart, each stamped with time.time_ns() when the server yields it; the
#      client's arrival minus send, p50 and p99, direct to the gRPC server and through each proxy
#      (nginx `grpc_pass grpc://`, HAProxy `server … proto h2`, sluice --upstream-protocol h2,
#      all h2c to the server); the proxies' figures are minus direct's at the same percentile.
#      Target: p99 ≤ 2 ms added.
#   4. Rapid reset (bench/h2_rapid_reset.py): 10,000 streams, each HEADERS then RST_STREAM(CANCEL)
#      at once, 100 per write with a PING after each, two such batches in flight (as fast as the
#      proxy takes them), reconnecting after a GOAWAY (sluice sends ENHANCE_YOUR_CALM past its
#      reset budget) until the proxies have taken 10,000 (PING acknowledged, or at or below the
#      GOAWAY's last stream id; streams written past a GOAWAY are counted apart), against a fresh
#      instance of each proxy (sluice --h2-max-concurrent-streams 100) in front of
#      bench/h2_count_backend.py (answers after 50 ms, counts the requests it received). The
#      upstream requests the attack caused (target for sluice: ≤ 100 + a small constant), the
#      connections it took, the proxy's RSS growth (VmHWM after minus VmRSS before; target
#      ≤ 16 MiB), and a well-behaved h2c client's successes / attempts meanwhile (on its own
#      connection, one GET at a time; target: all served).
# Rows 1 and 3 run as 5 probes per target and run, the targets interleaved round by round so
# that the machine's ups and downs reach all of them; their statistics are over every event or
# message of every run (all delays in $OUT/h2streams-delays.csv). Row 2: medians; row 4: the
# largest over the runs, and sums of the parallel client's counts.
# Writes $OUT/results.md.h2streams (a table run.sh appends to results.md) and
# $OUT/h2streams-raw.csv. Only the sluice binary is measured (not SLUICE_BASELINE's, which may
# predate --config or the HTTP/2 upstream).
# Environment: BENCH_H2S_EVENTS (SSE events per target and run; quick 250, full 500),
# BENCH_H2S_MESSAGES (gRPC messages per target and run; quick 400, full 1000), BENCH_H2S_RESETS
# (streams of the attack; 10000), BENCH_H2S_PYTHON (the probes' interpreter; /usr/bin/python3).

H2S_RAW=$OUT/h2streams-raw.csv
echo "metric,target,run,value" > "$H2S_RAW"
H2S_DELAYS=$OUT/h2streams-delays.csv
echo "kind,target,run,ms" > "$H2S_DELAYS"
h2s_record() { echo "$1,$2,$3,$4" >> "$H2S_RAW"; }
case $MODE in quick) H2S_EVENTS=250; H2S_MSGS=400 ;; *) H2S_EVENTS=500; H2S_MSGS=1000 ;; esac
H2S_EVENTS=${BENCH_H2S_EVENTS:-$H2S_EVENTS}
H2S_MSGS=${BENCH_H2S_MESSAGES:-$H2S_MSGS}
H2S_RESETS=${BENCH_H2S_RESETS:-10000}
H2S_EVERY=10                       # ms between SSE events
H2S_BULK=20                        # downloads next to the SSE stream
H2S_NB_ROUNDS=3                    # B alone and B with A stopped, alternating, per proxy and run
H2S_ROUNDS=5                       # SSE and gRPC probes per target and run, interleaved
H2S_PY=${BENCH_H2S_PYTHON:-/usr/bin/python3}
"$H2S_PY" -c 'import hpack, grpc' 2> /dev/null || {
  echo "bench: h2streams: $H2S_PY cannot import hpack and grpc (python3-hpack, python3-grpcio: scripts/install-deps.sh bench)" >&2
  exit 1
}
H2S_PROBE=("${LOAD_CPU[@]}" "$H2S_PY")

read -r P_H2S_SSE P_H2S_GRPC P_H2S_COUNT P_H2S_NGINX P_H2S_HAPROXY P_H2S_SLUICE \
  P_H2S_NGINX_G P_H2S_HAPROXY_G P_H2S_SLUICE_G P_H2S_NGINX_R P_H2S_HAPROXY_R P_H2S_SLUICE_R \
  < <(python3 - <<'PY'
import socket
socks = []
for _ in range(12):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)

declare -A H2S_PORT H2S_PID H2S_MEM   # listening port; the process to stop; the ones to measure
# nginx: the proxy config with `http2` on its listener; upstream UP for `location /` (proxy_pass,
# or grpc_pass for grpc); sse: /events to the SSE backend.
h2s_nginx() {  # h2s_nginx NAME PORT UP plain|sse|grpc
  local name=$1 port=$2 up=$3 kind=$4 conf=$TMP/h2s-$1.conf
  render "$BENCH/nginx-proxy.conf.in" "$conf.plain" WORKERS=1 PORT="$port" BACKEND_PORT="$up"
  local seds=(-e "s|^\( *listen 127\.0\.0\.1:$port\) backlog=4096;|\1 http2 backlog=4096;|")
  case $kind in
    sse) seds+=(-e "s|^\( *\)location /flush/ .*\$|&\n\1location /events { proxy_pass http://127.0.0.1:$P_H2S_SSE; }|") ;;
    grpc) seds+=(-e "s|^\( *\)location / { proxy_pass http://backend; }|\1location / { grpc_pass grpc://127.0.0.1:$up; }|") ;;
  esac
  sed "${seds[@]}" "$conf.plain" > "$conf"
  grep -q "listen 127.0.0.1:$port http2" "$conf" || { echo "bench: h2streams: no http2 listener in $conf" >&2; exit 1; }
  case $kind in
    sse) grep -q "location /events" "$conf" ;;
    grpc) grep -q "grpc_pass grpc://127.0.0.1:$up;" "$conf" ;;
  esac || { echo "bench: h2streams: $conf lacks its $kind location" >&2; exit 1; }
  start_nginx "h2s-$name" "$conf" "${PROXY_CPU[@]}"
  H2S_PID[$name]=$STARTED
  wait_port "$port" "h2s-$name"
  H2S_MEM[$name]=$(nginx_workers "$STARTED")
  H2S_PORT[$name]=$port
}
# HAProxy: the proxy config (option http-no-delay), its bind speaking h2; server UP (proto h2 for
# grpc); sse: /events to a backend of its own.
h2s_haproxy() {  # h2s_haproxy NAME PORT UP plain|sse|grpc
  local name=$1 port=$2 up=$3 kind=$4 conf=$TMP/h2s-$1.cfg
  render "$BENCH/haproxy.cfg.in" "$conf.plain" WORKERS=1 PORT="$port" BACKEND_PORT="$up" \
    NODELAY="option http-no-delay"
  local seds=(-e "s|^\( *bind 127\.0\.0\.1:$port\)\$|\1 proto h2|")
  case $kind in
    sse) seds+=(-e "s|^\( *\)use_backend flush if .*\$|&\n\1use_backend sse if { path_beg /events }|") ;;
    grpc) seds+=(-e "s|^\( *server s1 127\.0\.0\.1:$up\)\$|\1 proto h2|") ;;
  esac
  sed "${seds[@]}" "$conf.plain" > "$conf"
  [[ $kind == sse ]] && printf '\nbackend sse\n    server e1 127.0.0.1:%s\n' "$P_H2S_SSE" >> "$conf"
  grep -q "bind 127.0.0.1:$port proto h2" "$conf" || { echo "bench: h2streams: no h2 bind in $conf" >&2; exit 1; }
  case $kind in
    sse) grep -q "use_backend sse" "$conf" ;;
    grpc) grep -q "server s1 127.0.0.1:$up proto h2" "$conf" ;;
  esac || { echo "bench: h2streams: $conf lacks its $kind backend" >&2; exit 1; }
  start "h2s-$name" "${PROXY_CPU[@]}" haproxy -db -f "$conf"
  H2S_PID[$name]=$STARTED; H2S_MEM[$name]=$STARTED; H2S_PORT[$name]=$port
  wait_port "$port" "h2s-$name"
}
h2s_sluice() {  # h2s_sluice NAME PORT ARGS...
  local name=$1 port=$2; shift 2
  start "h2s-$name" "${PROXY_CPU[@]}" "$SLUICE" "$@"
  H2S_PID[$name]=$STARTED; H2S_MEM[$name]=$STARTED; H2S_PORT[$name]=$port
  wait_port "$port" "h2s-$name"
}
h2s_stop() {  # h2s_stop NAME...: SIGTERM, then wait (bounded) until each has gone
  local name pid
  for name in "$@"; do kill -TERM "${H2S_PID[$name]}" 2> /dev/null || true; done
  for name in "$@"; do
    pid=${H2S_PID[$name]}
    for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
  done
}
h2s_rss_kib() {  # h2s_rss_kib FIELD PIDS...: VmRSS or VmHWM of these processes summed, in KiB
  local field=$1 p; shift
  for p in "$@"; do awk -v f="$field:" '$1 == f {print $2}' "/proc/$p/status"; done |
    awk '{s += $1} END {print s + 0}'
}
H2S_PROXIES="nginx haproxy sluice"

# ---- 1 and 2: SSE over h2, alone and next to 20 downloads; a stopped reader's neighbour.
start h2s-sse "${LOAD_CPU[@]}" "$H2S_PY" "$BENCH/sse_backend.py" --ports "$P_H2S_SSE"
H2S_PID[sse-backend]=$STARTED
wait_port "$P_H2S_SSE" h2s-sse
h2s_nginx nginx "$P_H2S_NGINX" "$P_BACKEND" sse
h2s_haproxy haproxy "$P_H2S_HAPROXY" "$P_BACKEND" sse
{ printf 'listeners:\n  - listen: 127.0.0.1:%s\nsettings:\n  access_log: off\n  threads: 1\n' \
    "$P_H2S_SLUICE"
  printf 'upstreams:\n  app:\n    servers:\n      - url: http://127.0.0.1:%s\n' "$P_BACKEND"
  printf '  sse:\n    servers:\n      - url: http://127.0.0.1:%s\n' "$P_H2S_SSE"
  printf 'routes:\n  - name: events\n    path_prefix: /events\n    upstream: sse\n  - upstream: app\n'
} > "$TMP/h2s-sluice.yaml"
"$SLUICE" check "$TMP/h2s-sluice.yaml" > /dev/null 2> "$TMP/log/h2s-check.err" || {
  echo "bench: sluice check $TMP/h2s-sluice.yaml failed:" >&2; cat "$TMP/log/h2s-check.err" >&2; exit 1; }
h2s_sluice sluice "$P_H2S_SLUICE" --config "$TMP/h2s-sluice.yaml"

h2s_delays() {  # h2s_delays KIND TARGET RUN FILE: a probe's delays (ms, one a line) to the pool
  if [[ -s $4 ]]; then
    awk -v k="$1" -v t="$2" -v r="$3" '{print k "," t "," r "," $1}' "$4" >> "$H2S_DELAYS"
  fi
  rm -f "$4"
}
h2s_sse() {  # h2s_sse TARGET RUN alone|bulk N: one SSE probe of N events
  local t=$1 run=$2 kind=$3 n=$4 r args=()
  if [[ $t == direct ]]; then args=(--h1 --target "127.0.0.1:$P_H2S_SSE")
  else args=(--target "127.0.0.1:${H2S_PORT[$t]}"); fi
  [[ $kind == bulk ]] && args+=(--bulk "$H2S_BULK" --bulk-path /dl)
  r=$("${H2S_PROBE[@]}" "$BENCH/h2_sse.py" "${args[@]}" --path "/events?n=$n&every=$H2S_EVERY&stamp=1" \
        --deadline $((n * H2S_EVERY / 1000 + 15)) --dump "$TMP/log/h2s-sse.dump" \
        2> "$TMP/log/h2s-sse.err") || true
  [[ -s $TMP/log/h2s-sse.err ]] && log "h2streams: SSE $kind via $t: $(tr '\n' ' ' < "$TMP/log/h2s-sse.err")"
  local med p99 max got want mb mbps
  read -r med p99 max got want mb mbps <<< "${r:-nan nan nan 0 $n 0 0}"
  if (( run == 0 )); then rm -f "$TMP/log/h2s-sse.dump"; return 0; fi
  h2s_delays "sse_$kind" "$t" "$run" "$TMP/log/h2s-sse.dump"
  h2s_record "sse_${kind}_lost" "$t" "$run" $((want - got))
  [[ $kind == bulk ]] && h2s_record sse_bulk_mbps "$t" "$run" "$mbps"
  local extra=""
  [[ $kind == bulk ]] && extra=", the downloads $mb MB at $mbps MB/s"
  log "h2streams: SSE $kind via $t run $run: median $med ms, p99 $p99 ms, max $max ms, $got/$want events$extra"
}
h2s_neighbour() {  # h2s_neighbour TARGET RUN alone|stopped
  local t=$1 run=$2 kind=$3 r args=()
  [[ $kind == stopped ]] && args=(--stopped)
  r=$("${H2S_PROBE[@]}" "$BENCH/h2_neighbour.py" --target "127.0.0.1:${H2S_PORT[$t]}" --path /dl \
        --size $((DL_MIB * 1048576)) --deadline 60 "${args[@]}" 2> "$TMP/log/h2s-nb.err") || true
  [[ -s $TMP/log/h2s-nb.err ]] && log "h2streams: neighbour $t $kind: $(tr '\n' ' ' < "$TMP/log/h2s-nb.err")"
  local mbps bbytes abytes astate
  read -r mbps bbytes abytes astate <<< "${r:-nan 0 0 -}"
  (( run > 0 )) || return 0
  h2s_record "nb_${kind}_mbps" "$t" "$run" "$mbps"
  [[ $kind == stopped ]] && h2s_record nb_a_open "$t" "$run" "$([[ $astate == open ]] && echo 1 || echo 0)"
  local extra=""
  [[ $kind == stopped ]] && extra=", A got $abytes B and is $astate"
  log "h2streams: neighbour via $t run $run ($kind): B $mbps MB/s ($bbytes B)$extra"
}
for t in direct $H2S_PROXIES; do h2s_sse "$t" 0 alone 20; done   # warm-up: connections, pools
for t in $H2S_PROXIES; do h2s_neighbour "$t" 0 alone; done
for run in $(seq "$RUNS"); do
  for _ in $(seq "$H2S_ROUNDS"); do   # interleaved, so that the machine's ups and downs hit all
    for t in direct $H2S_PROXIES; do h2s_sse "$t" "$run" alone $((H2S_EVENTS / H2S_ROUNDS)); done
    for t in $H2S_PROXIES; do h2s_sse "$t" "$run" bulk $((H2S_EVENTS / H2S_ROUNDS)); done
  done
  for _ in $(seq "$H2S_NB_ROUNDS"); do
    for t in $H2S_PROXIES; do
      h2s_neighbour "$t" "$run" alone
      h2s_neighbour "$t" "$run" stopped
    done
  done
done
h2s_stop nginx haproxy sluice sse-backend

# ---- 3: gRPC server streaming.
start h2s-grpc "${LOAD_CPU[@]}" "$H2S_PY" "$BENCH/h2_grpc.py" server --port "$P_H2S_GRPC"
H2S_PID[grpc-server]=$STARTED
wait_port "$P_H2S_GRPC" h2s-grpc
h2s_nginx nginx-grpc "$P_H2S_NGINX_G" "$P_H2S_GRPC" grpc
h2s_haproxy haproxy-grpc "$P_H2S_HAPROXY_G" "$P_H2S_GRPC" grpc
h2s_sluice sluice-grpc "$P_H2S_SLUICE_G" --listen "127.0.0.1:$P_H2S_SLUICE_G" \
  --upstream "http://127.0.0.1:$P_H2S_GRPC" --upstream-protocol h2 --access-log off --threads 1
H2S_PORT[direct-grpc]=$P_H2S_GRPC
n=$((H2S_MSGS / H2S_ROUNDS))
for run in $(seq "$RUNS"); do
  for _ in $(seq "$H2S_ROUNDS"); do
    for t in direct $H2S_PROXIES; do
      r=$("${H2S_PROBE[@]}" "$BENCH/h2_grpc.py" client --target "127.0.0.1:${H2S_PORT[$t-grpc]}" \
            --n "$n" --interval-ms 5 --deadline $((n * 5 / 1000 + 15)) \
            --dump "$TMP/log/h2s-grpc.dump" 2> "$TMP/log/h2s-grpc.err") || true
      [[ -s $TMP/log/h2s-grpc.err ]] && log "h2streams: gRPC via $t: $(tr '\n' ' ' < "$TMP/log/h2s-grpc.err")"
      read -r p50 p99 max got want <<< "${r:-nan nan nan 0 $n}"
      h2s_delays grpc "$t" "$run" "$TMP/log/h2s-grpc.dump"
      h2s_record grpc_lost "$t" "$run" $((want - got))
      log "h2streams: gRPC via $t run $run: p50 $p50 ms, p99 $p99 ms, max $max ms, $got/$want messages"
    done
  done
done
h2s_stop nginx-grpc haproxy-grpc sluice-grpc grpc-server

# ---- 4: rapid reset, against fresh instances.
start h2s-count "${LOAD_CPU[@]}" "$H2S_PY" "$BENCH/h2_count_backend.py" --port "$P_H2S_COUNT" \
  --delay-ms 50
H2S_PID[count-backend]=$STARTED
wait_port "$P_H2S_COUNT" h2s-count
h2s_nginx nginx-reset "$P_H2S_NGINX_R" "$P_H2S_COUNT" plain
h2s_haproxy haproxy-reset "$P_H2S_HAPROXY_R" "$P_H2S_COUNT" plain
h2s_sluice sluice-reset "$P_H2S_SLUICE_R" --listen "127.0.0.1:$P_H2S_SLUICE_R" \
  --upstream "http://127.0.0.1:$P_H2S_COUNT" --h2-max-concurrent-streams 100 --access-log off \
  --threads 1
h2s_attacks() {  # /attack requests the backend has received
  local c; c=$(curl -s --max-time 2 "http://127.0.0.1:$P_H2S_COUNT/count") || c=""
  echo "${c%% *}"
}
for run in $(seq "$RUNS"); do
  for t in $H2S_PROXIES; do
    name=$t-reset
    read -r -a pids <<< "${H2S_MEM[$name]}"
    reset_hwm "${pids[@]}"
    rss0=$(h2s_rss_kib VmRSS "${pids[@]}")
    c0=$(h2s_attacks)
    r=$("${H2S_PROBE[@]}" "$BENCH/h2_rapid_reset.py" --target "127.0.0.1:${H2S_PORT[$name]}" \
          --streams "$H2S_RESETS" --deadline 60 2> "$TMP/log/h2s-rr.err") || true
    [[ -s $TMP/log/h2s-rr.err ]] && log "h2streams: rapid reset via $t: $(tr '\n' ' ' < "$TMP/log/h2s-rr.err")"
    # The requests the attack caused: until the count has not moved for 0.6 s (10 s at most).
    c1=$(h2s_attacks); same=0
    for _ in $(seq 50); do
      sleep 0.2
      c2=$(h2s_attacks)
      if [[ $c2 == "$c1" ]]; then same=$((same + 1)); (( same >= 3 )) && break; else same=0; fi
      c1=$c2
    done
    hwm=$(h2s_rss_kib VmHWM "${pids[@]}")
    rss1=$(h2s_rss_kib VmRSS "${pids[@]}")
    read -r sent conns secs ok attempts goaways written <<< "${r:-0 0 0 0 0 - 0}"
    up=$(( ${c1:-0} - ${c0:-0} ))
    h2s_record rr_upstream "$t" "$run" "$up"
    h2s_record rr_conns "$t" "$run" "$conns"
    h2s_record rr_sent "$t" "$run" "$sent"
    h2s_record rr_written "$t" "$run" "$written"
    h2s_record rr_rss_mib "$t" "$run" "$(awk -v a="$hwm" -v b="$rss0" 'BEGIN {printf "%.2f", (a - b) / 1024}')"
    h2s_record rr_good_ok "$t" "$run" "$ok"
    h2s_record rr_good_attempts "$t" "$run" "$attempts"
    log "h2streams: rapid reset via $t run $run: $sent streams taken ($written written) over $conns connection(s) in $secs s (GOAWAY: $goaways), $up upstream requests, RSS $rss0 -> peak $hwm -> $rss1 KiB, parallel client $ok/$attempts"
  done
done
h2s_stop nginx-reset haproxy-reset sluice-reset count-backend

python3 - "$H2S_RAW" "$H2S_DELAYS" "$RUNS" "$H2S_RESETS" "$DL_MIB" \
  > "$OUT/results.md.h2streams" <<'PY'
import csv, math, statistics, sys
raw, delays, runs, resets, dl = sys.argv[1:6]
vals = {}
for row in csv.DictReader(open(raw)):
    try:
        v = float(row["value"])
    except ValueError:
        continue
    if v == v:  # not nan
        vals.setdefault((row["metric"], row["target"]), []).append(v)
pool = {}
for row in csv.DictReader(open(delays)):
    pool.setdefault((row["kind"], row["target"]), []).append(float(row["ms"]))
def agg(m, t, how):
    v = vals.get((m, t))
    if not v:
        return None
    return {"med": statistics.median, "max": max, "sum": sum}[how](v)
def stat(kind, t, how):   # over every event / message of every run
    v = sorted(pool.get((kind, t), []))
    if not v:
        return None
    if how == "med":
        return statistics.median(v)
    if how == "max":
        return v[-1]
    return v[min(len(v) - 1, max(0, math.ceil(how / 100.0 * len(v)) - 1))]   # percentile
def fmt(x, f):
    return "—" if x is None else f % x
T = ("direct", "nginx", "haproxy", "sluice")
def row(label, cells, target=""):
    print("| %s | %s | %s |" % (label, " | ".join(cells), target))
def added(kind, how):   # the proxies minus direct at the same statistic; direct raw
    d = stat(kind, "direct", how)
    cells = [fmt(d, "%.3f")]
    for t in T[1:]:
        x = stat(kind, t, how)
        cells.append("—" if x is None or d is None else "%+.3f" % (x - d))
    return cells
def n(kind):
    return max([len(v) for (k, _), v in pool.items() if k == kind] or [0])
print("\n### HTTP/2 streams (h2c to each proxy, one worker on core 0; %s run(s))\n" % runs)
print("| | direct | nginx | HAProxy | sluice | target |")
print("|---|---:|---:|---:|---:|---|")
row("SSE over h2, %d events 10 ms apart, alone: added delay median, ms (direct: arrival − send)"
    % n("sse_alone"), added("sse_alone", "med"), "≤ 0.3")
row("SSE over h2, alone: delay max, ms (arrival − send)",
    [fmt(stat("sse_alone", t, "max"), "%.3f") for t in T], "≤ 2")
row("SSE over h2 + %d downloads on its connection: delay p99, ms (arrival − send; direct: alone)"
    % 20, [fmt(stat("sse_alone", "direct", 99), "%.3f")]
    + [fmt(stat("sse_bulk", t, 99), "%.3f") for t in T[1:]], "≤ 5")
row("SSE over h2 + 20 downloads: delay median, ms (arrival − send; direct: alone)",
    [fmt(stat("sse_alone", "direct", "med"), "%.3f")]
    + [fmt(stat("sse_bulk", t, "med"), "%.3f") for t in T[1:]])
row("SSE over h2 + 20 downloads: the downloads' MB/s meanwhile",
    ["—"] + [fmt(agg("sse_bulk_mbps", t, "med"), "%.0f") for t in T[1:]])
lost = []
for t in T:
    a, b = agg("sse_alone_lost", t, "sum"), agg("sse_bulk_lost", t, "sum")
    lost.append("—" if a is None and b is None else "%d" % ((a or 0) + (b or 0)))
row("SSE events lost, alone + with downloads", lost, "0")
solo = [agg("nb_alone_mbps", t, "med") for t in T]
stop = [agg("nb_stopped_mbps", t, "med") for t in T]
row("stopped reader next door: B alone (%s MiB), MB/s" % dl, [fmt(x, "%.0f") for x in solo])
row("stopped reader next door: B with A stopped, MB/s", [fmt(x, "%.0f") for x in stop])
row("stopped reader next door: B with A stopped / B alone",
    ["—" if a is None or b is None or not a else "%.0f %%" % (100 * b / a) for a, b in zip(solo, stop)],
    "≥ 90 %")
row("gRPC server streaming, %d messages 5 ms apart: added delay p50, ms (direct: arrival − send)"
    % n("grpc"), added("grpc", "med"))
row("gRPC server streaming: added delay p99, ms (direct: arrival − send)", added("grpc", 99), "≤ 2")
row("gRPC messages lost", [fmt(agg("grpc_lost", t, "sum"), "%d") for t in T], "0")
row("rapid reset, %s streams (HEADERS + RST_STREAM): upstream requests caused" % resets,
    ["—"] + [fmt(agg("rr_upstream", t, "max"), "%d") for t in T[1:]], "sluice ≤ 100 + a few")
row("rapid reset: connections the attacker needed",
    ["—"] + [fmt(agg("rr_conns", t, "max"), "%d") for t in T[1:]])
row("rapid reset: streams written (also those past a GOAWAY, which the proxy skipped)",
    ["—"] + [fmt(agg("rr_written", t, "max"), "%d") for t in T[1:]])
row("rapid reset: proxy RSS growth (peak), MiB",
    ["—"] + [fmt(agg("rr_rss_mib", t, "max"), "%.2f") for t in T[1:]], "≤ 16")
good = ["—"]
for t in T[1:]:
    ok, tries = agg("rr_good_ok", t, "sum"), agg("rr_good_attempts", t, "sum")
    good.append("—" if ok is None else "%d / %d" % (ok, tries))
row("rapid reset: a parallel client's requests served", good, "all")
PY
log "h2streams: $(tr '\n' ' ' < "$OUT/results.md.h2streams")"
