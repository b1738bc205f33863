#!/usr/bin/env bash
# CPU µs/request per response size for each proxy, from bench/run.sh's results.csv, as a PNG
# (with a sluice-base bar when the run had SLUICE_BASELINE).
#   bench/chart.sh [build/bench/results.csv] [build/bench/cpu.png] [title]
set -euo pipefail
CSV=${1:-build/bench/results.csv}
PNG=${2:-build/bench/cpu.png}
TITLE=${3:-sluice benchmark: proxy CPU per request (lower is better)}
command -v gnuplot >/dev/null || { echo "chart: gnuplot not found (scripts/install-deps.sh bench)" >&2; exit 1; }
DAT=$(mktemp)
trap 'rm -f "$DAT"' EXIT
python3 - "$CSV" > "$DAT" <<'PY'
import csv, sys
med = {}
with open(sys.argv[1]) as f:
    for r in csv.DictReader(f):
        med[(r["metric"], r["target"])] = r["median"]
targets = ["nginx", "haproxy", "haproxy-nodelay", "sluice"]
header = 'size "nginx" "HAProxy" "HAProxy http-no-delay" "sluice"'
if any(t == "sluice-base" for _, t in med):
    targets.append("sluice-base")
    header += ' "sluice-base"'
print(header)
for m, label in [("cpu_13", '"13 B"'), ("cpu_64k", '"64 KiB"'), ("cpu_1m", '"1 MiB"')]:
    if any((m, t) in med for t in targets):
        print(label, " ".join(med.get((m, t), "NaN") for t in targets))
PY
if [[ $(wc -l < "$DAT") -lt 2 ]]; then echo "chart: no CPU figures in $CSV" >&2; exit 0; fi
NCOL=$(head -n 1 "$DAT" | awk -F'" "' '{print NF + 1}')   # size + one column per proxy
gnuplot <<GP
set terminal pngcairo size 900,500 font ",10"
set output "$PNG"
set title "$TITLE"
set ylabel "CPU µs / request (log scale)"
set logscale y
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top left
set grid ytics
set yrange [1:*]
plot for [i=2:$NCOL] "$DAT" using i:xtic(1) title columnheader(i)
GP
echo "chart: $PNG"
