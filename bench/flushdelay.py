#!/usr/bin/env python3
"""Flush-delay probe for the sluice benchmark (standard library only).

One process runs both ends:
  * an upstream on 127.0.0.1:--upstream-port that answers each request with a response of known
    length (Content-Length) and writes one small chunk every --interval seconds for --duration
    seconds; each chunk carries time.monotonic_ns() taken just before it is sent;
  * a client that sends GET --path to the proxy at --proxy and records, for every chunk, the
    delay between the upstream's send time and the moment the client received it.
Both ends use the same monotonic clock, so the delays need no synchronisation.
Prints one line: "<median_ms> <max_ms> <chunks_received> <chunks_sent>"; --dump FILE also
writes every delay (ms), one per line.

With --tls the client speaks HTTPS to the proxy (Python's ssl module; verified against --cafile
when given, SNI --server-name); the handshake is done before the request is sent, so it is not
in any delay, which is measured after decryption. The upstream stays cleartext. The protocol and
suite come from OpenSSL's configuration (bench/run.sh pins them through OPENSSL_CONF);
--expect-cipher NAME fails the probe if another suite was negotiated.
"""
import argparse
import re
import socket
import ssl
import statistics
import sys
import threading
import time

MARK = re.compile(rb"T(\d{20})\n")


def upstream(sock, n_chunks, interval, sse, ready, sent):
    ready.set()
    conn, _ = sock.accept()
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(10)
        req = b""
        while b"\r\n\r\n" not in req:
            data = conn.recv(65536)
            if not data:
                return
            req += data
        prefix, suffix = (b"data: ", b"\n") if sse else (b"", b"")
        chunk_len = len(prefix) + 22 + len(suffix)
        ctype = b"text/event-stream" if sse else b"text/plain"
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype +
                b"\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Length: " +
                str(chunk_len * n_chunks).encode() + b"\r\n\r\n")
        conn.sendall(head)
        start = time.monotonic()
        for i in range(n_chunks):
            target = start + (i + 1) * interval
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            payload = prefix + b"T%020d\n" % time.monotonic_ns() + suffix
            try:
                conn.sendall(payload)
            except OSError:
                return
            sent[0] += 1
        time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--proxy", required=True, help="host:port the client connects to")
    ap.add_argument("--path", default="/flush/stream")
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--duration", type=float, default=2.0)
    ap.add_argument("--sse", action="store_true", help="answer as text/event-stream")
    ap.add_argument("--tls", action="store_true", help="HTTPS between the client and the proxy")
    ap.add_argument("--cafile", help="--tls: verify the proxy's certificate against this PEM")
    ap.add_argument("--server-name", default="localhost", help="--tls: SNI and the name checked")
    ap.add_argument("--expect-cipher", help="--tls: the suite the connection must negotiate")
    ap.add_argument("--dump", help="write every delay (ms) to this file, one per line")
    a = ap.parse_args()

    n_chunks = int(round(a.duration / a.interval))
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", a.upstream_port))
    lsock.listen(16)
    ready, sent = threading.Event(), [0]
    t = threading.Thread(target=upstream, args=(lsock, n_chunks, a.interval, a.sse, ready, sent),
                         daemon=True)
    t.start()
    ready.wait()

    host, port = a.proxy.rsplit(":", 1)
    delays = []
    c = socket.create_connection((host, int(port)), timeout=10)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if a.tls:
        ctx = ssl.create_default_context(cafile=a.cafile)
        if not a.cafile:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        try:
            c = ctx.wrap_socket(c, server_hostname=a.server_name)
        except OSError as e:
            print("flushdelay: TLS handshake: %s" % e, file=sys.stderr)
            print("nan nan 0 0")
            return 1
        if a.expect_cipher and c.cipher()[0] != a.expect_cipher:
            print("flushdelay: negotiated %s %s, not %s" % (c.version(), c.cipher()[0],
                                                            a.expect_cipher), file=sys.stderr)
            print("nan nan 0 0")
            return 1
    c.sendall(b"GET " + a.path.encode() + b" HTTP/1.1\r\nHost: bench\r\nAccept: */*\r\n\r\n")
    buf = b""
    in_body = False
    deadline = time.monotonic() + a.duration + 5
    try:
        while len(delays) < n_chunks and time.monotonic() < deadline:
            data = c.recv(65536)
            now = time.monotonic_ns()
            if not data:
                break
            buf += data
            if not in_body:
                i = buf.find(b"\r\n\r\n")
                if i < 0:
                    continue
                buf, in_body = buf[i + 4:], True
            last = 0
            for m in MARK.finditer(buf):
                delays.append((now - int(m.group(1))) / 1e6)
                last = m.end()
            buf = buf[last:]
    except OSError as e:
        print("flushdelay: %s" % e, file=sys.stderr)
    c.close()
    t.join(timeout=2)
    if not delays:
        print("nan nan 0 %d" % sent[0])
        return 1
    if a.dump:
        with open(a.dump, "w") as f:
            f.writelines("%.4f\n" % d for d in delays)
    print("%.3f %.3f %d %d" % (statistics.median(delays), max(delays), len(delays), sent[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
