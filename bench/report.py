#!/usr/bin/env python3
"""Turns the raw samples of bench/run.sh into the results table (standard library only).

Input: raw.csv with rows "metric,target,run,value" (one per measurement).
Output: results.csv ("metric,label,target,median,runs,samples") and results.md (one Markdown
table: medians per target and the ratio of sluice against the best peer); the table is also
printed.

With samples of the target sluice-base (bench/run.sh with SLUICE_BASELINE) the table gets a
sluice-base column after sluice and a last column "sluice / sluice-base" for the CPU µs/req rows
(sluice's median over sluice-base's); results.csv gets, for those rows, the target
"sluice/sluice-base" whose median is that ratio and whose samples are the ratios of the runs
measured for both (run i of one against run i of the other, taken back to back).
"""
import csv
import math
import statistics
import sys

TARGETS = [("direct", "direct"), ("nginx", "nginx"), ("haproxy", "HAProxy"),
           ("haproxy-nodelay", "HAProxy http-no-delay"), ("sluice", "sluice")]
PEERS = ["nginx", "haproxy", "haproxy-nodelay"]
BASE = "sluice-base"
BASE_RATIO = "sluice/sluice-base"   # its target name in results.csv

# metric, label, better ("low"/"high"/None = no ratio), format, peer metric for the ratio
METRICS = [
    ("rps_13", "req/s, 13 B", "high", "{:,.0f}", None),
    ("rps_64k", "req/s, 64 KiB", "high", "{:,.0f}", None),
    ("rps_1m", "req/s, 1 MiB", "high", "{:,.0f}", None),
    ("cpu_13", "CPU µs/req, 13 B", "low", "{:.2f}", None),
    ("cpu_f1_13", "CPU µs/req, 13 B, sluice --flush-interval -1", "low", "{:.2f}", "cpu_13"),
    ("rps_13ret", "req/s, 13 B from nginx `return 200`", "high", "{:,.0f}", None),
    ("cpu_13ret", "CPU µs/req, 13 B from `return 200`", "low", "{:.2f}", None),
    ("cpu_f1_13ret", "CPU µs/req, 13 B from `return 200`, sluice -1", "low", "{:.2f}", "cpu_13ret"),
    ("cpu_64k", "CPU µs/req, 64 KiB", "low", "{:.2f}", None),
    ("cpu_1m", "CPU µs/req, 1 MiB", "low", "{:.1f}", None),
    ("flush_med", "flush delay median, ms (sluice: --flush-interval -1)", "low", "{:.3f}", None),
    ("flush_max", "flush delay max, ms (sluice: --flush-interval -1)", "low", "{:.3f}", None),
    ("flush_med_sse", "flush delay median, ms, SSE (sluice default interval)", "low", "{:.3f}", "flush_med"),
    ("flush_max_sse", "flush delay max, ms, SSE", "low", "{:.3f}", "flush_max"),
    ("flush_med_100ms", "flush delay median, ms, --flush-interval 100ms", None, "{:.3f}", None),
    ("flush_max_100ms", "flush delay max, ms, --flush-interval 100ms (target ≤ 101)", None, "{:.3f}", None),
    ("dl_mbps", "download MB/s (DL_SIZE)", "high", "{:,.0f}", None),
    ("dl_rss_mib", "download peak RSS, MiB (VmHWM)", "low", "{:.1f}", None),
    ("up_mbps", "upload MB/s (DL_SIZE)", "high", "{:,.0f}", None),
    ("up_rss_mib", "upload peak RSS, MiB (VmHWM)", "low", "{:.1f}", None),
    ("idle_kib", "RSS per idle keep-alive connection, KiB (IDLE_N conns)", "low", "{:.2f}", None),
    ("silent_kib", "RSS per silent connection (nothing sent), KiB (IDLE_N conns)", "low", "{:.2f}", None),
    ("rps2_13", "2 workers unpinned: req/s, 13 B", "high", "{:,.0f}", None),
    ("cpu2_13", "2 workers unpinned: CPU µs/req, 13 B", "low", "{:.2f}", None),
]


def main():
    raw, out_csv, out_md = sys.argv[1], sys.argv[2], sys.argv[3]
    subst = dict(a.split("=", 1) for a in sys.argv[4:])
    samples = {}
    by_run = {}
    with open(raw) as f:
        for row in csv.reader(f):
            if len(row) != 4 or row[0] == "metric":
                continue
            try:
                v = float(row[3])
            except ValueError:
                continue
            if math.isnan(v):
                continue
            samples.setdefault((row[0], row[1]), []).append(v)
            by_run.setdefault((row[0], row[1]), {})[row[2]] = v

    targets = list(TARGETS)
    has_base = any(t == BASE for _, t in samples)
    if has_base:
        targets.insert([t for t, _ in targets].index("sluice") + 1, (BASE, BASE))

    def base_ratio(m):  # sluice / sluice-base for CPU rows: (ratio of medians, per-run ratios)
        if not (has_base and m.startswith("cpu") and (m, "sluice") in med and (m, BASE) in med
                and med[(m, BASE)] > 0):
            return None
        a, b = by_run[(m, "sluice")], by_run[(m, BASE)]
        runs = [r for r in a if r in b and b[r] > 0]
        return med[(m, "sluice")] / med[(m, BASE)], [a[r] / b[r] for r in runs]

    med = {k: statistics.median(v) for k, v in samples.items()}
    with open(out_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["metric", "label", "target", "median", "runs", "samples"])
        for m, label, *_ in METRICS:
            for t, _ in targets:
                if (m, t) in samples:
                    s = samples[(m, t)]
                    w.writerow([m, label, t, "%.6g" % med[(m, t)], len(s),
                                " ".join("%.6g" % x for x in s)])
            br = base_ratio(m)
            if br:
                w.writerow([m, label, BASE_RATIO, "%.6g" % br[0], len(br[1]),
                            " ".join("%.6g" % x for x in br[1])])

    extra = [" sluice / sluice-base |"] if has_base else []
    lines = ["| | " + " | ".join(l for _, l in targets) + " | sluice / best peer |" + "".join(extra),
             "|---|" + "---:|" * (len(targets) + 1 + len(extra))]
    for m, label, better, fmt, peer_metric in METRICS:
        if not any((m, t) in med for t, _ in targets):
            continue
        for k, v in subst.items():
            label = label.replace(k, v)
        cells = [fmt.format(med[(m, t)]) if (m, t) in med else "—" for t, _ in targets]
        ratio = "—"
        pm = peer_metric or m
        peers = [med[(pm, p)] for p in PEERS if (pm, p) in med]
        if better and peers and (m, "sluice") in med:
            best = max(peers) if better == "high" else min(peers)
            if best > 0:
                ratio = "%.2f×" % (med[(m, "sluice")] / best)
        row = "| " + label + " | " + " | ".join(cells) + " | " + ratio + " |"
        if has_base:
            br = base_ratio(m)
            row += " " + ("%.3f×" % br[0] if br else "—") + " |"
        lines.append(row)
    table = "\n".join(lines) + "\n"
    with open(out_md, "w") as f:
        f.write(table)
    sys.stdout.write(table)


if __name__ == "__main__":
    main()
