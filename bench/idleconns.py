#!/usr/bin/env python3
"""Idle keep-alive connections probe for the sluice benchmark (standard library only).

After --warmup requests on one throwaway connection, reads the proxy's VmRSS (/proc/<pid>/status, summed over --pid values), opens --count client
connections to --proxy one after another, sends one keep-alive GET --path on each and reads its
response completely, leaves them all open and idle, waits --settle seconds, reads VmRSS again and
prints "<rss_before_kib> <rss_after_kib> <kib_per_connection> <connections_open>".

With --tls every connection (the warm-up one too) is HTTPS: a full TLS handshake (Python's ssl
module; verified against --cafile when given, SNI --server-name), then the same keep-alive GET.
The protocol and suite come from OpenSSL's configuration (bench/run.sh pins them through
OPENSSL_CONF); --expect-cipher NAME makes a connection that negotiated another suite an error.

With --silent the connections send nothing at all (the warm-up still makes its requests): what a
connection that connected and said nothing costs, which a slow-loris client multiplies. The
proxy must not close them within --settle (its header timeout is longer).
"""
import argparse
import resource
import socket
import ssl
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
    status = head.split(b"\r\n", 1)[0]
    if status.split()[1:2] != [b"200"]:
        raise OSError("answered %r" % status.decode(errors="replace"))
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
    ap.add_argument("--tls", action="store_true", help="HTTPS: a TLS handshake on each connection")
    ap.add_argument("--cafile", help="--tls: verify the proxy's certificate against this PEM")
    ap.add_argument("--server-name", default="localhost", help="--tls: SNI and the name checked")
    ap.add_argument("--expect-cipher", help="--tls: the suite every connection must negotiate")
    ap.add_argument("--silent", action="store_true",
                    help="connect and send nothing (no request, no TLS handshake): the memory "
                         "of a connection that has sent nothing yet, a slow-loris lever")
    a = ap.parse_args()
    if a.silent and a.tls:
        ap.error("--silent sends nothing, so no TLS handshake either: leave out --tls")

    ctx = None
    if a.tls:
        ctx = ssl.create_default_context(cafile=a.cafile)
        if not a.cafile:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE

    def connect():
        s = socket.create_connection((host, int(port)), timeout=10)
        if ctx is None:
            return s
        t = ctx.wrap_socket(s, server_hostname=a.server_name)
        if a.expect_cipher and t.cipher()[0] != a.expect_cipher:
            raise OSError("negotiated %s %s, not %s" % (t.version(), t.cipher()[0], a.expect_cipher))
        return t

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, a.count + 256) if hard != resource.RLIM_INFINITY else a.count + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    host, port = a.proxy.rsplit(":", 1)
    req = b"GET " + a.path.encode() + b" HTTP/1.1\r\nHost: bench\r\n\r\n"
    if a.warmup:
        w = connect()
        for _ in range(a.warmup):
            w.sendall(req)
            read_response(w)
        w.close()
    time.sleep(a.settle)
    before = rss_kib(a.pid)
    socks = []
    try:
        for _ in range(a.count):
            if a.silent:
                socks.append(socket.create_connection((host, int(port)), timeout=10))
                continue
            s = connect()
            s.sendall(req)
            read_response(s)
            socks.append(s)
    except OSError as e:  # ssl.SSLError included
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
