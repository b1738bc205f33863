#!/usr/bin/env python3
"""SSE clients for the fleet section of bench/run.sh (standard library only).

Each stream is its own client connection through the proxy to bench/sse_backend.py's
/events?n=N&every=MS, read to its end and checked: status 200, events 0..N-1 in order, the
"end" event with N, the last chunk, and no read waiting longer than --timeout.

  sse_load.py streams --proxy PORT --count 200 --events 150 [--ready FILE]
      Opens the streams over --ramp seconds; once every stream has its first event (or has
      failed) it creates the --ready file; when all have ended prints one line:
          ok failed events_received events_expected longest_gap_ms
      (the longest wait between two events of one stream, over all streams).

  sse_load.py skew --proxy PORT --count-ports P1,P2,P3,P4 --count 1000 --rate 100 --seed S
      Opens --count streams at a steady --rate per second, stream i lasting a length drawn
      log-uniformly from [--min-s, --max-s] (random.Random(seed): the same lengths for the same
      seed). Meanwhile it reads GET /count from each backend port directly every --sample-ms.
      At the end prints one line:
          ok failed peak_total c1 c2 c3 c4 ratio_at_peak worst_ratio_near_peak
      where the peak is the sample with the most open streams in total (the first such), the
      ratio is max/min of the per-server counts in it, and the worst ratio is the largest over
      the samples within 10 % of the peak total. --samples FILE gets every sample as
      "seconds total c1 c2 ...".
Failures are described on stderr (the first few).
"""
import argparse
import asyncio
import math
import random
import sys
import time


class StreamResult:
    def __init__(self):
        self.ok = False
        self.why = ""
        self.events = 0
        self.longest_gap = 0.0


class SseClient(asyncio.Protocol):
    """One stream: sends the request, parses the response as it arrives (head, chunked framing,
    events) and resolves `done` with a StreamResult at the end, at the first error, or when
    `last_progress` is older than the timeout (checked by the caller's watchdog)."""

    def __init__(self, request, n, first_event, done):
        self.request, self.n, self.first_event, self.done = request, n, first_event, done
        self.r = StreamResult()
        self.buf = bytearray()
        self.events_buf = bytearray()
        self.state = "head"
        self.need = 0
        self.chunked = True
        self.ended = False
        self.last_progress = time.monotonic()
        self.last_event = None
        self.transport = None

    def finish(self, why=""):
        if self.done.done():
            return
        self.r.ok = not why
        self.r.why = why
        self.done.set_result(self.r)
        if self.transport is not None:
            self.transport.close()

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc):
        if self.state == "close-delimited" and not exc:
            self.feed_events(b"")
            if self.ended:
                return self.finish()
        self.finish("connection closed after %d events%s" % (self.r.events, ": %s" % exc if exc else ""))

    def data_received(self, data):
        self.last_progress = time.monotonic()
        self.buf += data
        while not self.done.done():
            if self.state == "head":
                at = self.buf.find(b"\r\n\r\n")
                if at < 0:
                    return
                head = bytes(self.buf[:at + 4]).lower()
                del self.buf[:at + 4]
                status = head.split(b"\r\n", 1)[0].split(b" ")
                if len(status) < 2 or status[1] != b"200":
                    return self.finish("status line %r" % head.split(b"\r\n", 1)[0])
                self.chunked = b"\r\ntransfer-encoding: chunked" in head
                self.state = "size" if self.chunked else "close-delimited"
            elif self.state == "size":
                at = self.buf.find(b"\r\n")
                if at < 0:
                    return
                try:
                    self.need = int(bytes(self.buf[:at]).split(b";")[0].strip(), 16)
                except ValueError:
                    return self.finish("bad chunk size line after %d events" % self.r.events)
                del self.buf[:at + 2]
                self.state = "data" if self.need else "trailer"
            elif self.state == "data":
                if len(self.buf) < self.need + 2:
                    return
                if self.buf[self.need:self.need + 2] != b"\r\n":
                    return self.finish("bad chunk framing after %d events" % self.r.events)
                self.feed_events(bytes(self.buf[:self.need]))
                del self.buf[:self.need + 2]
                self.state = "size"
            elif self.state == "trailer":
                at = self.buf.find(b"\r\n")
                if at < 0:
                    return
                if not self.ended:
                    return self.finish("stream ended after %d of %d events without the end event"
                                       % (self.r.events, self.n))
                return self.finish()
            else:  # close-delimited: the body is everything until the close
                data, self.buf = bytes(self.buf), bytearray()
                self.feed_events(data)
                return

    def feed_events(self, data):
        self.events_buf += data
        while not self.done.done():
            at = self.events_buf.find(b"\n\n")
            if at < 0:
                return
            event = bytes(self.events_buf[:at])
            del self.events_buf[:at + 2]
            now = time.monotonic()
            if self.last_event is not None:
                self.r.longest_gap = max(self.r.longest_gap, now - self.last_event)
            self.last_event = now
            k = self.r.events
            if self.ended:
                return self.finish("bytes after the end event")
            if event == b"id: %d\ndata: event %d" % (k, k):
                if k == 0 and self.first_event:
                    self.first_event()
                self.r.events = k + 1
            elif event == b"event: end\ndata: %d" % self.n and k == self.n:
                self.ended = True
            else:
                return self.finish("event %d is %r (out of order or lost)" % (k, event[:60]))


LIVE = set()  # the streams in flight, for the watchdog


async def watchdog(timeout):
    """Fails every stream that has received nothing for `timeout` seconds."""
    while True:
        await asyncio.sleep(min(1.0, timeout / 4))
        now = time.monotonic()
        for c in list(LIVE):
            if now - c.last_progress > timeout:
                c.finish("no byte for %g s after %d events" % (timeout, c.r.events))


async def read_stream(port, host, target, n, timeout, first_event=None):
    """Reads one SSE response to its end; returns a StreamResult."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    request = b"GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n" % (
        target.encode(), host.encode())
    client = SseClient(request, n, first_event, done)
    LIVE.add(client)
    try:
        try:
            await asyncio.wait_for(loop.create_connection(lambda: client, "127.0.0.1", port), timeout)
        except (OSError, asyncio.TimeoutError) as e:
            client.finish("cannot connect: %s" % (e or type(e).__name__))
        return await done
    finally:
        LIVE.discard(client)


def report_failures(results):
    failed = [(i, x) for i, x in enumerate(results) if not x.ok]
    for i, x in failed[:5]:
        print("stream %d: %s" % (i, x.why), file=sys.stderr)
    if len(failed) > 5:
        print("... and %d more failed streams" % (len(failed) - 5), file=sys.stderr)
    return len(failed)


async def cmd_streams(a):
    started = [0]
    pending_first = [a.count]
    all_first = asyncio.Event()

    def one_done():
        pending_first[0] -= 1
        if pending_first[0] == 0:
            all_first.set()

    async def one(i):
        await asyncio.sleep(i * a.ramp / a.count)
        got_first = [False]

        def first():
            got_first[0] = True
            one_done()

        r = await read_stream(a.proxy, a.host, "/events/%d?n=%d&every=%d" % (i, a.events, a.every_ms),
                              a.events, a.timeout, first)
        if not got_first[0]:
            one_done()
        return r

    dog = asyncio.create_task(watchdog(a.timeout))
    tasks = [asyncio.create_task(one(i)) for i in range(a.count)]
    await all_first.wait()
    if a.ready:
        open(a.ready, "w").close()
    results = await asyncio.gather(*tasks)
    dog.cancel()
    failed = report_failures(results)
    print("%d %d %d %d %.1f" % (a.count - failed, failed, sum(x.events for x in results),
                                a.count * a.events, 1000 * max(x.longest_gap for x in results)))


async def get_count(conn):
    reader, writer = conn
    writer.write(b"GET /count HTTP/1.1\r\nHost: count\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return int(await reader.readexactly(length))


async def cmd_skew(a):
    rnd = random.Random(a.seed)
    lo, hi = math.log(a.min_s), math.log(a.max_s)
    events = [max(1, round(math.exp(rnd.uniform(lo, hi)) * 1000 / a.every_ms)) for _ in range(a.count)]
    ports = [int(p) for p in a.count_ports.split(",")]
    conns = [await asyncio.open_connection("127.0.0.1", p) for p in ports]
    samples = []
    done = asyncio.Event()
    t0 = time.monotonic()

    async def sampler():
        while not done.is_set():
            t = time.monotonic() - t0
            counts = await asyncio.gather(*(get_count(c) for c in conns))
            samples.append((t, counts))
            try:
                await asyncio.wait_for(done.wait(), a.sample_ms / 1000)
            except asyncio.TimeoutError:
                pass

    async def one(i):
        await asyncio.sleep(max(0.0, t0 + i / a.rate - time.monotonic()))
        return await read_stream(a.proxy, a.host, "/events/%d?n=%d&every=%d" % (i, events[i], a.every_ms),
                                 events[i], a.timeout)

    sampling = asyncio.create_task(sampler())
    dog = asyncio.create_task(watchdog(a.timeout))
    results = await asyncio.gather(*(one(i) for i in range(a.count)))
    dog.cancel()
    done.set()
    await sampling
    for _, w in conns:
        w.close()
    failed = report_failures(results)
    if a.samples:
        with open(a.samples, "w") as f:
            for t, c in samples:
                f.write("%.3f %d %s\n" % (t, sum(c), " ".join(map(str, c))))

    def ratio(c):
        return max(c) / min(c) if min(c) > 0 else float("inf")

    peak_t, peak = max(samples, key=lambda s: sum(s[1]))  # max() keeps the first of equals
    near = [ratio(c) for _, c in samples if sum(c) >= 0.9 * sum(peak)]
    print("%d %d %d %s %.3f %.3f" % (a.count - failed, failed, sum(peak), " ".join(map(str, peak)),
                                     ratio(peak), max(near)))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("streams", "skew"):
        p = sub.add_parser(name)
        p.add_argument("--proxy", type=int, required=True, help="the proxy's port on 127.0.0.1")
        p.add_argument("--host", default="sse.bench.test", help="the Host header")
        p.add_argument("--timeout", type=float, default=10.0, help="longest wait for any read, s")
        p.add_argument("--every-ms", type=int, default=100, help="interval between events")
    s = sub.choices["streams"]
    s.add_argument("--count", type=int, default=200)
    s.add_argument("--events", type=int, default=100, help="events per stream")
    s.add_argument("--ramp", type=float, default=1.0, help="seconds over which streams open")
    s.add_argument("--ready", help="created once every stream has its first event")
    k = sub.choices["skew"]
    k.add_argument("--count", type=int, default=1000)
    k.add_argument("--rate", type=float, default=100.0, help="streams opened per second")
    k.add_argument("--seed", type=int, default=1)
    k.add_argument("--min-s", type=float, default=0.5, help="shortest stream, s")
    k.add_argument("--max-s", type=float, default=12.0, help="longest stream, s")
    k.add_argument("--count-ports", required=True, help="the backends' ports, for GET /count")
    k.add_argument("--sample-ms", type=int, default=200)
    k.add_argument("--samples", help="write every sample here")
    a = ap.parse_args()
    asyncio.run(cmd_streams(a) if a.cmd == "streams" else cmd_skew(a))


if __name__ == "__main__":
    main()
