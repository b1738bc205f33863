#!/usr/bin/env python3
"""The data of one chart of bench/chart.sh, as a gnuplot histogram table (standard library only).

  chart_data.py http1|tls|handshakes RESULTS_CSV
  chart_data.py h2 HTTP2_RAW_CSV

http1, tls and handshakes read the medians of bench/run.sh's results.csv
("metric,label,target,median,runs,samples"; bench/report.py writes it and bench/report_tls.py
appends the TLS rows); h2 reads the samples of bench/http2.sh's http2-raw.csv
("metric,target,run,value", target e.g. nginx-h2c or sluice-tls; run 0 is the warm-up) and takes
the median per target itself, as http2.sh's table does.

Prints a comment line "# colors" with one colour per bar (each proxy the same colour in every
chart), a header line ("group" and one quoted title per bar) and one line per group: its quoted
label and one value per bar, NaN where that bar was not measured. Only the bars and groups with
at least one figure are printed (a bar with no figure in any group makes gnuplot fail with "No
valid points in histogram"), so a partial run (e.g. BENCH_SIZES="13 13ret") still charts. Prints
nothing when the file is absent or holds none of the chart's figures.
"""
import csv
import math
import statistics
import sys

# Okabe-Ito colours (readable with colour blindness), one per bar title.
COLORS = {"nginx": "#009e73", "HAProxy": "#56b4e9", "HAProxy http-no-delay": "#0072b2",
          "sluice": "#e69f00", "sluice --flush-interval -1": "#d55e00", "sluice-base": "#999999"}

# chart: (groups: [(label, {bar title: (metric, target)})], bar titles in order)
# In results.csv, the metric names are bench/report.py's and bench/report_tls.py's METRICS.
PROXIES = [("nginx", "nginx"), ("HAProxy", "haproxy"),
           ("HAProxy http-no-delay", "haproxy-nodelay"), ("sluice", "sluice")]
BASE = ("sluice-base", "sluice-base")   # bench/run.sh with SLUICE_BASELINE
F1 = "sluice --flush-interval -1"
HTTP1_BARS = [b for b, _ in PROXIES] + [BASE[0], F1]   # F1 last: it has 13 B figures only
TLS_BARS = [b for b, _ in PROXIES] + [BASE[0]]


def per_proxy(metric):
    return {b: (metric, t) for b, t in PROXIES + [BASE]}


CHARTS = {
    "http1": ([
        ("13 B", {**per_proxy("cpu_13"), F1: ("cpu_f1_13", "sluice")}),
        ("13 B, return 200", {**per_proxy("cpu_13ret"), F1: ("cpu_f1_13ret", "sluice")}),
        ("64 KiB", per_proxy("cpu_64k")),
        ("1 MiB", per_proxy("cpu_1m")),
    ], HTTP1_BARS),
    "tls": ([
        ("13 B", per_proxy("cpu_tls_13")),
        ("64 KiB", per_proxy("cpu_tls_64k")),
    ], TLS_BARS),
    "handshakes": ([
        ("new handshake + GET", per_proxy("hs_new_cpu")),
        ("resumed handshake + GET", per_proxy("hs_reuse_cpu")),
    ], TLS_BARS),
    "h2": ([
        ("h2c (prior knowledge)", {b: ("cpu", t + "-h2c") for b, t in PROXIES}),
        ("TLS h2 (ALPN)", {b: ("cpu", t + "-tls") for b, t in PROXIES}),
    ], [b for b, _ in PROXIES]),
}


def number(s):
    try:
        v = float(s)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) or math.isinf(v) else v


def results_medians(path):  # {(metric, target): median} from results.csv
    med = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            v = number(r.get("median"))
            if v is not None:
                med[(r.get("metric"), r.get("target"))] = v
    return med


def raw_medians(path):  # {(metric, target): median of its runs but run 0} from a raw CSV
    samples = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            v = number(r.get("value"))
            if r.get("run") != "0" and v is not None:
                samples.setdefault((r.get("metric"), r.get("target")), []).append(v)
    return {k: statistics.median(v) for k, v in samples.items()}


def quote(s):
    return '"' + s.replace('"', "'") + '"'


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in CHARTS:
        sys.exit("usage: chart_data.py http1|tls|handshakes RESULTS_CSV | h2 HTTP2_RAW_CSV")
    chart, path = sys.argv[1], sys.argv[2]
    try:
        med = raw_medians(path) if chart == "h2" else results_medians(path)
    except FileNotFoundError:
        return
    groups, bars = CHARTS[chart]
    rows = [(label, {b: med.get(key) for b, key in keys.items()}) for label, keys in groups]
    rows = [(label, v) for label, v in rows if any(x is not None for x in v.values())]
    bars = [b for b in bars if any(v.get(b) is not None for _, v in rows)]
    if not rows:
        return
    print(" ".join(["# colors"] + [COLORS[b] for b in bars]))
    print(" ".join(["group"] + [quote(b) for b in bars]))
    for label, v in rows:
        print(" ".join([quote(label)] + ["NaN" if v.get(b) is None else "%.6g" % v[b] for b in bars]))


if __name__ == "__main__":
    main()
