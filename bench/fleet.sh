# shellcheck shell=bash disable=SC2153,SC2154  # sourced: run.sh defines and reads these
# The fleet section of bench/run.sh (sourced: it uses run.sh's helpers, pinning, wrk settings,
# temp dir and cleanup). `sluice --config` against sluice itself, the three performance targets of
# issue 10 (docs/benchmarks.md, "Fleet"):
#   1. Routing and balancing cost: CPU µs/req at 13 B, wrk exactly as the throughput section
#      runs it (-t1 -c64, DUR s, wrk on core 1, sluice on core 0), interleaved run by run, for
#      sluice --upstream (one server); --config with 1 route and 1 server; 1 route and 10
#      servers; and 100 routes (all with host and path_prefix, the request matches the last) over
#      10 servers, round_robin. The servers are one nginx (bench/nginx-backend.conf.in) listening
#      on 10 ports. Target: 100 routes x 10 servers within 5 % of --upstream.
#   2. Reload under load: 2,000 req/s of keep-alive 13 B requests at a fixed rate (wrk, 50
#      connections, bench/fleet-paced.lua) beside 200 SSE streams (bench/sse_load.py streams; an
#      event every 100 ms from bench/sse_backend.py), once without reloads and once with 20
#      SIGHUPs spread over the run; the file alternates between two versions of 102 and 103
#      routes over the same servers. Every request must be a 200 and every stream must get all
#      its events and its end; the target is p99 with reloads <= 2x p99 without.
#   3. Stream skew: 1,000 SSE streams of seeded random lengths (log-uniform 0.5-12 s), 100 opened
#      per second, over 4 SSE servers; each server counts its open streams (GET /count), read
#      every 200 ms. Reported: max/min of the per-server counts at the peak, for least_conn
#      (target <= 1.25) and round_robin, on the same workload.
# Writes $OUT/results.md.fleet (a table run.sh appends to results.md), $OUT/fleet-raw.csv, the
# skew samples $OUT/fleet-skew-{least_conn,round_robin}.tsv and, with gnuplot, $OUT/fleet-skew.png.
# Only the sluice binary is measured (not SLUICE_BASELINE's, which may predate --config).
# Environment: BENCH_FLEET_PHASE (s per reload-test phase; quick 8, full 20).

FLEET_RAW=$OUT/fleet-raw.csv
echo "metric,target,run,value" > "$FLEET_RAW"
fl_record() { echo "$1,$2,$3,$4" >> "$FLEET_RAW"; }

case $MODE in
  quick) FL_PHASE=8;  FL_PAIRS=2; FL_SKEW_RUNS=1 ;;
  *)     FL_PHASE=20; FL_PAIRS=2; FL_SKEW_RUNS=2 ;;
esac
FL_PHASE=${BENCH_FLEET_PHASE:-$FL_PHASE}
FL_RELOADS=20
FL_KA_CONNS=50; FL_KA_RATE=2000           # keep-alive requests/s, over 50 connections
FL_STREAMS=200
FL_SKEW_N=1000; FL_SKEW_RATE=100; FL_SKEW_EVERY_MS=250
FL_HOST=api.bench.test
FL_PATH=/svc99/small                      # matched by the last of the 100 routes

read -r -a FL_PORTS < <(python3 - <<'PY'
import socket
socks = []
for _ in range(21):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)
FL_APP=("${FL_PORTS[@]:0:10}")           # the 10 app servers (one nginx)
FL_SSE=("${FL_PORTS[@]:10:4}")           # the 4 SSE servers (one python process)
P_FL_SINGLE=${FL_PORTS[14]}; P_FL_ONE=${FL_PORTS[15]}; P_FL_100=${FL_PORTS[16]}
P_FL_RELOAD=${FL_PORTS[17]}; P_FL_LC=${FL_PORTS[18]}; P_FL_RR=${FL_PORTS[19]}; P_FL_TEN=${FL_PORTS[20]}
FL_SSE_LIST=$(IFS=,; echo "${FL_SSE[*]}")

# ---- The backends, on the load's core: nginx on 10 ports (the same 13 B file under the path
# the last route matches) and the SSE servers.
mkdir -p "$TMP/www/svc99"
cp "$TMP/www/small" "$TMP/www/svc99/small"
chmod -R a+rX "$TMP/www/svc99"
render "$BENCH/nginx-backend.conf.in" "$TMP/fleet-backend.conf" BACKEND_PORT="${FL_APP[0]}"
fl_listens=""
for p in "${FL_APP[@]:1}"; do fl_listens+="\n        listen 127.0.0.1:$p backlog=4096;"; done
sed -i -e "s|^\( *listen 127.0.0.1:${FL_APP[0]} backlog=4096;\)|\1$fl_listens|" \
  -e "s|/backend.pid|/fleet-backend.pid|" -e "s|/backend-error.log|/log/fleet-backend-error.log|" \
  "$TMP/fleet-backend.conf"
start_nginx fleet-backend "$TMP/fleet-backend.conf" "${LOAD_CPU[@]}"
# The python SSE processes run at nice 10: on the load's core wrk and nginx come first, so that
# the keep-alive latency measures sluice rather than a busy Python event loop beside wrk.
start fleet-sse "${LOAD_CPU[@]}" nice -n 10 python3 "$BENCH/sse_backend.py" --ports "$FL_SSE_LIST"
for p in "${FL_APP[@]}"; do wait_port "$p" fleet-backend; done
for p in "${FL_SSE[@]}"; do wait_port "$p" fleet-sse; done

# ---- The configuration files.
fl_head() {  # fl_head PORT
  printf 'listeners:\n  - listen: 127.0.0.1:%s\nsettings:\n  access_log: off\n  threads: 1\nupstreams:\n' "$1"
}
fl_upstream() {  # fl_upstream NAME BALANCE PORT...
  local name=$1 balance=$2 p; shift 2
  printf '  %s:\n    servers:\n' "$name"
  for p in "$@"; do printf '      - url: http://127.0.0.1:%s\n' "$p"; done
  printf '    balance: %s\n' "$balance"
}
fl_routes100() {  # the 100 routes: one host, paths /svc0 .. /svc99; FL_PATH matches the last
  local i
  for i in $(seq 0 99); do
    printf '  - name: r%d\n    host: %s\n    path_prefix: /svc%d\n    upstream: app\n' "$i" "$FL_HOST" "$i"
  done
}
{ fl_head "$P_FL_ONE"; fl_upstream app round_robin "${FL_APP[0]}"
  printf 'routes:\n  - upstream: app\n'; } > "$TMP/fleet-one.yaml"
{ fl_head "$P_FL_TEN"; fl_upstream app round_robin "${FL_APP[@]}"
  printf 'routes:\n  - upstream: app\n'; } > "$TMP/fleet-ten.yaml"
{ fl_head "$P_FL_100"; fl_upstream app round_robin "${FL_APP[@]}"
  printf 'routes:\n'; fl_routes100; } > "$TMP/fleet-100.yaml"
# The reload test's two versions: the same servers; b has one route more (before the others).
{ fl_head "$P_FL_RELOAD"; fl_upstream app round_robin "${FL_APP[@]}"
  fl_upstream sse least_conn "${FL_SSE[@]}"
  printf 'routes:\n  - name: events\n    path_prefix: /events\n    upstream: sse\n'
  fl_routes100; } > "$TMP/fleet-reload-a.yaml"
sed 's|^routes:$|routes:\n  - name: extra\n    path_prefix: /extra\n    upstream: app|' \
  "$TMP/fleet-reload-a.yaml" > "$TMP/fleet-reload-b.yaml"
cp "$TMP/fleet-reload-a.yaml" "$TMP/fleet-reload.yaml"
for bal in least_conn round_robin; do
  port=$P_FL_LC; [[ $bal == round_robin ]] && port=$P_FL_RR
  { fl_head "$port"; fl_upstream sse "$bal" "${FL_SSE[@]}"
    printf 'routes:\n  - upstream: sse\n'; } > "$TMP/fleet-skew-$bal.yaml"
done
for f in one ten 100 reload-a reload-b skew-least_conn skew-round_robin; do
  "$SLUICE" check "$TMP/fleet-$f.yaml" > /dev/null 2> "$TMP/log/fleet-check.err" || {
    echo "bench: sluice check $TMP/fleet-$f.yaml failed:" >&2; cat "$TMP/log/fleet-check.err" >&2; exit 1; }
done

# ---- The sluice instances, on the proxy's core.
declare -A FL_PID FL_PORT=([single]=$P_FL_SINGLE [one]=$P_FL_ONE [ten]=$P_FL_TEN [r100]=$P_FL_100)
start fleet-single "${PROXY_CPU[@]}" "$SLUICE" --listen "127.0.0.1:$P_FL_SINGLE" \
  --upstream "http://127.0.0.1:${FL_APP[0]}" --access-log off --threads 1
FL_PID[single]=$STARTED
start fleet-one "${PROXY_CPU[@]}" "$SLUICE" --config "$TMP/fleet-one.yaml"; FL_PID[one]=$STARTED
start fleet-ten "${PROXY_CPU[@]}" "$SLUICE" --config "$TMP/fleet-ten.yaml"; FL_PID[ten]=$STARTED
start fleet-r100 "${PROXY_CPU[@]}" "$SLUICE" --config "$TMP/fleet-100.yaml"; FL_PID[r100]=$STARTED
start fleet-reload "${PROXY_CPU[@]}" "$SLUICE" --config "$TMP/fleet-reload.yaml"
FL_PID[reload]=$STARTED
start fleet-lc "${PROXY_CPU[@]}" "$SLUICE" --config "$TMP/fleet-skew-least_conn.yaml"
start fleet-rr "${PROXY_CPU[@]}" "$SLUICE" --config "$TMP/fleet-skew-round_robin.yaml"
wait_port "$P_FL_SINGLE" fleet-single; wait_port "$P_FL_ONE" fleet-one; wait_port "$P_FL_TEN" fleet-ten
wait_port "$P_FL_100" fleet-r100
wait_port "$P_FL_RELOAD" fleet-reload; wait_port "$P_FL_LC" fleet-lc; wait_port "$P_FL_RR" fleet-rr

# ---- 1. CPU per 13 B request: the four variants interleaved run by run.
fl_wrk() {  # fl_wrk PORT DURATION: the throughput section's wrk, with the fleet's Host and path
  "${LOAD_CPU[@]}" wrk -t1 -c"$CONNS" -d"${2}s" -H "Host: $FL_HOST" "http://127.0.0.1:$1$FL_PATH" \
    > "$WRK_OUT" 2>&1 || { cat "$WRK_OUT" >&2; REQS=0; RPS=nan; BAD=nan; return 0; }
  REQS=$(awk '/requests in/ {print $1}' "$WRK_OUT")
  RPS=$(awk '/^Requests\/sec:/ {print $2}' "$WRK_OUT")
  BAD=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$WRK_OUT")
  if (( BAD )); then
    log "warning: $(grep -E 'Non-2xx|Socket errors' "$WRK_OUT" | tr -s ' ' | tr '\n' ';') ($1$FL_PATH)"
  fi
}
for t in single one ten r100; do fl_wrk "${FL_PORT[$t]}" 1; done   # warm-up
for run in $(seq "$RUNS"); do
  order="single one ten r100"   # forward in odd runs, backward in even ones: a drift in the
  (( run % 2 )) || order="r100 ten one single"   # machine's load hits all variants alike
  for t in $order; do
    c0=$(cpu_ticks "${FL_PID[$t]}")
    fl_wrk "${FL_PORT[$t]}" "$DUR"
    c1=$(cpu_ticks "${FL_PID[$t]}")
    us=$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="${REQS:-0}" 'BEGIN {printf "%.4f", n ? d * 1e6 / hz / n : 0}')
    fl_record cpu_13 "$t" "$run" "$us"
    fl_record rps_13 "$t" "$run" "$RPS"
    fl_record bad_13 "$t" "$run" "$BAD"
    log "fleet $t 13 B run $run: $RPS req/s, $us µs/req CPU, $BAD errors"
  done
done

# ---- 2. Reload under load.
FL_RELOAD_LOG=$TMP/log/fleet-reload.out
fl_count() { grep -c "$1" "$FL_RELOAD_LOG" || true; }
fl_main_ticks() {  # utime+stime of the reload instance's main thread
  local f; f=$(< "/proc/${FL_PID[reload]}/task/${FL_PID[reload]}/stat"); f=${f##*) }
  local -a a; read -r -a a <<< "$f"
  echo $(( a[11] + a[12] ))
}
fl_phase() {  # fl_phase steady|reload RUN
  local phase=$1 run=$2 i
  local events=$(( (FL_PHASE + 3) * 10 ))   # an event per 100 ms: the streams outlast the wrk run
  rm -f "$TMP/fleet-ready"
  "${LOAD_CPU[@]}" nice -n 10 python3 "$BENCH/sse_load.py" streams --proxy "$P_FL_RELOAD" --count "$FL_STREAMS" \
    --events "$events" --every-ms 100 --ramp 1 --ready "$TMP/fleet-ready" \
    > "$TMP/log/fleet-streams.out" 2> "$TMP/log/fleet-streams.err" &
  local streams=$!
  PIDS+=("$streams")
  for i in $(seq 100); do [[ -e $TMP/fleet-ready ]] && break; sleep 0.1; done
  [[ -e $TMP/fleet-ready ]] || log "warning: the $FL_STREAMS SSE streams did not all start within 10 s"
  local ok0 bad0; ok0=$(fl_count 'configuration reloaded from'); bad0=$(fl_count 'keeps serving')
  # The main thread (its tid is the pid) does nothing but wait for signals and reload.
  local main0; main0=$(fl_main_ticks)
  "${LOAD_CPU[@]}" wrk -t1 -c"$FL_KA_CONNS" -d"${FL_PHASE}s" -s "$BENCH/fleet-paced.lua" \
    -H "Host: $FL_HOST" "http://127.0.0.1:$P_FL_RELOAD$FL_PATH" -- "$FL_KA_RATE" \
    > "$TMP/log/fleet-paced.out" 2>&1 &
  local wrk=$!
  PIDS+=("$wrk")
  if [[ $phase == reload ]]; then   # FL_RELOADS SIGHUPs evenly over the run, the first half a gap in
    local gap; gap=$(awk -v d="$FL_PHASE" -v n="$FL_RELOADS" 'BEGIN {printf "%.3f", d / n}')
    sleep "$(awk -v g="$gap" 'BEGIN {printf "%.3f", g / 2}')"
    for i in $(seq "$FL_RELOADS"); do
      if (( i % 2 )); then v=b; else v=a; fi
      cp "$TMP/fleet-reload-$v.yaml" "$TMP/fleet-reload.yaml"
      kill -HUP "${FL_PID[reload]}"
      if (( i < FL_RELOADS )); then sleep "$gap"; fi
    done
  fi
  wait "$wrk" || true
  wait "$streams" || true
  local want=$ok0
  [[ $phase == reload ]] && want=$((ok0 + FL_RELOADS))
  for i in $(seq 50); do (( $(fl_count 'configuration reloaded from') >= want )) && break; sleep 0.1; done
  local reloaded=$(( $(fl_count 'configuration reloaded from') - ok0 ))
  local main_ms=$(( ($(fl_main_ticks) - main0) * 1000 / CLK_TCK ))
  local refused=$(( $(fl_count 'keeps serving') - bad0 ))

  local line; line=$(sed -n 's/^FLEET //p' "$TMP/log/fleet-paced.out")
  if [[ -z $line ]]; then
    log "warning: fleet $phase: wrk gave no result:"; cat "$TMP/log/fleet-paced.out" >&2
    line="requests=0 duration_us=1 p50_us=nan p99_us=nan max_us=nan non200=nan connect=0 read=0 write=0 timeout=0"
  fi
  local -A w=()
  local kv
  for kv in $line; do w[${kv%%=*}]=${kv#*=}; done
  local s_ok s_failed s_events s_expected s_gap
  read -r s_ok s_failed s_events s_expected s_gap < "$TMP/log/fleet-streams.out" ||
    { s_ok=0; s_failed=$FL_STREAMS; s_events=0; s_expected=0; s_gap=nan; }
  if [[ -s $TMP/log/fleet-streams.err ]]; then
    log "fleet $phase: SSE failures:"; sed 's/^/  /' "$TMP/log/fleet-streams.err" >&2
  fi
  local errors=$(( w[connect] + w[read] + w[write] + w[timeout] ))
  local rps p50 p99 max
  rps=$(awk -v n="${w[requests]}" -v d="${w[duration_us]}" 'BEGIN {printf "%.0f", n * 1e6 / d}')
  p50=$(awk -v x="${w[p50_us]}" 'BEGIN {printf "%.3f", x / 1000}')
  p99=$(awk -v x="${w[p99_us]}" 'BEGIN {printf "%.3f", x / 1000}')
  max=$(awk -v x="${w[max_us]}" 'BEGIN {printf "%.3f", x / 1000}')
  fl_record ka_rps "$phase" "$run" "$rps"
  fl_record ka_p50_ms "$phase" "$run" "$p50"
  fl_record ka_p99_ms "$phase" "$run" "$p99"
  fl_record ka_max_ms "$phase" "$run" "$max"
  fl_record ka_non200 "$phase" "$run" "${w[non200]}"
  fl_record ka_sockerr "$phase" "$run" "$errors"
  fl_record sse_ok "$phase" "$run" "$s_ok"
  fl_record sse_failed "$phase" "$run" "$s_failed"
  fl_record sse_lost "$phase" "$run" "$(( s_expected - s_events ))"
  fl_record sse_gap_ms "$phase" "$run" "$s_gap"
  fl_record reloads_ok "$phase" "$run" "$reloaded"
  fl_record reloads_refused "$phase" "$run" "$refused"
  if (( reloaded > 0 )); then
    fl_record reload_cpu_ms "$phase" "$run" "$(awk -v t="$main_ms" -v n="$reloaded" 'BEGIN {printf "%.1f", t / n}')"
  fi
  log "fleet $phase run $run: ${w[requests]} requests ($rps/s), p50 $p50 ms, p99 $p99 ms, max $max ms," \
      "${w[non200]} non-200, $errors socket errors; SSE $s_ok/$FL_STREAMS complete, $s_failed failed," \
      "$s_events/$s_expected events, longest gap $s_gap ms; $reloaded reloads applied, $refused refused," \
      "main thread $main_ms ms CPU"
}
for run in $(seq "$FL_PAIRS"); do   # steady, reload, reload, steady...: a drift hits both alike
  if (( run % 2 )); then fl_phase steady "$run"; fl_phase reload "$run"
  else fl_phase reload "$run"; fl_phase steady "$run"; fi
done

# ---- 3. Stream skew: least_conn and round_robin on the same seeded workload.
fl_wait_idle() {  # until every SSE server counts 0 open streams (at most 10 s)
  local i p n
  for i in $(seq 100); do
    n=0
    for p in "${FL_SSE[@]}"; do n=$(( n + $(curl -s "http://127.0.0.1:$p/count" || echo 1) )); done
    (( n == 0 )) && return 0
    sleep 0.1
  done
  log "warning: SSE servers still count $n open streams"
}
for run in $(seq "$FL_SKEW_RUNS"); do
  for bal in least_conn round_robin; do
    port=$P_FL_LC; [[ $bal == round_robin ]] && port=$P_FL_RR
    fl_wait_idle
    samples=$TMP/log/fleet-skew-$bal-$run.tsv
    r=$("${LOAD_CPU[@]}" nice -n 10 python3 "$BENCH/sse_load.py" skew --proxy "$port" --count-ports "$FL_SSE_LIST" \
          --count "$FL_SKEW_N" --rate "$FL_SKEW_RATE" --seed "$run" --min-s 0.5 --max-s 12 \
          --every-ms "$FL_SKEW_EVERY_MS" --sample-ms 200 --samples "$samples" \
          2> "$TMP/log/fleet-skew.err") || r=""
    if [[ -s $TMP/log/fleet-skew.err ]]; then
      log "fleet skew $bal: failures:"; sed 's/^/  /' "$TMP/log/fleet-skew.err" >&2
    fi
    read -r ok failed peak c1 c2 c3 c4 ratio worst <<< "${r:-0 $FL_SKEW_N 0 0 0 0 0 nan nan}"
    if (( run == 1 )) && [[ -f $samples ]]; then cp "$samples" "$OUT/fleet-skew-$bal.tsv"; fi
    fl_record skew_ratio "$bal" "$run" "$ratio"
    fl_record skew_worst "$bal" "$run" "$worst"
    fl_record skew_peak "$bal" "$run" "$peak"
    fl_record skew_failed "$bal" "$run" "$failed"
    echo "$bal $run $c1 $c2 $c3 $c4" >> "$TMP/log/fleet-skew-peaks"
    log "fleet skew $bal run $run: peak $peak open streams ($c1 $c2 $c3 $c4): max/min $ratio," \
        "worst near the peak $worst; $ok/$FL_SKEW_N streams complete, $failed failed"
  done
done
if command -v gnuplot >/dev/null && [[ -f $OUT/fleet-skew-least_conn.tsv && -f $OUT/fleet-skew-round_robin.tsv ]]; then
  gnuplot <<GP || log "warning: fleet skew plot failed"
set terminal pngcairo size 900,600 font ",10" noenhanced
set output "$OUT/fleet-skew.png"
set multiplot layout 2,1 title "open SSE streams per server, $FL_SKEW_N streams of random length (bench/fleet.sh)"
set grid
set key top right
set ylabel "open streams"
set title "least_conn"
plot for [i=3:6] "$OUT/fleet-skew-least_conn.tsv" using 1:i with lines lw 2 title sprintf("server %d", i-2)
set xlabel "seconds"
set title "round_robin"
plot for [i=3:6] "$OUT/fleet-skew-round_robin.tsv" using 1:i with lines lw 2 title sprintf("server %d", i-2)
unset multiplot
GP
fi

# ---- The table.
python3 - "$FLEET_RAW" "$TMP/log/fleet-skew-peaks" "$FL_PHASE" "$FL_RELOADS" "$FL_STREAMS" \
  "$FL_SKEW_N" > "$OUT/results.md.fleet" <<'PY'
import csv, math, statistics, sys
raw, peaks_file, phase, reloads, streams, skew_n = sys.argv[1:7]
vals = {}
for r in csv.DictReader(open(raw)):
    try:
        v = float(r["value"])
    except ValueError:
        continue
    if not math.isnan(v):
        vals.setdefault((r["metric"], r["target"]), []).append(v)
med = {k: statistics.median(v) for k, v in vals.items() if v}
total = {k: sum(v) for k, v in vals.items()}

def f(key, fmt, default="—"):
    return fmt % med[key] if key in med else default

print("\n### Fleet (sluice --config against sluice --upstream, same run)\n")
print("| sluice, 13 B (wrk -t1 -c64, as the throughput rows) | CPU µs/req | vs --upstream | req/s | errors |")
print("|---|---:|---:|---:|---:|")
single = med.get(("cpu_13", "single"))
for t, label in [("single", "`--upstream`: one server"),
                 ("one", "`--config`: 1 route, 1 server"),
                 ("ten", "`--config`: 1 route, 10 servers round_robin"),
                 ("r100", "`--config`: 100 routes (host + path_prefix, the last matches), "
                          "10 servers round_robin (target ≤ 1.05×)")]:
    c = med.get(("cpu_13", t))
    if c is None:
        continue
    ratio = "%.3f×" % (c / single) if single else "—"
    print("| %s | %.2f | %s | %s | %d |" % (label, c, ratio, f(("rps_13", t), "%.0f"),
                                             total.get(("bad_13", t), 0)))

print("\n| reload under load: 2,000 req/s keep-alive 13 B (50 connections) + %s SSE streams, %s s "
      "| without reloads | with %s SIGHUPs | ratio |" % (streams, phase, reloads))
print("|---|---:|---:|---:|")
def row(label, metric, fmt, ratio=False, agg=med):
    a, b = agg.get((metric, "steady")), agg.get((metric, "reload"))
    r = "%.2f×" % (b / a) if ratio and a and b is not None else ""
    print("| %s | %s | %s | %s |" % (label, fmt % a if a is not None else "—",
                                     fmt % b if b is not None else "—", r))
row("keep-alive req/s", "ka_rps", "%.0f")
row("keep-alive latency p50, ms", "ka_p50_ms", "%.3f")
row("keep-alive latency p99, ms (target: ratio ≤ 2×)", "ka_p99_ms", "%.3f", ratio=True)
row("keep-alive latency max, ms", "ka_max_ms", "%.3f")
row("requests not 200 (target 0)", "ka_non200", "%d", agg=total)
row("socket errors: connect, read, write, timeout (target 0)", "ka_sockerr", "%d", agg=total)
row("SSE streams complete, of %s per phase" % streams, "sse_ok", "%d", agg=med)
row("SSE streams broken (target 0)", "sse_failed", "%d", agg=total)
row("SSE events lost (target 0)", "sse_lost", "%d", agg=total)
row("longest gap between two events of a stream, ms (sent every 100)", "sse_gap_ms", "%.1f")
row("reloads applied", "reloads_ok", "%d", agg=total)
row("CPU per reload, ms (sluice's main thread, on the proxy's core)", "reload_cpu_ms", "%.1f")
ref = total.get(("reloads_refused", "reload"), 0)
if ref:
    print("| reloads refused (the old configuration kept serving) | | %d | |" % ref)

peaks = {}
try:
    for line in open(peaks_file):
        bal, run, *c = line.split()
        peaks.setdefault(bal, []).append("/".join(c))
except OSError:
    pass
print("\n| stream skew: %s SSE streams, random lengths 0.5–12 s, 100/s, 4 servers | least_conn | "
      "round_robin |" % skew_n)
print("|---|---:|---:|")
def srow(label, metric, fmt, agg=med):
    cells = [fmt % agg[(metric, b)] if (metric, b) in agg else "—" for b in ("least_conn", "round_robin")]
    print("| %s | %s |" % (label, " | ".join(cells)))
srow("open streams at the peak (total)", "skew_peak", "%.0f")
print("| per server at the peak | %s | %s |" % (", ".join(peaks.get("least_conn", ["—"])),
                                              ", ".join(peaks.get("round_robin", ["—"]))))
srow("max/min per server at the peak (target for least_conn ≤ 1.25)", "skew_ratio", "%.3f")
srow("worst max/min within 10 % of the peak", "skew_worst", "%.3f")
srow("streams broken (target 0)", "skew_failed", "%d", agg=total)
PY
log "fleet: $(tr '\n' ' ' < "$OUT/results.md.fleet")"
