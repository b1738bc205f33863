#!/usr/bin/env bash
# One chart per protocol of each proxy's CPU µs per request (lower is better), nginx, HAProxy and
# sluice side by side, from bench/run.sh's results (bench/chart_data.py picks the figures):
#   PNG             HTTP/1.1 cleartext at 13 B (the backend's file), 13 B (its `return 200`),
#                   64 KiB and 1 MiB, with sluice --flush-interval -1 at 13 B (results.csv)
#   STEM-tls.png    HTTPS (TLS 1.3, HTTP/1.1): per request at 13 B and 64 KiB, and in a second
#                   panel per new and per resumed handshake (results.csv, bench/report_tls.py's rows)
#   STEM-h2.png     HTTP/2 (h2load, 13 B): per request over h2c and over TLS (bench/http2.sh's raw CSV)
# STEM is PNG without .png; with SLUICE_BASELINE a sluice-base bar too.
#   bench/chart.sh [RESULTS_CSV] [PNG] [HTTP2_RAW_CSV]
# Defaults: build/bench/results.csv, build/bench/cpu.png, http2-raw.csv next to RESULTS_CSV; an
# empty HTTP2_RAW_CSV means no HTTP/2 chart (bench/run.sh passes http2.sh's file only when its
# http2 section ran, so that an older file is not charted). A chart without figures (its section
# did not run) is not drawn and its older PNG is removed, with one line on stderr; not an error.
set -euo pipefail
CSV=${1:-build/bench/results.csv}
PNG=${2:-build/bench/cpu.png}
H2_RAW=${3-$(dirname "$CSV")/http2-raw.csv}
STEM=${PNG%.png}
DATA=$(dirname "${BASH_SOURCE[0]}")/chart_data.py
command -v gnuplot >/dev/null || { echo "chart: gnuplot not found (scripts/install-deps.sh bench)" >&2; exit 1; }
TMPD=$(mktemp -d)
trap 'rm -rf "$TMPD"' EXIT

data() {  # data CHART FILE -> $TMPD/CHART.dat; fails when it has no figure
  local dat=$TMPD/$1.dat
  if [[ -n $2 ]]; then python3 "$DATA" "$1" "$2" > "$dat"; else : > "$dat"; fi
  [[ -s $dat ]]
}

skip() {  # skip PNG WHY
  rm -f "$1"
  echo "chart: $1 not drawn: $2" >&2
}

# The gnuplot lines of one clustered histogram: one bar per column of DAT (each bar title in its
# colour from chart_data.py) and its value above it.
panel() {  # panel DAT TITLE YLABEL
  local dat=$1 colors n rows range
  colors=$(head -n 1 "$dat"); colors=${colors#\# colors }
  n=$(wc -w <<< "$colors")
  rows=$(( $(wc -l < "$dat") - 2 ))
  # The values upright when the bars get narrower than a label; room above the tallest bar for
  # its value (log scale: a factor).
  local rotate="" room=1.6
  (( rows * (n + 1) > 24 )) && rotate="rotate by 90 left" room=2.2
  range=$(awk -v room="$room" '
      NR > 2 { sub(/^"[^"]*"/, "")
               for (i = 1; i <= NF; i++) if ($i != "NaN") { v = $i + 0; if (v > hi) hi = v; if (lo == "" || v < lo) lo = v } }
      END { printf "%s:%g", (lo != "" && lo < 1.5 ? 0.1 : 1), (hi > 6 ? hi : 6) * room }' "$dat")
  cat <<GP
set title "$2"
set ylabel "$3"
set xrange [-0.6:$rows - 0.4]
set yrange [$range]
N = $n
colors = "$colors"
plot for [i=2:N+1] "$dat" using i:xtic(1) title columnheader(i) lc rgb word(colors, i - 1), \\
     for [i=2:N+1] "$dat" using (\$0 + (i - 2 - (N - 1) / 2.0) / (N + 1.0)):i:(value_label(column(i))) \\
       with labels font ",8" $rotate offset 0,0.6 notitle
GP
}

preamble() {  # preamble PNG WIDTH HEIGHT
  cat <<GP
set terminal pngcairo size $2,$3 font ",10" noenhanced
set output "$1"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set ytics (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)
set mytics 10
set grid ytics
set xtics nomirror
set key autotitle columnhead
set key outside right top vertical reverse Left samplen 2
value_label(v) = v < 100 ? sprintf("%.1f", v) : sprintf("%.0f", v)
GP
}

failed=0
GP=$TMPD/chart.gp
draw() {  # draw PNG: run the gnuplot script $GP; a failure leaves the other charts drawn
  if gnuplot "$GP"; then echo "chart: $1"; else echo "chart: gnuplot failed on $1" >&2; failed=1; fi
}

# ---------------------------------------------------------------- HTTP/1.1 cleartext
if data http1 "$CSV"; then
  { preamble "$PNG" 1100 520
    panel "$TMPD/http1.dat" "HTTP/1.1 cleartext: proxy CPU per request (lower is better)" \
      "CPU µs / request (log scale)"
  } > "$GP"
  draw "$PNG"
else
  skip "$PNG" "no HTTP/1.1 CPU figures in $CSV (throughput section not run)"
fi

# ---------------------------------------------------------------- HTTPS: per request, per handshake
PNG_TLS=$STEM-tls.png
req=0 hs=0
data tls "$CSV" && req=1
data handshakes "$CSV" && hs=1
if (( req && hs )); then
  { preamble "$PNG_TLS" 1000 520
    echo 'set multiplot title "HTTPS (TLS 1.3, HTTP/1.1): proxy CPU (lower is better)" font ",11"'
    echo 'set tmargin at screen 0.86; set bmargin at screen 0.16'
    echo 'set key at screen 0.5, 0.02 center bottom horizontal maxrows 1 samplen 1.5'
    echo 'set lmargin at screen 0.08; set rmargin at screen 0.50'
    panel "$TMPD/tls.dat" "per request (keep-alive)" "CPU µs / request (log scale)"
    echo 'unset key'
    echo 'set lmargin at screen 0.59; set rmargin at screen 0.98'
    panel "$TMPD/handshakes.dat" "per handshake, each with one GET (openssl s_time)" \
      "CPU µs / handshake (log scale)"
    echo 'unset multiplot'
  } > "$GP"
  draw "$PNG_TLS"
elif (( req || hs )); then
  if (( req )); then which=tls what="per request"; else which=handshakes what="per handshake"; fi
  { preamble "$PNG_TLS" 700 520
    panel "$TMPD/$which.dat" "HTTPS (TLS 1.3, HTTP/1.1): proxy CPU $what (lower is better)" \
      "CPU µs / ${what#per } (log scale)"
  } > "$GP"
  draw "$PNG_TLS"
else
  skip "$PNG_TLS" "no HTTPS CPU figures in $CSV (tls section not run)"
fi

# ---------------------------------------------------------------- HTTP/2
PNG_H2=$STEM-h2.png
if data h2 "$H2_RAW"; then
  { preamble "$PNG_H2" 700 520
    panel "$TMPD/h2.dat" "HTTP/2 (h2load -c 100 -m 10, 13 B): proxy CPU per request (lower is better)" \
      "CPU µs / request (log scale)"
  } > "$GP"
  draw "$PNG_H2"
else
  skip "$PNG_H2" "no HTTP/2 CPU figures${H2_RAW:+ in $H2_RAW} (http2 section not run)"
fi
exit "$failed"
