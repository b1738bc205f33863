#!/usr/bin/env python3
"""A slow, counting HTTP/1.1 backend for the rapid-reset row of the h2streams section of
bench/run.sh (issue 13); standard library only.

  h2_count_backend.py --port P [--delay-ms 50]

  GET /count      "<attack> <good> <other> <open>": the requests received so far whose path
                  starts with /attack, with /good, any other, and the connections open now
                  (plain text, at once, not counted)
  anything else   counted when its head has arrived (before the delay), then after --delay-ms
                  answered 200 "ok\\n" (Content-Length): slow enough that the streams a client
                  reset are still in flight at the proxy

Keep-alive: a connection serves requests until the peer closes it or sends Connection: close. A
peer that goes away during the delay is fine (its request still counts).
"""
import argparse
import asyncio
import signal

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"
OK_CLOSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
            b"Connection: close\r\n\r\nok\n")


class Backend:
    def __init__(self, delay):
        self.delay = delay
        self.counts = {"attack": 0, "good": 0, "other": 0}
        self.open = 0

    async def handle(self, reader, writer):
        self.open += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                parts = head.split(b"\r\n", 1)[0].split(b" ")
                path = parts[1] if len(parts) == 3 else b""
                close = b"\r\nconnection: close" in head.lower()
                if path == b"/count":
                    body = b"%d %d %d %d\n" % (self.counts["attack"], self.counts["good"],
                                               self.counts["other"], self.open)
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                else:
                    kind = ("attack" if path.startswith(b"/attack") else
                            "good" if path.startswith(b"/good") else "other")
                    self.counts[kind] += 1
                    await asyncio.sleep(self.delay)
                    writer.write(OK_CLOSE if close else OK)
                await writer.drain()
                if close:
                    return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        except asyncio.CancelledError:  # the process is stopping: end quietly
            pass
        finally:
            self.open -= 1
            writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, default=50)
    a = ap.parse_args()
    b = Backend(a.delay_ms / 1000.0)
    server = await asyncio.start_server(b.handle, "127.0.0.1", a.port, backlog=4096)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
