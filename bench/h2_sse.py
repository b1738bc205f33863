#!/usr/bin/python3
"""SSE event delay over HTTP/2, alone and next to bulk downloads on the same connection (the
h2streams section of bench/run.sh, issue 13).

  h2_sse.py --target HOST:PORT --path '/events?n=250&every=10&stamp=1' [--h1] [--bulk 20
            --bulk-path /dl] [--deadline S] [--dump FILE]

The upstream is bench/sse_backend.py with stamp=1: each event's data line ends in "T" and 20
digits, time.time_ns() just before the backend wrote it (CLOCK_REALTIME, shared by every process
of the machine). For each event the probe takes the arrival time, time.time_ns() when the socket
read that brought the event's last byte returned, and records arrival minus send.

  default  h2c with prior knowledge to the proxy at --target (bench/h2_wire.py): one SSE stream.
           With --bulk K, K downloads of --bulk-path are opened on the SAME connection first,
           the SSE request goes once each of them has received data, and they are kept running
           (one that finishes is replaced by a new one) until the SSE stream ends, then reset
           (CANCEL). Flow control as h2load's defaults: every stream the protocol's initial
           window of 65,535 bytes (--stream-window), the connection window raised to 16 MiB
           (--conn-window); both returned as the client reads (a quarter window at a time).
           The client reads as fast as it can: a bulk DATA frame costs it one struct.unpack.
  --h1     HTTP/1.1 straight to the backend at --target (the direct path, no proxy): the same
           request, the same timing; --bulk does not apply.

Prints one line: "<median_ms> <p99_ms> <max_ms> <events_received> <events_expected>
<bulk_MB> <bulk_MBps>" (bulk: payload bytes of the downloads while the SSE stream ran, and
their rate); "nan nan nan 0 N 0 0" and exit status 1 when no event arrived. A problem (a status
other than 200, a reset, the deadline) is named on stderr.
"""
import argparse
import math
import re
import socket
import statistics
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True  # no bench/__pycache__ from importing h2_wire
import h2_wire  # noqa: E402

MARK = re.compile(rb"T(\d{20})\n")


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100.0 * len(s)) - 1))]


class Marks:
    """Collects the stamps of a byte stream that may split an event across reads."""

    def __init__(self):
        self.buf = b""
        self.delays = []

    def feed(self, data, now):
        self.buf += data
        last = 0
        for m in MARK.finditer(self.buf):
            self.delays.append((now - int(m.group(1))) / 1e6)
            last = m.end()
        if last:
            self.buf = self.buf[last:]
        elif len(self.buf) > 4096:
            self.buf = self.buf[-64:]


def run_h1(a, expected, marks):
    host, port = h2_wire.parse_target(a.target)
    try:
        c = socket.create_connection((host, port), timeout=5)
    except OSError as e:
        print("h2_sse: direct: %s: %s" % (a.target, e), file=sys.stderr)
        return 0, 0.0
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.sendall(b"GET " + a.path.encode() + b" HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream"
              b"\r\n\r\n")
    deadline = time.monotonic() + a.deadline
    head, in_body = b"", False
    try:
        while len(marks.delays) < expected and time.monotonic() < deadline:
            c.settimeout(max(0.01, min(1.0, deadline - time.monotonic())))
            try:
                data = c.recv(65536)
            except socket.timeout:
                continue
            now = time.time_ns()
            if not data:
                break
            if not in_body:
                head += data
                i = head.find(b"\r\n\r\n")
                if i < 0:
                    continue
                if not head.startswith(b"HTTP/1.1 200"):
                    print("h2_sse: direct: %r" % head.split(b"\r\n", 1)[0], file=sys.stderr)
                    break
                data, in_body = head[i + 4:], True
            marks.feed(data, now)
    except OSError as e:
        print("h2_sse: direct: %s" % e, file=sys.stderr)
    c.close()
    return 0, 0.0


def run_h2(a, expected, marks):
    host, port = h2_wire.parse_target(a.target)
    try:
        conn = h2_wire.Conn(host, port, stream_window=a.stream_window, conn_window=a.conn_window)
    except OSError as e:
        print("h2_sse: %s: %s" % (a.target, e), file=sys.stderr)
        return 0, 0.0
    deadline = time.monotonic() + a.deadline
    bulk = []
    bulk_bytes = 0
    started = 0
    try:
        for _ in range(a.bulk):
            bulk.append(conn.request(a.bulk_path))
            started += 1
        # Let every download get going (each has received data) before the SSE stream opens.
        warm = time.monotonic() + 3
        while bulk and not all(s.received for s in bulk) and time.monotonic() < warm:
            conn.pump(deadline)
        sse = conn.request(a.path, on_data=lambda s, mv, now: marks.feed(bytes(mv), now),
                           extra=(("accept", "text/event-stream"),))
        t0 = time.monotonic()
        b0 = sum(s.received for s in bulk)
        while not sse.ended and sse.reset is None and time.monotonic() < deadline:
            conn.pump(deadline)
            if conn.goaway is not None and conn.goaway[0] < sse.id:
                break
            for i, s in enumerate(bulk):
                if s.ended or s.reset is not None:
                    if s.status != 200 or s.reset is not None:
                        print("h2_sse: bulk stream %d: status %s, reset %s" % (
                            s.id, s.status, h2_wire.error_name(s.reset)), file=sys.stderr)
                    if started < 100000:
                        bulk_bytes += s.received
                        bulk[i] = conn.request(a.bulk_path)
                        started += 1
        elapsed = time.monotonic() - t0
        bulk_bytes += sum(s.received for s in bulk) - b0
        if sse.status != 200:
            print("h2_sse: SSE stream: status %s" % sse.status, file=sys.stderr)
        if sse.reset is not None:
            print("h2_sse: SSE stream reset: %s" % h2_wire.error_name(sse.reset), file=sys.stderr)
        if conn.goaway is not None:
            print("h2_sse: GOAWAY %s last stream %d" % (h2_wire.error_name(conn.goaway[1]),
                                                        conn.goaway[0]), file=sys.stderr)
        if not sse.ended and time.monotonic() >= deadline:
            print("h2_sse: deadline: %d of %d events" % (len(marks.delays), expected),
                  file=sys.stderr)
        for s in bulk:
            if not s.ended and s.reset is None:
                conn.reset(s.id)
    except (h2_wire.ConnectionGone, OSError) as e:
        print("h2_sse: connection: %s" % e, file=sys.stderr)
        elapsed = max(1e-9, time.monotonic() - deadline + a.deadline)
    conn.close()
    return bulk_bytes, elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True, help="HOST:PORT of the proxy (or with --h1 the "
                    "backend)")
    ap.add_argument("--path", required=True, help="the SSE path, with n=N&every=MS&stamp=1")
    ap.add_argument("--h1", action="store_true", help="HTTP/1.1 to the backend: the direct path")
    ap.add_argument("--bulk", type=int, default=0, help="downloads on the same h2 connection")
    ap.add_argument("--bulk-path", default="/dl")
    ap.add_argument("--stream-window", type=int, default=65535)
    ap.add_argument("--conn-window", type=int, default=16 << 20)
    ap.add_argument("--deadline", type=float, default=30, help="seconds for the whole probe")
    ap.add_argument("--dump", help="write every delay (ms), one per line")
    a = ap.parse_args()
    q = urllib.parse.parse_qs(a.path.partition("?")[2])
    expected = int(q.get("n", ["100"])[0])
    marks = Marks()
    if a.h1:
        bulk_bytes, elapsed = run_h1(a, expected, marks)
    else:
        bulk_bytes, elapsed = run_h2(a, expected, marks)
    d = marks.delays
    if a.dump:
        with open(a.dump, "w") as f:
            f.writelines("%.4f\n" % x for x in d)
    mb = bulk_bytes / 1e6
    if not d:
        print("nan nan nan 0 %d %.1f %.1f" % (expected, mb, mb / elapsed if elapsed else 0))
        return 1
    print("%.3f %.3f %.3f %d %d %.1f %.1f" % (statistics.median(d), pct(d, 99), max(d), len(d),
                                              expected, mb, mb / elapsed if elapsed else 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
