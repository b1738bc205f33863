#!/usr/bin/env python3
"""Idle keep-alive connections probe for the sluice benchmark (standard library only).

After --warmup requests on one throwaway connection, reads the proxy's VmRSS (/proc/<pid>/status, summed over --pid values), opens --count client
connections to --proxy one after another, sends one keep-alive GET --path on each and reads its
response completely, leaves them all open and idle, waits --settle seconds, reads VmRSS again and
prints "<rss_before_kib> <rss_after_kib> <kib_per_connection> <connections_open>".
"""
import argparse
import resource
import socket
import sys
import time


def rss_kib(pids):
    total = 0
    for pid in pids:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def read_response(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise OSError("closed before the response head")
        buf += d
    head, body = buf.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(body) < length:
        d = s.recv(65536)
        if not d:
            raise OSError("closed before the body ended")
        body += d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proxy", required=True)
    ap.add_argument("--pid", type=int, action="append", required=True)
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--path", default="/small")
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--warmup", type=int, default=10,
                    help="requests on one throwaway connection before the first RSS reading")
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, a.count + 256) if hard != resource.RLIM_INFINITY else a.count + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    host, port = a.proxy.rsplit(":", 1)
    req = b"GET " + a.path.encode() + b" HTTP/1.1\r\nHost: bench\r\n\r\n"
    if a.warmup:
        w = socket.create_connection((host, int(port)), timeout=10)
        for _ in range(a.warmup):
            w.sendall(req)
            read_response(w)
        w.close()
    time.sleep(a.settle)
    before = rss_kib(a.pid)
    socks = []
    try:
        for _ in range(a.count):
            s = socket.create_connection((host, int(port)), timeout=10)
            s.sendall(req)
            read_response(s)
            socks.append(s)
    except OSError as e:
        print("idleconns: stopped after %d connections: %s" % (len(socks), e), file=sys.stderr)
    time.sleep(a.settle)
    after = rss_kib(a.pid)
    n = len(socks)
    per = (after - before) / n if n else float("nan")
    print("%d %d %.3f %d" % (before, after, per, n))
    for s in socks:
        s.close()
    return 0 if n == a.count else 1


if __name__ == "__main__":
    sys.exit(main())
