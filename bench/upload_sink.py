#!/usr/bin/env python3
"""Upload backend for the sluice benchmark (standard library only).

  upload_sink.py --port P

An HTTP/1.1 backend on 127.0.0.1:P, one thread per connection, keep-alive. For each request it
reads the head, then exactly Content-Length body bytes (recv_into one 1 MiB buffer, discarded),
and only then answers "200 OK" with the number of body bytes it received as the response body, so
the client can check that every byte reached the backend. A request without Content-Length (e.g.
chunked) gets 411 and the connection is closed.

Why not the nginx backend: nginx answers `return 200` as soon as the request head is in and
discards the body afterwards, so a proxy in front of it sees a complete response while the body
is still flowing and may stop forwarding it; the figure would not be an upload's. Answering only
after the last body byte keeps every proxy on the same path.
"""
import argparse
import socket
import threading

BUF = 1 << 20


def content_length(head):
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


def serve(conn):
    view = memoryview(bytearray(BUF))
    pending = b""
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            while b"\r\n\r\n" not in pending:
                d = conn.recv(65536)
                if not d:
                    return
                pending += d
            head, rest = pending.split(b"\r\n\r\n", 1)
            n = content_length(head)
            if n is None:
                conn.sendall(b"HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
                return
            got = min(len(rest), n)
            pending = rest[got:]
            while got < n:
                r = conn.recv_into(view, min(BUF, n - got))
                if r == 0:
                    return
                got += r
            body = b"%d\n" % got
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                         % len(body) + body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(1024)
    try:
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
