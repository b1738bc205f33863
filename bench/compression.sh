# shellcheck shell=bash disable=SC2153,SC2154  # sourced: run.sh defines and reads these
# The compression section of bench/run.sh (sourced: it uses run.sh's helpers, pinning, temp dir
# and cleanup). sluice --compress zstd,br,gzip against itself, the performance targets of issue 14
# (docs/benchmarks.md, "Compression and SSE features"):
#   1. Flush delay with compression on: one sluice --compress zstd,br,gzip (on core 0) and
#      bench/flushdelay.py --sse --accept-encoding CODING (core 1), 200 SSE events 50 ms apart
#      per coding and run (5 probes of 40, interleaved with the other codings'), for identity,
#      gzip, zstd and br through the same process; the client de-chunks and decodes as the bytes
#      arrive and times an event when the decoder gives it back. A sluice without --compress
#      (identity) is the reference. Target: gzip and zstd medians within 0.1 ms of identity's.
#   2. Memory and CPU per compressed SSE stream: BENCH_COMP_STREAMS (1,000) SSE streams at once,
#      each receiving a ~190-byte JSON event every 100 ms from bench/sse_rss.py serve (core 1),
#      through a fresh sluice --compress zstd,br,gzip per coding (core 0), so that memory freed
#      by an earlier coding cannot hide the cost of the next; bench/sse_rss.py streams reads the
#      process's VmRSS before and after opening them (KiB per stream) and its CPU while they flow
#      (µs per event). Target (issue 14): ≤ 64 KiB per stream with the gzip and zstd defaults.
#   3. CPU per event, fairer: 250 streams to each of those four processes at once, each process's
#      CPU over the same window (quick 5 s, full 10 s; one window per run).
# Writes $OUT/results.md.compression (a table run.sh appends to results.md),
# $OUT/compression-raw.csv and every flush delay in $OUT/compression-delays.csv. Only the sluice
# binary is measured (not SLUICE_BASELINE's, which may predate --compress). The clients need python3-zstandard and python3-brotli (Debian's, so the
# interpreter is the first of python3 and /usr/bin/python3 that imports them).
# Environment: BENCH_COMP_STREAMS (streams at once; 1000), BENCH_COMP_SETTLE (s the streams run
# before the second reading; quick 3, full 5), BENCH_COMP_EVENTS (flush delay events per coding
# and run; 200), BENCH_COMP_ROUNDS (the probes they are split into; 5).

CP_RAW=$OUT/compression-raw.csv
echo "metric,target,run,value" > "$CP_RAW"
cp_record() { echo "$1,$2,$3,$4" >> "$CP_RAW"; }

case $MODE in
  quick) CP_SETTLE=3; CP_CPU_WINDOW=5 ;;
  *)     CP_SETTLE=5; CP_CPU_WINDOW=10 ;;
esac
CP_CPU_EACH=250                       # streams per coding in the CPU phase (1,000 in all)
CP_SETTLE=${BENCH_COMP_SETTLE:-$CP_SETTLE}
CP_STREAMS=${BENCH_COMP_STREAMS:-1000}
CP_EVENTS=${BENCH_COMP_EVENTS:-200}
CP_ROUNDS=${BENCH_COMP_ROUNDS:-5}     # probes per target and run, interleaved
CP_INTERVAL=0.05                      # flushdelay.py's default: one event every 50 ms
CP_CODINGS="identity gzip zstd br"

CP_PY=""
for py in python3 /usr/bin/python3; do
  if command -v "$py" > /dev/null && "$py" -c 'import zstandard, brotli' 2> /dev/null; then
    CP_PY=$(command -v "$py"); break
  fi
done
[[ -n $CP_PY ]] || {
  echo "bench: the compression section needs python3-zstandard and python3-brotli (scripts/install-deps.sh bench)" >&2
  exit 1
}

read -r P_CP_UP P_CP_SL P_CP_OFF P_CP_SSE P_CP_M1 P_CP_M2 P_CP_M3 P_CP_M4 < <(python3 - <<'PY'
import socket
socks = []
for _ in range(8):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)

# ---- The processes: the SSE upstream of the memory test on the load's core; on the proxy's
# core the sluice of the flush probes (its upstream is flushdelay.py's, which binds P_CP_UP for
# each probe), the reference without --compress, and one fresh sluice per coding for memory.
start comp-sse "${LOAD_CPU[@]}" "$CP_PY" "$BENCH/sse_rss.py" serve --port "$P_CP_SSE" \
  --max-streams "$((CP_STREAMS + 64))"
start comp "${PROXY_CPU[@]}" "$SLUICE" --listen "127.0.0.1:$P_CP_SL" \
  --upstream "http://127.0.0.1:$P_CP_UP" --compress zstd,br,gzip --access-log off --threads 1
start comp-off "${PROXY_CPU[@]}" "$SLUICE" --listen "127.0.0.1:$P_CP_OFF" \
  --upstream "http://127.0.0.1:$P_CP_UP" --access-log off --threads 1
declare -A CP_MEM_PID CP_MEM_PORT=([identity]=$P_CP_M1 [gzip]=$P_CP_M2 [zstd]=$P_CP_M3 [br]=$P_CP_M4)
for c in $CP_CODINGS; do
  start "comp-mem-$c" "${PROXY_CPU[@]}" "$SLUICE" --listen "127.0.0.1:${CP_MEM_PORT[$c]}" \
    --upstream "http://127.0.0.1:$P_CP_SSE" --compress zstd,br,gzip --access-log off --threads 1
  CP_MEM_PID[$c]=$STARTED
done
wait_port "$P_CP_SSE" comp-sse; wait_port "$P_CP_SL" comp; wait_port "$P_CP_OFF" comp-off
for c in $CP_CODINGS; do wait_port "${CP_MEM_PORT[$c]}" "comp-mem-$c"; done
log "compression: sluice --compress zstd,br,gzip; flush probes of $CP_EVENTS SSE events" \
  "${CP_INTERVAL}s apart, $RUNS run(s); $CP_STREAMS streams per coding for memory; python $CP_PY"

# ---- 1. Flush delay per coding, one process. A run is CP_ROUNDS rounds of one probe per
# target, CP_EVENTS / CP_ROUNDS events each, the order rotated by one every round (each target
# takes each place once): a drift in the machine's load over the minute hits every target alike.
# A target's figures for a run pool its delays over the rounds (CP_EVENTS events).
cp_flush() {  # cp_flush TARGET PORT CODING RUN ROUND
  local t=$1 port=$2 coding=$3 run=$4 round=$5 r dump=$TMP/log/comp-flush.dump
  r=$("${LOAD_CPU[@]}" "$CP_PY" "$BENCH/flushdelay.py" --upstream-port "$P_CP_UP" \
        --proxy "127.0.0.1:$port" --path /flush/stream --sse --interval "$CP_INTERVAL" \
        --duration "$(awk -v n="$CP_EVENTS" -v k="$CP_ROUNDS" -v i="$CP_INTERVAL" 'BEGIN {print n / k * i}')" \
        --accept-encoding "$coding" --dump "$dump") || log "warning: compression flush probe $t failed (above)"
  read -r med max got sent wire _ at_read <<< "${r:-nan nan 0 0 0 0 nan}"
  [[ -s $dump ]] && awk -v t="$t" -v r="$run" -v k="$round" '{print t "," r "," k "," $1 "," $2}' "$dump" >> "$CP_DELAYS"
  rm -f "$dump"
  cp_record flush_lost "$t" "$run" "$((sent - got))"
  cp_record flush_wire "$t" "$run" "$wire"
  cp_record flush_got "$t" "$run" "$got"
  log "compression flush $t run $run.$round: median $med ms ($at_read at read), max $max ms, $got/$sent events, $wire body bytes"
}
CP_DELAYS=$OUT/compression-delays.csv
echo "target,run,round,ms,ms_at_read" > "$CP_DELAYS"
"${LOAD_CPU[@]}" "$CP_PY" "$BENCH/flushdelay.py" --upstream-port "$P_CP_UP" --proxy "127.0.0.1:$P_CP_SL" \
  --sse --duration 1 --accept-encoding gzip > /dev/null || true   # warm-up (20 events: 580 B, over the 256 B minimum)
CP_TARGETS=(identity gzip zstd br off)
for run in $(seq "$RUNS"); do
  for round in $(seq 0 $((CP_ROUNDS - 1))); do
    for i in "${!CP_TARGETS[@]}"; do
      c=${CP_TARGETS[$(((i + round) % ${#CP_TARGETS[@]}))]}
      if [[ $c == off ]]; then cp_flush off "$P_CP_OFF" identity "$run" "$round"
      else cp_flush "$c" "$P_CP_SL" "$c" "$run" "$round"; fi
    done
  done
done

# ---- 2. Memory and CPU per open SSE stream, a fresh process per coding.
for c in $CP_CODINGS; do
  r=$("${LOAD_CPU[@]}" "$CP_PY" "$BENCH/sse_rss.py" streams --proxy "127.0.0.1:${CP_MEM_PORT[$c]}" \
        --pid "${CP_MEM_PID[$c]}" --count "$CP_STREAMS" --settle "$CP_SETTLE" \
        --accept-encoding "$c" 2> "$TMP/log/comp-rss-$c.err") ||
    log "warning: compression memory $c: $(grep -v '^sse_rss: [0-9]* events in' "$TMP/log/comp-rss-$c.err" | tr '\n' ' ')"
  read -r before after per n stalled bpe cpu <<< "${r:-nan nan nan 0 0 nan nan}"
  cp_record rss_kib "$c" 1 "$per"
  cp_record rss_streams "$c" 1 "$n"
  cp_record rss_stalled "$c" 1 "$stalled"
  cp_record rss_bytes "$c" 1 "$bpe"
  cp_record rss_cpu_us "$c" 1 "$cpu"
  log "compression memory $c: $n streams, RSS $before -> $after KiB, $per KiB/stream, $stalled stalled, $bpe B/event, sluice $cpu µs CPU/event"
done

# ---- 3. CPU per event: CP_CPU_EACH streams to each of the four processes at once, so that all
# four are measured over the same window (the machine's load moves between sequential phases).
cp_targets=()
for c in $CP_CODINGS; do cp_targets+=(--target "$c:${CP_MEM_PORT[$c]}:${CP_MEM_PID[$c]}"); done
for run in $(seq "$RUNS"); do
  r=$("${LOAD_CPU[@]}" "$CP_PY" "$BENCH/sse_rss.py" cpu "${cp_targets[@]}" --count "$CP_CPU_EACH" \
        --window "$CP_CPU_WINDOW" 2> "$TMP/log/comp-cpu.err") ||
    log "warning: compression CPU run $run: $(grep -v 'events in the' "$TMP/log/comp-cpu.err" | tr '\n' ' ')"
  while read -r c us n stalled bpe; do
    cp_record cpu_us "$c" "$run" "$us"
    cp_record cpu_stalled "$c" "$run" "$stalled"
    log "compression CPU $c run $run: $us µs/event, $n streams, $stalled stalled, $bpe B/event"
  done <<< "$r"
done
for c in $CP_CODINGS; do kill -TERM "${CP_MEM_PID[$c]}" 2> /dev/null || true; done

# ---- The table.
python3 - "$CP_RAW" "$CP_DELAYS" "$CP_EVENTS" "$CP_INTERVAL" "$CP_STREAMS" "$CP_SETTLE" "$RUNS" \
  "$CP_ROUNDS" "$CP_CPU_WINDOW" > "$OUT/results.md.compression" <<'PY'
import csv, math, statistics, sys
raw, delays_file, events, interval, streams, settle, runs, rounds, cpu_window = sys.argv[1:10]
vals = {}
for r in csv.DictReader(open(raw)):
    try:
        v = float(r["value"])
    except ValueError:
        continue
    if not math.isnan(v):
        vals.setdefault((r["metric"], r["target"]), []).append(v)
# The flush delays of each target and run, pooled over the rounds: one median and max per run.
pooled = {}
for r in csv.DictReader(open(delays_file)):
    p = pooled.setdefault((r["target"], r["run"]), ([], []))
    p[0].append(float(r["ms"])); p[1].append(float(r["ms_at_read"]))
for (t, run), (ms, at_read) in pooled.items():
    vals.setdefault(("flush_med", t), []).append(statistics.median(ms))
    vals.setdefault(("flush_max", t), []).append(max(ms))
    vals.setdefault(("flush_med_read", t), []).append(statistics.median(at_read))
    vals.setdefault(("flush_p99", t), []).append(sorted(ms)[int(0.99 * (len(ms) - 1))])
med = {k: statistics.median(v) for k, v in vals.items() if v}
top = {k: max(v) for k, v in vals.items() if v}
total = {k: sum(v) for k, v in vals.items()}
codings = ["identity", "gzip", "zstd", "br"]

def cell(agg, metric, t, fmt):
    return fmt % agg[(metric, t)] if (metric, t) in agg else "—"

print("\n### Compression and SSE (sluice --compress zstd,br,gzip against itself, same run)\n")
print("| SSE flush delay: %s events %.0f ms apart per run (%s rounds, interleaved), %s run(s), one "
      "sluice for every coding | identity | gzip | zstd | br | no `--compress` |"
      % (events, float(interval) * 1000, rounds, runs))
print("|---|---:|---:|---:|---:|---:|")
cols = codings + ["off"]
print("| median, ms, the event decoded (median of the runs) | %s |"
      % " | ".join(cell(med, "flush_med", t, "%.3f") for t in cols))
ident = med.get(("flush_med", "identity"))
diffs = []
for t in cols:
    m = med.get(("flush_med", t))
    if t == "identity":
        diffs.append("0")
    elif m is None or ident is None:
        diffs.append("—")
    else:
        d = m - ident
        ok = "" if t not in ("gzip", "zstd") else (" ✓" if d <= 0.1 else " ✗")
        diffs.append("%+.3f%s" % (d, ok))
print("| median − identity's, ms (target for gzip and zstd ≤ +0.1) | %s |" % " | ".join(diffs))
print("| median, ms, when the bytes were read (before unframing and decoding) | %s |"
      % " | ".join(cell(med, "flush_med_read", t, "%.3f") for t in cols))
print("| p99, ms (median of the runs) | %s |" % " | ".join(cell(med, "flush_p99", t, "%.3f") for t in cols))
print("| max, ms (the worst run) | %s |" % " | ".join(cell(top, "flush_max", t, "%.3f") for t in cols))
print("| events lost (target 0) | %s |" % " | ".join(cell(total, "flush_lost", t, "%d") for t in cols))
print("| body bytes per event (29-byte events: \"data: T\" and a 20-digit timestamp) | %s |"
      % " | ".join("%.1f" % (total[("flush_wire", t)] / total[("flush_got", t)])
                   if total.get(("flush_got", t)) else "—" for t in cols))

print("\n| %s SSE streams at once, a ~190-byte JSON event every 100 ms each, a fresh sluice per "
      "coding | identity | gzip | zstd | br |" % streams)
print("|---|---:|---:|---:|---:|")
print("| RSS growth per stream, KiB (target ≤ 64 with gzip and zstd) | %s |"
      % " | ".join(cell(med, "rss_kib", t, "%.1f") for t in codings))
base = med.get(("rss_kib", "identity"))
print("| of which compression: over identity's, KiB | %s |" % " | ".join(
    "—" if t == "identity" or base is None or ("rss_kib", t) not in med
    else "%+.1f" % (med[("rss_kib", t)] - base) for t in codings))
print("| sluice CPU per event, µs: 1,000 streams on one process (its own %s s window) | %s |"
      % (settle, " | ".join(cell(med, "rss_cpu_us", t, "%.2f") for t in codings)))
print("| sluice CPU per event, µs: 250 streams on each process, the four in the same %s s window "
      "(median of %s run(s)) | %s |"
      % (cpu_window, runs, " | ".join(cell(med, "cpu_us", t, "%.2f") for t in codings)))
ci = med.get(("cpu_us", "identity"))
print("| of which compression: over identity's, µs (same window) | %s |" % " | ".join(
    "—" if t == "identity" or ci is None or ("cpu_us", t) not in med
    else "%+.2f" % (med[("cpu_us", t)] - ci) for t in codings))
print("| body bytes per event on the wire | %s |"
      % " | ".join(cell(med, "rss_bytes", t, "%.1f") for t in codings))
print("| streams open / stalled, of %s (target: all / 0; CPU phase: stalled in all runs) | %s |"
      % (streams, " | ".join(
          "%s / %s (%s)" % (cell(med, "rss_streams", t, "%d"), cell(med, "rss_stalled", t, "%d"),
                            cell(total, "cpu_stalled", t, "%d")) for t in codings)))
PY
log "compression: $(tr '\n' ' ' < "$OUT/results.md.compression")"
