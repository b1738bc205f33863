#!/usr/bin/env python3
"""Prometheus scrapes for the observability section of the sluice benchmark (standard library).

  promhist.py scrape URL FILE              save one /metrics scrape (with its time) to FILE
  promhist.py quantiles NAME BEFORE AFTER  quantiles 0.5 and 0.99 (ms) and the count of the
                                           histogram NAME between two scrapes
  promhist.py series DIR OUT.tsv           one row per consecutive pair of scrapes in DIR:
                                           time, requests/s, active requests, added-latency
                                           p50 and p99 (ms) over that interval

Quantiles interpolate linearly inside the bucket, as PromQL's histogram_quantile does.
"""
import os
import re
import sys
import time
import urllib.request

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if m:
            labels = dict(LABEL.findall(m.group(2) or ""))
            out.append((m.group(1), labels, float(m.group(3))))
    return out


def load(path):
    with open(path) as f:
        first, _, rest = f.read().partition("\n")
    return float(first), parse(rest)


def buckets(samples, name):
    """Cumulative counts by upper bound, summed over every series of the histogram."""
    acc = {}
    for n, labels, v in samples:
        if n == name + "_bucket":
            le = float(labels["le"])
            acc[le] = acc.get(le, 0.0) + v
    return sorted(acc.items())


def total(samples, name):
    return sum(v for n, _, v in samples if n == name)


def quantile(q, cum):
    """cum: [(upper_bound_seconds, cumulative_count)], +Inf last. Seconds, or nan."""
    if not cum or cum[-1][1] <= 0:
        return float("nan")
    rank = q * cum[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in cum:
        if count >= rank:
            if bound == float("inf"):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 0)
        lower, below = bound, count
    return lower


def delta(after, before):
    b = dict(before)
    return [(le, c - b.get(le, 0.0)) for le, c in after]


def main(argv):
    if argv[1] == "scrape":
        with urllib.request.urlopen(argv[2], timeout=5) as r:
            body = r.read().decode()
        with open(argv[3], "w") as f:
            f.write("%.6f\n%s" % (time.time(), body))
        return 0
    if argv[1] == "quantiles":
        name = argv[2]
        _, before = load(argv[3])
        _, after = load(argv[4])
        d = delta(buckets(after, name), buckets(before, name))
        print("%.3f %.3f %d" % (quantile(0.5, d) * 1e3, quantile(0.99, d) * 1e3, d[-1][1] if d else 0))
        return 0
    if argv[1] == "series":
        files = sorted(os.path.join(argv[2], f) for f in os.listdir(argv[2]))
        scrapes = [load(f) for f in files]
        t0 = scrapes[0][0]
        with open(argv[3], "w") as out:
            out.write("t\trps\tactive\tp50_ms\tp99_ms\n")
            for (ta, a), (tb, b) in zip(scrapes, scrapes[1:]):
                dt = tb - ta
                rps = (total(b, "sluice_requests_total") - total(a, "sluice_requests_total")) / dt
                d = delta(buckets(b, "sluice_added_latency_seconds"),
                          buckets(a, "sluice_added_latency_seconds"))
                out.write("%.2f\t%.0f\t%d\t%.4f\t%.4f\n" % (
                    tb - t0, rps, total(b, "sluice_active_requests"),
                    quantile(0.5, d) * 1e3, quantile(0.99, d) * 1e3))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
