# The observability section of bench/run.sh (sourced: it uses run.sh's helpers, ports, pinning
# and backend). Three questions, each against sluice itself in the same run:
#   1. CPU µs/req at 13 B with metrics (--admin-listen) and the text access log on, against both
#      off, and metrics alone: the target is at most 3 % more.
#   2. Does sluice_added_latency_seconds agree with an external measurement? bench/flushdelay.py
#      streams chunks through sluice (--flush-interval -1) and directly; the external added
#      latency is (through sluice) - (direct), per quantile; the histogram's quantiles come from
#      two scrapes around the same stream (bench/promhist.py). Targets: median within 0.1 ms,
#      p99 within 0.5 ms.
#   3. The dashboard picture: scrapes every 0.5 s during a load with phases (API calls, then
#      API calls plus long downloads), plotted as requests/s, active requests and added-latency
#      quantiles over time (build/bench/dashboard.png, docs/observability-dashboard.png).
# Writes $OUT/results.md.obs (a table run.sh appends to results.md) and $OUT/obs-raw.csv.

OBS_RAW=$OUT/obs-raw.csv
echo "metric,target,run,value" > "$OBS_RAW"
obs_record() { echo "$1,$2,$3,$4" >> "$OBS_RAW"; }

read -r P_OBS_OFF P_OBS_MET P_OBS_ON P_OBS_MET_ADMIN P_OBS_ON_ADMIN P_OBS_UP P_OBS_FLUSH \
        P_OBS_FLUSH_ADMIN < <(python3 - <<'PY'
import socket
socks = []
for _ in range(8):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)

declare -A OBS_PORT=([obs-off]=$P_OBS_OFF [obs-metrics]=$P_OBS_MET [obs-on]=$P_OBS_ON)
declare -A OBS_PID
start obs-off "${PROXY_CPU[@]}" "$SLUICE" --listen "127.0.0.1:$P_OBS_OFF" \
  --upstream "http://127.0.0.1:$P_BACKEND" --threads 1 --access-log off
OBS_PID[obs-off]=$STARTED
start obs-metrics "${PROXY_CPU[@]}" "$SLUICE" --listen "127.0.0.1:$P_OBS_MET" \
  --upstream "http://127.0.0.1:$P_BACKEND" --threads 1 --access-log off \
  --admin-listen "127.0.0.1:$P_OBS_MET_ADMIN"
OBS_PID[obs-metrics]=$STARTED
# The text log goes to a file (run.sh's start): the writer thread's write(2)s count in the CPU.
start obs-on "${PROXY_CPU[@]}" "$SLUICE" --listen "127.0.0.1:$P_OBS_ON" \
  --upstream "http://127.0.0.1:$P_BACKEND" --threads 1 --access-log text \
  --admin-listen "127.0.0.1:$P_OBS_ON_ADMIN"
OBS_PID[obs-on]=$STARTED
start obs-flush "${PROXY_CPU[@]}" "$SLUICE" --listen "127.0.0.1:$P_OBS_UP" \
  --upstream "http://127.0.0.1:$P_OBS_FLUSH" --threads 1 --access-log off --flush-interval -1 \
  --admin-listen "127.0.0.1:$P_OBS_FLUSH_ADMIN"
for t in obs-off obs-metrics obs-on; do wait_port "${OBS_PORT[$t]}" "$t"; done
wait_port "$P_OBS_UP" obs-flush; wait_port "$P_OBS_ON_ADMIN" obs-on-admin

# ---- 1. CPU per 13 B request, the three variants interleaved run by run.
LOADER=("${LOAD_CPU[@]}"); WRK_THREADS=1
for t in obs-off obs-metrics obs-on; do run_wrk "${OBS_PORT[$t]}" /small 1; done
for run in $(seq "$RUNS"); do
  for t in obs-off obs-metrics obs-on; do
    c0=$(cpu_ticks "${OBS_PID[$t]}")
    run_wrk "${OBS_PORT[$t]}" /small "$DUR"
    c1=$(cpu_ticks "${OBS_PID[$t]}")
    us=$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="${REQS:-0}" 'BEGIN {printf "%.4f", n ? d * 1e6 / hz / n : 0}')
    obs_record cpu_13 "$t" "$run" "$us"
    obs_record rps_13 "$t" "$run" "$RPS"
    log "$t 13 B run $run: $RPS req/s, $us µs/req CPU"
  done
done

# ---- 2. The added-latency histogram against the external probe.
FLUSH_ADMIN=http://127.0.0.1:$P_OBS_FLUSH_ADMIN/metrics
OBS_INTERVAL=0.01; OBS_STREAM=5   # 500 chunks per stream
for run in $(seq "$RUNS"); do
  python3 "$BENCH/promhist.py" scrape "$FLUSH_ADMIN" "$TMP/log/obs-before"
  r=$("${LOAD_CPU[@]}" python3 "$BENCH/flushdelay.py" --upstream-port "$P_OBS_FLUSH" \
        --proxy "127.0.0.1:$P_OBS_UP" --interval "$OBS_INTERVAL" --duration "$OBS_STREAM" \
        --dump "$TMP/log/obs-through") || true
  python3 "$BENCH/promhist.py" scrape "$FLUSH_ADMIN" "$TMP/log/obs-after"
  # The same stream read straight from the probe's own upstream: what is not sluice's.
  "${LOAD_CPU[@]}" python3 "$BENCH/flushdelay.py" --upstream-port "$P_OBS_FLUSH" \
    --proxy "127.0.0.1:$P_OBS_FLUSH" --interval "$OBS_INTERVAL" --duration "$OBS_STREAM" \
    --dump "$TMP/log/obs-direct" > /dev/null || true
  read -r ext_med ext_p99 < <(python3 - "$TMP/log/obs-through" "$TMP/log/obs-direct" <<'PY'
import statistics, sys
def q(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(p * len(xs)))]
through = [float(x) for x in open(sys.argv[1])]
direct = [float(x) for x in open(sys.argv[2])]
print("%.3f %.3f" % (statistics.median(through) - statistics.median(direct),
                     q(through, 0.99) - q(direct, 0.99)))
PY
  ) || { ext_med=nan; ext_p99=nan; }
  read -r hist_med hist_p99 hist_n < <(python3 "$BENCH/promhist.py" quantiles \
    sluice_added_latency_seconds "$TMP/log/obs-before" "$TMP/log/obs-after")
  obs_record addlat_ext_med sluice "$run" "$ext_med"
  obs_record addlat_ext_p99 sluice "$run" "$ext_p99"
  obs_record addlat_hist_med sluice "$run" "$hist_med"
  obs_record addlat_hist_p99 sluice "$run" "$hist_p99"
  log "added latency run $run: external median $ext_med ms p99 $ext_p99 ms;" \
      "histogram median $hist_med ms p99 $hist_p99 ms ($hist_n samples)"
done

# ---- 3. The dashboard: scrapes every 0.5 s over a load in phases.
SCRAPES=$TMP/log/scrapes; mkdir -p "$SCRAPES"
ON_ADMIN=http://127.0.0.1:$P_OBS_ON_ADMIN/metrics
# 2 s quiet, 8 s of API calls, 8 s of API calls beside 8 downloads (at most 12 s), then quiet;
# scraped about once a second.
( for i in $(seq -w 0 23); do   # about 1 s apart: a scrape is a python start plus 0.5 s
    python3 "$BENCH/promhist.py" scrape "$ON_ADMIN" "$SCRAPES/$i" || true
    sleep 0.5
  done ) &
scraper=$!
sleep 2
"${LOAD_CPU[@]}" wrk -t1 -c16 -d8s "http://127.0.0.1:$P_OBS_ON/small" > /dev/null 2>&1 || true
downloads=()
for i in $(seq 8); do   # long downloads: active requests that last
  "${LOAD_CPU[@]}" curl -s -o /dev/null --max-time 12 --limit-rate 40M \
    "http://127.0.0.1:$P_OBS_ON/dl" &
  downloads+=($!)
done
"${LOAD_CPU[@]}" wrk -t1 -c64 -d8s "http://127.0.0.1:$P_OBS_ON/small" > /dev/null 2>&1 || true
wait "$scraper" || true
for pid in "${downloads[@]}"; do wait "$pid" 2>/dev/null || true; done
python3 "$BENCH/promhist.py" series "$SCRAPES" "$OUT/dashboard.tsv"
if command -v gnuplot >/dev/null; then
  gnuplot <<GP || log "warning: dashboard plot failed"
set terminal pngcairo size 900,720 font ",10" noenhanced
set output "$OUT/dashboard.png"
set multiplot layout 3,1 title "sluice /metrics scraped about once a second (bench/observability.sh)"
set grid
set key top left
set xlabel ""
set ylabel "requests/s"
plot "$OUT/dashboard.tsv" using 1:2 with lines lw 2 title "rate(sluice_requests_total)"
set ylabel "active"
plot "$OUT/dashboard.tsv" using 1:3 with steps lw 2 title "sluice_active_requests"
set xlabel "seconds"
set ylabel "ms"
set logscale y
plot "$OUT/dashboard.tsv" using 1:4 with lines lw 2 title "added latency p50", \
     "" using 1:5 with lines lw 2 title "added latency p99"
unset multiplot
GP
fi

# ---- The table.
python3 - "$OBS_RAW" > "$OUT/results.md.obs" <<'PY'
import csv, statistics, sys
vals = {}
for r in csv.DictReader(open(sys.argv[1])):
    try:
        vals.setdefault((r["metric"], r["target"]), []).append(float(r["value"]))
    except ValueError:
        pass
med = {k: statistics.median(v) for k, v in vals.items() if v}
off = med.get(("cpu_13", "obs-off"))
print("\n### Observability (sluice against itself, 13 B, medians)\n")
print("| sluice | CPU µs/req | vs off | req/s |")
print("|---|---:|---:|---:|")
for t, label in [("obs-off", "access log off, no metrics"), ("obs-metrics", "metrics (--admin-listen)"),
                 ("obs-on", "metrics + text access log")]:
    c = med.get(("cpu_13", t))
    if c is None:
        continue
    ratio = "%.3f" % (c / off) if off else "-"
    print("| %s | %.2f | %s | %.0f |" % (label, c, ratio, med.get(("rps_13", t), float("nan"))))
print("\n| added latency, ms | external (through - direct) | sluice_added_latency_seconds | difference |")
print("|---|---:|---:|---:|")
for q in ("med", "p99"):
    e, h = med.get(("addlat_ext_" + q, "sluice")), med.get(("addlat_hist_" + q, "sluice"))
    if e is None or h is None:
        continue
    print("| %s | %.3f | %.3f | %.3f |" % ("median" if q == "med" else "p99", e, h, h - e))
PY
log "observability: $(tr '\n' ' ' < "$OUT/results.md.obs")"
