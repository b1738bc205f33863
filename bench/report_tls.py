#!/usr/bin/env python3
"""The TLS table of bench/run.sh's tls section (bench/tls.sh), from raw.csv (standard library only).

  report_tls.py RAW_CSV RESULTS_CSV OUT_MD [KEY=VALUE...]

Reads the rows "metric,target,run,value" of the tls section from RAW_CSV, appends one row per
metric and target ("metric,label,target,median,runs,samples", as bench/report.py writes them) to
RESULTS_CSV, and writes OUT_MD: a heading and one Markdown table of the medians per proxy, with
sluice / nginx (the issue's reference for handshakes, the download and idle memory) and sluice /
best peer. The row "flush delay median, TLS − cleartext" is derived per target: the median TLS
delay minus the median cleartext delay measured in the same passes (its samples in RESULTS_CSV:
run i's TLS minus run i's cleartext). KEY=VALUE pairs replace KEY in the labels. Writes an empty
OUT_MD when there is no TLS sample. The table is also printed.
"""
import csv
import math
import statistics
import sys

TARGETS = [("nginx", "nginx"), ("haproxy", "HAProxy"), ("haproxy-nodelay", "HAProxy http-no-delay"),
           ("sluice", "sluice"), ("sluice-base", "sluice-base")]
PEERS = ["nginx", "haproxy", "haproxy-nodelay"]

# metric, label, better ("low"/"high"/None: no ratio), format
METRICS = [
    ("rps_tls_13", "HTTPS req/s, 13 B (keep-alive)", "high", "{:,.0f}"),
    ("rps_tls_64k", "HTTPS req/s, 64 KiB (keep-alive)", "high", "{:,.0f}"),
    ("cpu_tls_13", "HTTPS CPU µs/req, 13 B", "low", "{:.2f}"),
    ("cpu_tls_64k", "HTTPS CPU µs/req, 64 KiB", "low", "{:.2f}"),
    ("hs_new", "new TLS handshakes/s (s_time -new, one client)", "high", "{:,.0f}"),
    ("hs_new_cpu", "CPU µs per new handshake (+ its GET /small)", "low", "{:.1f}"),
    ("hs_reuse", "resumed TLS handshakes/s (s_time -reuse, one client)", "high", "{:,.0f}"),
    ("hs_reuse_cpu", "CPU µs per resumed handshake (+ its GET /small)", "low", "{:.1f}"),
    ("hs_reuse_resumed_pct", "share of s_time -reuse connections resumed, %", None, "{:.1f}"),
    ("tls_dl_mbps", "TLS download MB/s (DL_SIZE)", "high", "{:,.0f}"),
    ("tls_dl_rss_mib", "TLS download peak RSS, MiB (VmHWM)", "low", "{:.1f}"),
    ("tls_idle_kib", "RSS per idle TLS keep-alive connection, KiB (IDLE_N conns)", "low", "{:.2f}"),
    ("flush_med_clear", "flush delay median, ms, cleartext (sluice: --flush-interval -1)", "low", "{:.3f}"),
    ("flush_med_tls", "flush delay median, ms, TLS (sluice: --flush-interval -1)", "low", "{:.3f}"),
    ("flush_tls_minus_clear", "flush delay median, TLS − cleartext, ms", None, "{:+.3f}"),
    ("flush_max_clear", "flush delay max, ms, cleartext", "low", "{:.3f}"),
    ("flush_max_tls", "flush delay max, ms, TLS", "low", "{:.3f}"),
]
DERIVED = {"flush_tls_minus_clear": ("flush_med_tls", "flush_med_clear")}


def main():
    raw, out_csv, out_md = sys.argv[1], sys.argv[2], sys.argv[3]
    subst = dict(a.split("=", 1) for a in sys.argv[4:])
    wanted = {m for m, *_ in METRICS}
    by_run = {}
    with open(raw) as f:
        for row in csv.reader(f):
            if len(row) != 4 or row[0] not in wanted:
                continue
            try:
                v = float(row[3])
            except ValueError:
                continue
            if not math.isnan(v):
                by_run.setdefault((row[0], row[1]), {})[row[2]] = v
    samples = {k: list(v.values()) for k, v in by_run.items()}
    med = {k: statistics.median(v) for k, v in samples.items()}
    for m, (a, b) in DERIVED.items():   # per target: median(a) - median(b); samples per run
        for t, _ in TARGETS:
            if (a, t) in med and (b, t) in med:
                med[(m, t)] = med[(a, t)] - med[(b, t)]
                ra, rb = by_run[(a, t)], by_run[(b, t)]
                samples[(m, t)] = [ra[r] - rb[r] for r in ra if r in rb]

    if not med:
        open(out_md, "w").close()
        return
    targets = [(t, l) for t, l in TARGETS if any(k[1] == t for k in med)]

    with open(out_csv, "a", newline="") as f:
        w = csv.writer(f)
        for m, label, *_ in METRICS:
            for t, _ in targets:
                if (m, t) in med:
                    s = samples[(m, t)]
                    w.writerow([m, label, t, "%.6g" % med[(m, t)], len(s),
                                " ".join("%.6g" % x for x in s)])

    lines = ["| over TLS | " + " | ".join(l for _, l in targets) + " | sluice / nginx | sluice / best peer |",
             "|---|" + "---:|" * (len(targets) + 2)]
    for m, label, better, fmt in METRICS:
        if not any((m, t) in med for t, _ in targets):
            continue
        for k, v in subst.items():
            label = label.replace(k, v)
        cells = [fmt.format(med[(m, t)]) if (m, t) in med else "—" for t, _ in targets]
        vs_nginx = vs_best = "—"
        s = med.get((m, "sluice"))
        if better and s is not None:
            if med.get((m, "nginx"), 0) > 0:
                vs_nginx = "%.2f×" % (s / med[(m, "nginx")])
            peers = [med[(m, p)] for p in PEERS if (m, p) in med]
            best = (max(peers) if better == "high" else min(peers)) if peers else 0
            if best > 0:
                vs_best = "%.2f×" % (s / best)
        lines.append("| " + label + " | " + " | ".join(cells) + " | " + vs_nginx + " | " + vs_best + " |")
    table = "\n".join(lines) + "\n"
    with open(out_md, "w") as f:
        f.write("\nOver TLS (TLS 1.3, TLS_AES_128_GCM_SHA256, X25519, one ECDSA P-256 certificate; "
                "bench/tls.sh):\n\n" + table)
    sys.stdout.write(table)


if __name__ == "__main__":
    main()
