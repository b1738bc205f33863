#!/usr/bin/env python3
"""Slow SSE servers for the fleet section of bench/run.sh (standard library only).

One process listens on several loopback ports; each port is a server of its own with its own
count of open streams:

  GET /events...?n=N&every=MS   200 text/event-stream, chunked: N events "id: K\\ndata: event K"
                                (K = 0..N-1), event K sent K*MS ms after the head, then after
                                N*MS ms "event: end\\ndata: N" and the last chunk. Defaults:
                                n=100, every=100. With &stamp=1 each event's data line ends in
                                " T" and 20 digits: time.time_ns() (CLOCK_REALTIME, shared by
                                every process of the machine) taken just before the event is
                                written, for the delay probes of bench/h2_sse.py.
  GET /count                    the number of /events streams open on this port now (plain
                                text): a stream counts from its request to its last chunk.
  GET /healthz                  200 ok

Keep-alive: a connection serves requests until the peer closes it (or sends Connection: close).

  sse_backend.py --ports 9001,9002,9003,9004
"""
import argparse
import asyncio
import signal
import time
import urllib.parse

HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n")


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def plain(status: str, body: bytes, close: bool) -> bytes:
    return (b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: text/plain\r\nContent-Length: "
            + str(len(body)).encode() + (b"\r\nConnection: close" if close else b"")
            + b"\r\n\r\n" + body)


class Server:
    def __init__(self):
        self.active = 0

    async def events(self, writer, query):
        q = urllib.parse.parse_qs(query)
        n = int(q.get("n", ["100"])[0])
        every = int(q.get("every", ["100"])[0]) / 1000.0
        stamp = q.get("stamp", ["0"])[0] == "1"
        loop = asyncio.get_running_loop()
        self.active += 1
        try:
            writer.write(HEAD)
            t0 = loop.time()
            for k in range(n):
                # Absolute schedule: a late tick does not push the later ones back.
                delay = t0 + k * every - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if stamp:
                    writer.write(chunk(b"id: %d\ndata: event %d T%020d\n\n" % (k, k, time.time_ns())))
                else:
                    writer.write(chunk(b"id: %d\ndata: event %d\n\n" % (k, k)))
                await writer.drain()
            delay = t0 + n * every - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(chunk(b"event: end\ndata: %d\n\n" % n) + b"0\r\n\r\n")
            await writer.drain()
        finally:
            self.active -= 1

    async def handle(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                parts = line.split(" ")
                if len(parts) != 3:
                    writer.write(plain("400 Bad Request", b"bad request line\n", True))
                    await writer.drain()
                    return
                close = b"\r\nconnection: close" in head.lower()
                path, _, query = parts[1].partition("?")
                if path.startswith("/events"):
                    await self.events(writer, query)
                elif path == "/count":
                    writer.write(plain("200 OK", b"%d\n" % self.active, close))
                elif path == "/healthz":
                    writer.write(plain("200 OK", b"ok\n", close))
                else:
                    writer.write(plain("404 Not Found", b"not found\n", close))
                await writer.drain()
                if close:
                    return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        except asyncio.CancelledError:  # the process is stopping: end quietly
            pass
        finally:
            writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", required=True, help="comma-separated loopback ports")
    args = ap.parse_args()
    servers = []
    for port in args.ports.split(","):
        s = Server()
        servers.append(await asyncio.start_server(s.handle, "127.0.0.1", int(port), backlog=4096))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


if __name__ == "__main__":
    asyncio.run(main())
