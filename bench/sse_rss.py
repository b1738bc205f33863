#!/usr/bin/env python3
"""Memory per open SSE stream, compressed or not: the compression section of bench/run.sh.

  sse_rss.py serve --port P
      The SSE upstream. GET /events?every=MS&n=N answers 200 text/event-stream, chunked, with N
      events (default: 100000, i.e. until the client leaves) of LLM-token-like JSON, about 190
      bytes each ("data: {"id":"chatcmpl-...","choices":[{"delta":{"content":" word"}...}]}"),
      the first at the next 10 ms tick and then one every MS ms (default 100) on an absolute
      schedule; the words come from a seeded generator per stream, so streams differ and compress
      as text does. One 10 ms timer serves every stream (a heap of due times), so a thousand
      streams cost a hundred wake-ups a second rather than ten thousand. The protocol, the
      keep-alive and the timer are bench/sse_server.py's (shared with sse_fanout.py serve).

  sse_rss.py streams --proxy HOST:PORT --pid PID --count N --accept-encoding CODING
      The clients. First one warm-up stream (a few events, read to its end, then closed), then
      after --settle s it reads the proxy's VmRSS (/proc/PID/status), opens --count streams at
      --rate per second, each "GET /events?every=MS" with "Accept-Encoding: CODING" (identity,
      gzip, br or zstd); every response must be 200 with that Content-Encoding (none for
      identity). Each body is de-chunked and decoded incrementally as it arrives (flushdelay.py's
      Body: zlib, python3-zstandard, python3-brotli) and its events are counted. Once every
      stream has had its first event it waits --settle s while the events flow, reads VmRSS
      again and prints one line:
          rss_before_kib rss_after_kib kib_per_stream streams_open stalled wire_bytes_per_event
          cpu_us_per_event
      where a stream is stalled if it got fewer than half the events due during the settle
      window (a compressor that held events back would show here), the bytes per event are the
      encoded body bytes (without the chunked framing) over the events decoded, and the CPU is
      the proxy's (utime + stime from /proc/PID/stat) during the settle window over the events
      the clients received in it. Then it closes every stream. Exit status 1 if a stream failed,
      stalled or was refused.

  sse_rss.py cpu --target CODING:PORT:PID [--target ...] --count N --window S
      The same streams, --count to each target at once (opened in turn), so that every proxy
      process is measured over the same --window s of the machine's life: its CPU over the
      events its clients received then. One line per target:
          coding cpu_us_per_event streams_open stalled wire_bytes_per_event
Failures are described on stderr (the first few).
"""
import argparse
import asyncio
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flushdelay import Body, ProbeError, make_decoder  # noqa: E402
from sse_server import SSEStream, raise_nofile, serve as serve_streams  # noqa: E402

WORDS = ("the quick brown fox jumps over a lazy dog while streaming tokens from the model to "
         "every client that asked for them and the proxy must never hold one back because "
         "compression should change the size and never the timing of an event").split()


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    """utime + stime of the process, all its threads, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ------------------------------------------------------------------------------------- upstream
TICK = 0.01   # events go out on 10 ms ticks: one wake-up per tick for all the streams


class UpstreamStream(SSEStream):
    """One connection's streams (bench/sse_server.py's protocol): LLM-token-like events."""
    HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    DEFAULT_N = 100000

    def __init__(self, scheduler):
        super().__init__(scheduler)
        self.rng = random.Random(self.id)

    def event(self, k):
        word = " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(1, 3)))
        return (b'id: %d\ndata: {"id":"chatcmpl-%06d","object":"chat.completion.chunk",'
                b'"created":%d,"model":"bench-1","choices":[{"index":0,"delta":{"content":" %s"},'
                b'"finish_reason":null}]}\n\n'
                % (k, self.id, 1700000000 + k // 10, word.encode()))


async def serve(a):
    await serve_streams(UpstreamStream, a.port, a.max_streams, TICK)


# -------------------------------------------------------------------------------------- clients
class ClientStream(asyncio.BufferedProtocol):
    """One stream. A BufferedProtocol reads into a small buffer of its own: the plain Protocol's
    256 KiB bytes object per read costs an mmap, mremap and munmap each time, three times the
    system calls of the read itself, a thousand streams ten times a second."""

    def __init__(self, request, coding, first, failed):
        self.rbuf = memoryview(bytearray(16384))
        self.request, self.coding, self.first, self.failed = request, coding, first, failed
        self.head, self.body, self.events, self.carry = b"", None, 0, b""
        self.transport = None
        self.error = ""
        self.closing = False   # closed by us: not a failure

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def fail(self, why):
        if not self.error:
            self.error = why
            self.failed.append(why)
            if not self.first.done():
                self.first.set_result(False)
        if self.transport:
            self.transport.close()

    def get_buffer(self, sizehint):
        return self.rbuf

    def buffer_updated(self, nbytes):
        self.data_received(bytes(self.rbuf[:nbytes]))

    def data_received(self, data):
        try:
            if self.body is None:
                self.head += data
                i = self.head.find(b"\r\n\r\n")
                if i < 0:
                    return
                self.body = Body(self.head[:i], self.coding)
                data = self.head[i + 4:]
            text = self.carry + self.body.feed(data)
        except ProbeError as e:
            self.fail(str(e))
            return
        except Exception as e:  # the decoders' errors
            self.fail("%s: %s: %s" % (self.coding, type(e).__name__, e))
            return
        self.events += text.count(b"\n\n")
        self.carry = text[-1:]
        if self.events and not self.first.done():
            self.first.set_result(True)
        if self.body.done and not self.closing:
            self.fail("the stream ended early")

    def connection_lost(self, exc):
        if not self.error and not self.closing:
            self.fail("closed by the proxy: %s" % (exc or "EOF"))


async def open_stream(loop, host, port, request, coding, failed):
    first = loop.create_future()
    try:
        _, proto = await loop.create_connection(
            lambda: ClientStream(request, coding, first, failed), host, port)
    except OSError as e:
        failed.append("connect: %s" % e)
        return None
    return proto


class Target:
    """One proxy process and the coding its streams ask for."""

    def __init__(self, coding, host, port, pid):
        self.coding, self.host, self.port, self.pid = coding, host, int(port), pid
        self.clients, self.failed = [], []

    def request(self, path):
        return (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream"
                b"\r\nAccept-Encoding: " + self.coding.encode() + b"\r\n\r\n")


async def warm_up(loop, t):
    """One short stream read to its end (the head parsed, the coder created and freed)."""
    warm = await open_stream(loop, t.host, t.port, t.request("/events?every=20&n=5"), t.coding,
                             t.failed)
    if warm is None:
        return
    warm.closing = True   # its end is expected
    deadline = time.monotonic() + 5
    while not warm.body or not warm.body.done:
        if warm.error or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    warm.transport.close()


async def measure(a, targets, count_each, settle_before, window):
    """Opens count_each streams to every target (in turn, a.rate per second in all), waits for
    every first event, then measures each target's process over `window` s of events. Returns a
    dict per target."""
    raise_nofile(count_each * len(targets) + 256)
    loop = asyncio.get_running_loop()
    for t in targets:
        await warm_up(loop, t)
        if t.failed:
            return None
    await asyncio.sleep(settle_before)
    before = [rss_kib(t.pid) for t in targets]
    t0 = time.monotonic()
    for i in range(count_each * len(targets)):
        delay = t0 + i / a.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t = targets[i % len(targets)]
        c = await open_stream(loop, t.host, t.port, t.request("/events?every=%d" % a.every_ms),
                              t.coding, t.failed)
        if c is not None:
            t.clients.append(c)
    firsts = [c.first for t in targets for c in t.clients]
    if firsts:
        await asyncio.wait(firsts, timeout=10)
    counts = [[c.events for c in t.clients] for t in targets]
    cpu0, w0 = [cpu_ticks(t.pid) for t in targets], time.monotonic()
    await asyncio.sleep(window)
    cpu1, w1 = [cpu_ticks(t.pid) for t in targets], time.monotonic()
    after = [rss_kib(t.pid) for t in targets]
    due = window * 1000 / a.every_ms
    results = []
    for k, t in enumerate(targets):
        settled = sum(c.events - n for c, n in zip(t.clients, counts[k]) if not c.error)
        stalled = [(i, n, c.events) for i, (c, n) in enumerate(zip(t.clients, counts[k]))
                   if not c.error and c.events - n < due / 2]
        open_now = sum(1 for c in t.clients if not c.error)
        wire = sum(c.body.wire for c in t.clients if c.body)
        events = sum(c.events for c in t.clients)
        cpu_s = (cpu1[k] - cpu0[k]) / CLK_TCK
        results.append({
            "before": before[k], "after": after[k], "open": open_now, "stalled": len(stalled),
            "per": (after[k] - before[k]) / open_now if open_now else float("nan"),
            "bytes": wire / events if events else float("nan"),
            "cpu_us": cpu_s * 1e6 / settled if settled else float("nan"),
            "ok": open_now == count_each and not stalled and not t.failed})
        if t.failed:
            print("sse_rss: %s: %d stream(s) failed, e.g. %s"
                  % (t.coding, len(t.failed), "; ".join(t.failed[:3])), file=sys.stderr)
        if stalled:
            print("sse_rss: %s: %d stream(s) got fewer than %d events in %.1f s, e.g. %s"
                  % (t.coding, len(stalled), due / 2, window,
                     ", ".join("#%d: %d -> %d" % s for s in stalled[:3])), file=sys.stderr)
        print("sse_rss: %s: %d events in the %.1f s window, sluice CPU %.2f s"
              % (t.coding, settled, w1 - w0, cpu_s), file=sys.stderr)
    for t in targets:
        for c in t.clients:
            c.closing = True
            c.transport.close()
    await asyncio.sleep(0.1)
    return results


async def streams(a):
    host, port = a.proxy.rsplit(":", 1)
    t = Target(a.accept_encoding, host, port, a.pid)
    r = await measure(a, [t], a.count, a.settle, a.settle)
    if r is None:
        print("sse_rss: warm-up: %s" % t.failed[0], file=sys.stderr)
        print("nan nan nan 0 0 nan nan")
        return 1
    r = r[0]
    print("%d %d %.2f %d %d %.1f %.2f" % (r["before"], r["after"], r["per"], r["open"],
                                          r["stalled"], r["bytes"], r["cpu_us"]))
    return 0 if r["ok"] else 1


async def cpu(a):
    targets = []
    for spec in a.target:
        coding, port, pid = spec.split(":")
        targets.append(Target(coding, "127.0.0.1", port, int(pid)))
    r = await measure(a, targets, a.count, 0, a.window)
    if r is None:
        print("sse_rss: warm-up: %s" % next(t.failed[0] for t in targets if t.failed),
              file=sys.stderr)
        return 1
    for t, x in zip(targets, r):
        print("%s %.2f %d %d %.1f" % (t.coding, x["cpu_us"], x["open"], x["stalled"], x["bytes"]))
    return 0 if all(x["ok"] for x in r) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--max-streams", type=int, default=4000, help="for the fd limit")
    c = sub.add_parser("streams")
    c.add_argument("--proxy", required=True, help="host:port")
    c.add_argument("--pid", type=int, required=True, help="the proxy's process")
    c.add_argument("--count", type=int, default=1000)
    c.add_argument("--rate", type=float, default=500.0, help="streams opened per second")
    c.add_argument("--every-ms", type=int, default=100)
    c.add_argument("--settle", type=float, default=3.0)
    c.add_argument("--accept-encoding", default="identity",
                   choices=("identity", "gzip", "br", "zstd"))
    u = sub.add_parser("cpu")
    u.add_argument("--target", action="append", required=True, metavar="CODING:PORT:PID",
                   help="a proxy on 127.0.0.1:PORT (process PID) and the coding to ask it for")
    u.add_argument("--count", type=int, default=250, help="streams per target")
    u.add_argument("--rate", type=float, default=500.0, help="streams opened per second, in all")
    u.add_argument("--every-ms", type=int, default=100)
    u.add_argument("--window", type=float, default=5.0)
    a = ap.parse_args()
    if a.cmd == "serve":
        try:
            asyncio.run(serve(a))
        except KeyboardInterrupt:
            pass
        return 0
    codings = [a.accept_encoding] if a.cmd == "streams" else [t.split(":")[0] for t in a.target]
    for coding in codings:
        try:
            make_decoder(coding)
        except (ImportError, ProbeError) as e:
            print("sse_rss: %s: %s (python3-zstandard, python3-brotli)" % (coding, e),
                  file=sys.stderr)
            return 1
    return asyncio.run(streams(a) if a.cmd == "streams" else cpu(a))


if __name__ == "__main__":
    sys.exit(main())
