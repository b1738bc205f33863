# shellcheck shell=bash disable=SC2153,SC2154  # sourced: run.sh defines and reads these
# The sse1000 section of bench/run.sh (sourced: it uses run.sh's helpers, pinning, temp dir and
# cleanup): issue 15's row "1,000 concurrent SSE streams with 10 events/s each: RSS, CPU, and the
# delay's p50/p99", for nginx, HAProxy and sluice in the same run, and the backend without a
# proxy (direct) as the floor the proxies' delays are read against.
#   The backend: bench/sse_fanout.py serve (core 1), SSE over HTTP/1.1 chunked with
#   "X-Accel-Buffering: no" (what SSE backends send for nginx), each ~170-byte event stamped with
#   time.time_ns() just before it is written; one 1 ms timer for all streams. The clients:
#   bench/sse_fanout.py clients, a second process (core 1 too; apart from the backend so that
#   neither's bursts wait inside the other's event loop). Per target and run, a FRESH instance of
#   the proxy (one worker, core 0), one warm-up stream, then SK_STREAMS streams opened at
#   SK_RATE per second, each GET /events?every=100 (10 events/s); once every stream has had its
#   first event and SK_SETTLE s more, a steady window of SK_WINDOW s, during which:
#     - the delay of every event: the client's time.time_ns() when the read that completed it
#       returned minus the backend's stamp (same clock, CLOCK_REALTIME): p50, p99, p99.9, max;
#     - the proxy's CPU (utime + stime of its worker, /proc/PID/stat) over the window, per event
#       received in it and as % of one core;
#     - at its end, with every stream open, the proxy's VmRSS: minus VmRSS before the streams
#       were opened (after the warm-up), over the streams: KiB per stream;
#     - the client's and the backend's CPU (% of core 1), to tell when the harness is the limit,
#       and the time the proxy and the harness were runnable but waited for their core (schedstat
#       run delay), to tell when other work on the machine got in the way of the delays.
#   A stream failed if it was refused, answered other than 200 text/event-stream chunked, or was
#   closed; stalled if it got fewer than half the events due in the window; events lost are gaps
#   in a stream's sequence numbers. All three must be 0.
# The proxies: nginx with bench/nginx-proxy.conf.in (proxy_buffering off there, and the backend
# says X-Accel-Buffering: no), HAProxy with bench/haproxy.cfg.in and `option http-no-delay` (its
# low-latency setting: without it HAProxy holds small chunks back, ~105 ms in the flush section;
# BENCH_SSE1K_TARGETS may add haproxy-default, the same config without it), sluice --upstream
# --access-log off --threads 1 (default flush interval: it flushes SSE responses at once). Only the
# sluice binary is measured, not SLUICE_BASELINE's.
# Runs: the targets take turns, the order rotated by one each run; the table shows medians over
# the runs (failures, stalls and losses summed, max the worst run).
# Writes $OUT/results.md.sse1000 (a table run.sh appends to results.md) and $OUT/sse1000-raw.csv.
# Environment: BENCH_SSE1K_STREAMS (1000), BENCH_SSE1K_EVERY_MS (100 ms between a stream's
# events), BENCH_SSE1K_RATE (streams opened per second; 200), BENCH_SSE1K_WINDOW (s; quick 5,
# full 15), BENCH_SSE1K_SETTLE (s; quick 1, full 2), BENCH_SSE1K_RUNS (quick 1, full 3),
# BENCH_SSE1K_TARGETS ("direct nginx haproxy sluice"; haproxy-default may be added),
# BENCH_SSE1K_TICK_MS (the backend's timer; 1), BENCH_SSE1K_PYTHON (/usr/bin/python3).

SK_RAW=$OUT/sse1000-raw.csv
echo "metric,target,run,value" > "$SK_RAW"
case $MODE in quick) SK_WINDOW=5; SK_SETTLE=1 ;; *) SK_WINDOW=15; SK_SETTLE=2 ;; esac
SK_STREAMS=${BENCH_SSE1K_STREAMS:-1000}
SK_EVERY=${BENCH_SSE1K_EVERY_MS:-100}
SK_RATE=${BENCH_SSE1K_RATE:-200}
SK_WINDOW=${BENCH_SSE1K_WINDOW:-$SK_WINDOW}
SK_SETTLE=${BENCH_SSE1K_SETTLE:-$SK_SETTLE}
SK_RUNS=${BENCH_SSE1K_RUNS:-$RUNS}
SK_TARGETS=${BENCH_SSE1K_TARGETS:-"direct nginx haproxy sluice"}
SK_TICK=${BENCH_SSE1K_TICK_MS:-1}
SK_PY=${BENCH_SSE1K_PYTHON:-/usr/bin/python3}
[[ -x $SK_PY ]] || SK_PY=$(command -v python3)
if (( NOFILE < SK_STREAMS * 2 + 256 )); then
  log "warning: sse1000: fd limit $NOFILE is low for $SK_STREAMS streams (each proxy needs 2 per stream)"
fi

read -r P_SK_BACKEND P_SK_NGINX P_SK_HAPROXY P_SK_HAPROXY_DEF P_SK_SLUICE < <(python3 - <<'PY'
import socket
socks = []
for _ in range(5):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)

start sse1k-backend "${LOAD_CPU[@]}" "$SK_PY" "$BENCH/sse_fanout.py" serve --port "$P_SK_BACKEND" \
  --max-streams "$((SK_STREAMS + 64))" --tick-ms "$SK_TICK"
SK_BACKEND_PID=$STARTED
wait_port "$P_SK_BACKEND" sse1k-backend
log "sse1000: $SK_STREAMS SSE streams, an event every $SK_EVERY ms each, opened at $SK_RATE/s;" \
  "window ${SK_WINDOW}s after ${SK_SETTLE}s; $SK_RUNS run(s) of [$SK_TARGETS]; python $SK_PY"

SK_MASTER=""; SK_PROCS=""; SK_PORT=""
sk_start() {  # sk_start TARGET: a fresh instance; sets SK_MASTER (to stop), SK_PROCS, SK_PORT
  local t=$1 nd
  case $t in
    nginx)
      SK_PORT=$P_SK_NGINX
      render "$BENCH/nginx-proxy.conf.in" "$TMP/sk-nginx.conf" WORKERS=1 PORT="$SK_PORT" \
        BACKEND_PORT="$P_SK_BACKEND" WORKER_CONNECTIONS="$((SK_STREAMS * 2 + 1024))"
      start_nginx sk-nginx "$TMP/sk-nginx.conf" "${PROXY_CPU[@]}"
      SK_MASTER=$STARTED
      wait_port "$SK_PORT" sk-nginx
      SK_PROCS=$(nginx_workers "$SK_MASTER") ;;
    haproxy|haproxy-default)
      if [[ $t == haproxy ]]; then SK_PORT=$P_SK_HAPROXY; nd="option http-no-delay"
      else SK_PORT=$P_SK_HAPROXY_DEF; nd=""; fi
      render "$BENCH/haproxy.cfg.in" "$TMP/sk-$t.cfg" WORKERS=1 PORT="$SK_PORT" \
        BACKEND_PORT="$P_SK_BACKEND" NODELAY="$nd" MAXCONN="$((SK_STREAMS * 2 + 1024))"
      start "sk-$t" "${PROXY_CPU[@]}" haproxy -db -f "$TMP/sk-$t.cfg"
      SK_MASTER=$STARTED; SK_PROCS=$STARTED
      wait_port "$SK_PORT" "sk-$t" ;;
    sluice)
      SK_PORT=$P_SK_SLUICE
      start sk-sluice "${PROXY_CPU[@]}" "$SLUICE" --listen "127.0.0.1:$SK_PORT" \
        --upstream "http://127.0.0.1:$P_SK_BACKEND" --access-log off --threads 1
      SK_MASTER=$STARTED; SK_PROCS=$STARTED
      wait_port "$SK_PORT" sk-sluice ;;
    *) echo "bench: sse1000: unknown target $t (direct nginx haproxy haproxy-default sluice)" >&2
       exit 1 ;;
  esac
}
sk_stop() {  # SIGTERM the instance, then wait (bounded) until it has gone: its port is reused
  kill -TERM "$SK_MASTER" 2> /dev/null || true
  for _ in $(seq 100); do kill -0 "$SK_MASTER" 2> /dev/null || break; sleep 0.05; done
}

read -r -a sk_order <<< "$SK_TARGETS"
for run in $(seq "$SK_RUNS"); do
  for i in "${!sk_order[@]}"; do
    t=${sk_order[$(((i + run - 1) % ${#sk_order[@]}))]}
    pidargs=()
    if [[ $t == direct ]]; then
      port=$P_SK_BACKEND
    else
      sk_start "$t"
      port=$SK_PORT
      for p in $SK_PROCS; do pidargs+=(--pid "$p"); done
    fi
    r=$("${LOAD_CPU[@]}" "$SK_PY" "$BENCH/sse_fanout.py" clients --target "127.0.0.1:$port" \
          --name "$t" --run "$run" --record "$SK_RAW" "${pidargs[@]}" \
          --harness-pid "$SK_BACKEND_PID" --count "$SK_STREAMS" --rate "$SK_RATE" \
          --every-ms "$SK_EVERY" --settle "$SK_SETTLE" --window "$SK_WINDOW" \
          2> "$TMP/log/sk-clients.err") || log "warning: sse1000 $t run $run: not every stream was served"
    [[ -s $TMP/log/sk-clients.err ]] && log "sse1000 $t run $run: $(tr '\n' ' ' < "$TMP/log/sk-clients.err")"
    log "sse1000 $t run $run: ${r:-no result}"
    [[ $t == direct ]] || sk_stop
    sleep 0.5   # the backend drops the streams the proxy closed
  done
done
kill -TERM "$SK_BACKEND_PID" 2> /dev/null || true

# ---- The table.
python3 - "$SK_RAW" "$SK_STREAMS" "$SK_EVERY" "$SK_RATE" "$SK_WINDOW" "$SK_RUNS" "$SK_TARGETS" \
  > "$OUT/results.md.sse1000" <<'PY'
import csv, math, statistics, sys
raw, streams, every, rate, window, runs, targets = sys.argv[1:8]
streams, every = int(streams), int(every)
vals = {}
for r in csv.DictReader(open(raw)):
    try:
        v = float(r["value"])
    except ValueError:
        continue
    if not math.isnan(v):
        vals.setdefault((r["metric"], r["target"]), []).append(v)
T = targets.split()
names = {"direct": "direct", "nginx": "nginx", "haproxy": "HAProxy http-no-delay",
         "haproxy-default": "HAProxy (default)", "sluice": "sluice"}
def agg(m, t, how="med"):
    v = vals.get((m, t))
    if not v:
        return None
    return {"med": statistics.median, "max": max, "sum": sum}[how](v)
def cell(m, t, f, how="med", proxy_only=False):
    if proxy_only and t == "direct":
        return "—"
    x = agg(m, t, how)
    return "—" if x is None else f % x
def row(label, cells):
    print("| %s | %s |" % (label, " | ".join(cells)))
rate_ev = streams * 1000.0 / every
print("\n### %s concurrent SSE streams, %g events/s each (%.0f events/s in all, streams opened "
      "at %s/s; one worker on core 0, a fresh instance per run; %s run(s), medians)\n"
      % (format(streams, ","), 1000.0 / every, rate_ev, rate, runs))
print("| | %s |" % " | ".join(names.get(t, t) for t in T))
print("|---|" + "---:|" * len(T))
row("proxy RSS growth per open stream, KiB (VmRSS with the streams open − before)",
    [cell("rss_kib_per_stream", t, "%.1f", proxy_only=True) for t in T])
row("proxy RSS before → with the streams open, MiB",
    ["—" if t == "direct" or agg("rss_before_kib", t) is None else "%.1f → %.1f"
     % (agg("rss_before_kib", t) / 1024, agg("rss_after_kib", t) / 1024) for t in T])
row("proxy CPU per event, µs (utime+stime over the %s s window / events received; in brackets "
    "%% of one core)" % window,
    ["—" if t == "direct" or agg("cpu_us_per_event", t) is None else "%.2f (%.1f %%)"
     % (agg("cpu_us_per_event", t), agg("cpu_pct", t)) for t in T])
row("event delay p50, ms (arrival at the client − the backend's write stamp)",
    [cell("p50_ms", t, "%.3f") for t in T])
row("event delay p99, ms", [cell("p99_ms", t, "%.3f") for t in T])
d50, d99 = agg("p50_ms", "direct"), agg("p99_ms", "direct")
if d50 is not None:
    row("added delay p50 / p99 over direct's, ms",
        ["—" if t == "direct" or agg("p50_ms", t) is None else "%+.3f / %+.3f"
         % (agg("p50_ms", t) - d50, agg("p99_ms", t) - d99) for t in T])
row("event delay p99.9 / max, ms (max: the worst run)",
    ["—" if agg("p999_ms", t) is None else "%.2f / %.2f"
     % (agg("p999_ms", t), agg("max_ms", t, "max")) for t in T])
row("events received per s in the window (expected %.0f)" % rate_ev,
    [cell("events_per_s", t, "%.0f") for t in T])
row("streams failed / stalled / events lost (target 0 / 0 / 0)",
    ["—" if agg("failed", t) is None else "%d / %d / %d"
     % (agg("failed", t, "sum"), agg("stalled", t, "sum"),
        agg("lost", t, "sum")) for t in T])
row("harness: client / backend CPU, % of core 1",
    ["—" if agg("client_cpu_pct", t) is None else "%.0f / %.0f"
     % (agg("client_cpu_pct", t), agg("backend_cpu_pct", t)) for t in T])
row("time runnable but waiting for a CPU in the window, ms: proxy / harness (schedstat run "
    "delay: others' work on the cores)",
    ["—" if agg("harness_wait_ms", t) is None else "%s / %.0f"
     % (cell("proxy_wait_ms", t, "%.0f", proxy_only=True), agg("harness_wait_ms", t)) for t in T])
notes = []
if d99 is not None:
    harness = max((agg("client_cpu_pct", t) or 0) + (agg("backend_cpu_pct", t) or 0) for t in T)
    if d99 > 2.0 or harness > 80:
        notes.append("**The harness is the limit here**: direct's p99 is %.2f ms and the client "
                     "and backend together use up to %.0f %% of core 1, so the delays above "
                     "measure Python as much as the proxies" % (d99, harness))
    else:
        notes.append("The harness is not the limit: direct's p99 is %.2f ms and the client and "
                     "backend together use at most %.0f %% of core 1" % (d99, harness))
pw = max([agg("proxy_wait_ms", t) or 0 for t in T] or [0])
hw = max([agg("harness_wait_ms", t) or 0 for t in T] or [0])
if max(pw, hw) > float(window) * 1000 * 0.01:
    notes.append("Other work on the machine kept the proxy from core 0 for up to %.0f ms and the "
                 "harness from core 1 for up to %.0f ms of the %s s window (schedstat run delay): "
                 "the tail (p99.9, max; direct's too) shows that more than the proxies"
                 % (pw, hw, window))
print("\nnginx: bench/nginx-proxy.conf.in (proxy_buffering off; the backend also sends "
      "X-Accel-Buffering: no); HAProxy: bench/haproxy.cfg.in with option http-no-delay; sluice: "
      "--upstream --access-log off --threads 1 (SSE flushed at once). The backend "
      "(bench/sse_fanout.py serve) and the clients (bench/sse_fanout.py clients) are two Python "
      "processes on core 1; delays include the client's Python read path, which direct measures "
      "alone. %sRaw values: sse1000-raw.csv." % "".join(n + ". " for n in notes))
PY
log "sse1000: $(tr '\n' ' ' < "$OUT/results.md.sse1000")"
