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

With --accept-encoding CODING (identity, gzip, br or zstd) the client sends "Accept-Encoding:
CODING" and the response must come back with that Content-Encoding (none for identity): else the
probe fails (a message on stderr, "nan nan 0 0", exit status 1). The body is de-chunked (or read
to its Content-Length) and decoded incrementally as it arrives (zlib for gzip; the zstandard and
brotli modules, Debian's python3-zstandard and python3-brotli, for zstd and br, imported only
then), and a chunk's delay ends when its mark comes out of the decoder: the time a client needs
to read the event, decoding included. identity goes through the same de-chunking, so the codings
compare like with like. The line gets three more fields: "<median_ms> <max_ms> <chunks_received>
<chunks_sent> <body_bytes> <decoded_bytes> <median_ms_at_read>": the body as it crossed the wire
(encoded, without the chunked framing) and after decoding, and the median delay taken when the
bytes that held the mark were read from the socket, before unframing and decoding (what the
proxy alone decides). --dump then writes both delays of each chunk: "<ms> <ms_at_read>".
"""
import argparse
import re
import socket
import ssl
import statistics
import sys
import threading
import time
import zlib

MARK = re.compile(rb"T(\d{20})\n")
CODINGS = ("identity", "gzip", "br", "zstd")


class ProbeError(Exception):
    pass


def make_decoder(coding):
    """An incremental decoder for a Content-Encoding: bytes in, every byte decodable so far out."""
    if coding == "identity":
        return bytes
    if coding == "gzip":
        return zlib.decompressobj(wbits=31).decompress
    if coding == "zstd":
        import zstandard  # python3-zstandard
        return zstandard.ZstdDecompressor().decompressobj().decompress
    if coding == "br":
        import brotli  # python3-brotli
        return brotli.Decompressor().process
    raise ProbeError("unknown coding %r" % coding)


class Body:
    """The body of one HTTP/1.1 response after its head: framing removed (chunked, Content-Length
    or up to the close), then decoded. feed() returns the decoded bytes the new data completes."""

    def __init__(self, head, coding):
        lines = head.split(b"\r\n")
        status = lines[0].split()
        if status[1:2] != [b"200"]:
            raise ProbeError("answered %r" % lines[0].decode(errors="replace"))
        fields = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            k = k.strip().lower().decode("latin-1")
            v = v.strip().decode("latin-1")
            fields[k] = fields[k] + ", " + v if k in fields else v
        got = fields.get("content-encoding", "identity").strip().lower()
        if got != coding:
            raise ProbeError("asked for Accept-Encoding: %s, got Content-Encoding: %s"
                             % (coding, fields.get("content-encoding", "(none)")))
        te = fields.get("transfer-encoding", "").lower()
        self.chunked = "chunked" in te
        self.left = None if self.chunked or "content-length" not in fields \
            else int(fields["content-length"])
        self.decode = make_decoder(coding)
        self.buf = b""
        self.need = 0          # chunked: data bytes left in the current chunk
        self.state = "size"    # chunked: size, data, crlf, trailer, done
        self.wire = 0          # body bytes before decoding
        self.decoded = 0
        self.done = False

    def _unframe(self, data):
        if not self.chunked:
            if self.left is not None:
                data = data[:self.left]
                self.left -= len(data)
                self.done = self.left == 0
            return data
        self.buf += data
        out = []
        while True:
            if self.state == "data":
                take = self.buf[:self.need]
                out.append(take)
                self.need -= len(take)
                self.buf = self.buf[len(take):]
                if self.need:
                    break
                self.state = "crlf"
            elif self.state == "crlf":
                if len(self.buf) < 2:
                    break
                if self.buf[:2] != b"\r\n":
                    raise ProbeError("bad chunked framing after a chunk's data")
                self.buf, self.state = self.buf[2:], "size"
            elif self.state == "size":
                i = self.buf.find(b"\r\n")
                if i < 0:
                    break
                size = int(self.buf[:i].split(b";", 1)[0].strip(), 16)
                self.buf = self.buf[i + 2:]
                self.need, self.state = size, "data" if size else "trailer"
            elif self.state == "trailer":
                i = self.buf.find(b"\r\n")
                if i < 0:
                    break
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                if not line:
                    self.state, self.done = "done", True
            else:
                break
        return b"".join(out)

    def feed(self, data):
        body = self._unframe(data)
        self.wire += len(body)
        plain = self.decode(body) if body else b""
        self.decoded += len(plain)
        return plain


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
    ap.add_argument("--accept-encoding", choices=CODINGS, metavar="CODING",
                    help="send this Accept-Encoding (%s), require it as the Content-Encoding and "
                         "time each chunk when it comes out of the decoder" % ", ".join(CODINGS))
    a = ap.parse_args()
    if a.accept_encoding:
        try:
            make_decoder(a.accept_encoding)
        except ImportError as e:
            print("flushdelay: --accept-encoding %s: %s (scripts/install-deps.sh bench installs "
                  "python3-zstandard and python3-brotli)" % (a.accept_encoding, e), file=sys.stderr)
            print("nan nan 0 0")
            return 1

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
    if a.accept_encoding:
        return coded_client(a, c, t, n_chunks, sent)
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


def coded_client(a, c, t, n_chunks, sent):
    """The client of --accept-encoding: the response is unframed and decoded as it arrives, and
    `now` is taken once the decoder has returned what the new bytes complete."""
    c.sendall(b"GET " + a.path.encode() + b" HTTP/1.1\r\nHost: bench\r\nAccept: */*\r\n"
              b"Accept-Encoding: " + a.accept_encoding.encode() + b"\r\n\r\n")
    delays, at_read = [], []
    head = b""
    body = None
    text = b""
    deadline = time.monotonic() + a.duration + 5
    try:
        while len(delays) < n_chunks and time.monotonic() < deadline:
            data = c.recv(65536)
            read_ns = time.monotonic_ns()
            if not data:
                break
            if body is None:
                head += data
                i = head.find(b"\r\n\r\n")
                if i < 0:
                    continue
                body = Body(head[:i], a.accept_encoding)
                data = head[i + 4:]
            text += body.feed(data)
            now = time.monotonic_ns()
            last = 0
            for m in MARK.finditer(text):
                delays.append((now - int(m.group(1))) / 1e6)
                at_read.append((read_ns - int(m.group(1))) / 1e6)
                last = m.end()
            text = text[last:]
            if body.done:
                break
    except ProbeError as e:
        print("flushdelay: %s" % e, file=sys.stderr)
        print("nan nan 0 0")
        c.close()
        return 1
    except Exception as e:  # OSError, and the decoders' errors (zlib.error, zstandard.ZstdError,
        # brotli.error: the last two not importable up front): report what arrived until then
        print("flushdelay: %s: %s: %s" % (a.accept_encoding, type(e).__name__, e), file=sys.stderr)
    c.close()
    t.join(timeout=2)
    if not delays:
        print("nan nan 0 %d" % sent[0])
        return 1
    if a.dump:
        with open(a.dump, "w") as f:
            f.writelines("%.4f %.4f\n" % d for d in zip(delays, at_read))
    print("%.3f %.3f %d %d %d %d %.3f" % (statistics.median(delays), max(delays), len(delays),
                                          sent[0], body.wire, body.decoded,
                                          statistics.median(at_read)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
