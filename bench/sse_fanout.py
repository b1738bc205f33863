#!/usr/bin/env python3
"""1,000 concurrent SSE streams through a proxy: the sse1000 section of bench/run.sh
(standard library only, asyncio; bench/sse_fanout.sh runs it).

Two processes, both on the load's core: the backend and the clients are split so that neither
one's bursts sit inside the other's event loop (one loop would serve a backend tick's writes
before it reads what the proxy sent back, and that wait would count as the proxy's delay).

  sse_fanout.py serve --port P [--max-streams N] [--tick-ms 1]
      The SSE backend. GET /events?every=MS&n=N answers 200 text/event-stream, chunked, with
      "X-Accel-Buffering: no" (what SSE backends send so that nginx does not buffer them), and
      N events (default: until the client leaves), the first at the next tick and then one every
      MS ms (default 100) on an absolute schedule. Each event is about 170 bytes:
          id: K
          data: {"seq":K,"t":T,"stream":S,"object":"chat.completion.chunk","delta":"..."}
      with T = time.time_ns() (CLOCK_REALTIME, which the client process shares) taken just
      before the event is written. One timer of --tick-ms serves every stream (a heap of due
      times): a thousand streams at 10 events/s are ~10 events per 1 ms tick, not a wake-up per
      event, and not a burst of a hundred every 10 ms. Keep-alive: a connection whose stream
      ended takes its next request. The protocol, the keep-alive and the timer are
      bench/sse_server.py's (shared with sse_rss.py serve).

  sse_fanout.py clients --target HOST:PORT --name NAME --run RUN --record FILE
                        [--pid PID ...] [--harness-pid PID ...] --count N --rate R
                        --every-ms MS --settle S --window S
      The clients. One warm-up stream (5 events, read to its end); after --settle s the
      proxy's VmRSS (the --pid processes summed; none for the direct path); then --count
      streams opened at --rate per second; once every stream has had its first event (or
      failed) another --settle s, then the steady window of --window s. During the window every
      event's delay is taken: the time the read that completed it returned (time.time_ns(), one
      reading per read) minus the backend's T. At its end the proxy's VmRSS again, with every
      stream still open, and its CPU (utime + stime from /proc/PID/stat) over the window, per
      event received in the window and as % of one core; also the CPU of this process and of
      the --harness-pid processes (the backend), to tell when the harness is the limit, and
      the time the proxy's threads and the harness's spent runnable but waiting for their core
      (schedstat's run delay over the window), to tell when other work on the machine got in
      the way. Then it closes every stream. A stream failed if it was refused, answered other than 200
      text/event-stream, or closed; it stalled if it got fewer than half the events due in the
      window; events lost are gaps in a stream's seq numbers.
      Appends "metric,NAME,RUN,value" rows to --record and prints one summary line.
      Exit status 1 if a stream failed or stalled, or an event was lost.
"""
import argparse
import array
import asyncio
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sse_server import SSEStream, raise_nofile, serve as serve_streams  # noqa: E402

WORDS = (b"the quick brown fox jumps over a lazy dog while tokens stream from the model to every "
         b"client that asked for them").split()
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pids):
    """utime + stime of the processes, all their threads, in clock ticks."""
    total = 0
    for pid in pids:
        with open("/proc/%s/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total


def run_delay_ns(pids):
    """Time the processes' threads spent runnable but waiting for a CPU (/proc/PID/task/*/
    schedstat, second field), in ns: how much others on their core held them back."""
    total = 0
    for pid in pids:
        for tid in os.listdir("/proc/%s/task" % pid):
            try:
                with open("/proc/%s/task/%s/schedstat" % (pid, tid)) as f:
                    total += int(f.read().split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return total


def rss_kib(pids):
    total = 0
    for pid in pids:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
    return total


# -------------------------------------------------------------------------------------- backend
class BackendStream(SSEStream):
    """One connection's streams (bench/sse_server.py's protocol): stamped events."""
    HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"X-Accel-Buffering: no\r\nTransfer-Encoding: chunked\r\n\r\n")
    DEFAULT_N = 1000000000

    def __init__(self, scheduler):
        super().__init__(scheduler)
        # A filler of 40-80 bytes per stream: events of ~170 bytes that differ between streams.
        self.delta = b" ".join(WORDS[(self.id + i) % len(WORDS)] for i in range(8 + self.id % 6))

    def event(self, k):
        return (b'id: %d\ndata: {"seq":%d,"t":%d,"stream":%d,"object":"chat.completion.chunk",'
                b'"delta":"%s"}\n\n' % (k, k, time.time_ns(), self.id, self.delta))


async def serve(a):
    await serve_streams(BackendStream, a.port, a.max_streams, a.tick_ms / 1000.0)


# -------------------------------------------------------------------------------------- clients
EVENT = re.compile(rb'"seq":(\d+),"t":(\d+),')
RBUF = memoryview(bytearray(65536))   # one read buffer for all streams: a read is handled whole
                                      # (recv_into, then buffer_updated) before the next


class Stats:
    def __init__(self):
        self.recording = False
        self.delays = array.array("d")   # ms, events that arrived during the window
        self.window_events = 0
        self.failed = []
        self.lost = 0


class ClientStream(asyncio.BufferedProtocol):
    """One SSE stream: de-chunks the body as it arrives, and takes each event's seq and stamp."""

    def __init__(self, request, stats, first):
        self.request, self.stats, self.first = request, stats, first
        self.transport = None
        self.head = b""
        self.in_body = False
        self.pend = b""        # unparsed chunk framing
        self.need = 0          # data bytes left in the current chunk
        self.skip = 0          # CRLF bytes left after a chunk's data
        self.carry = b""       # de-chunked bytes after the last complete event
        self.events = 0
        self.next_seq = None
        self.ended = False
        self.error = ""
        self.closing = False   # closed by us: not a failure

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def fail(self, why):
        if not self.error:
            self.error = why
            self.stats.failed.append(why)
            if not self.first.done():
                self.first.set_result(False)
        if self.transport:
            self.transport.close()

    def get_buffer(self, sizehint):
        return RBUF

    def buffer_updated(self, nbytes):
        now = time.time_ns()
        data = bytes(RBUF[:nbytes])
        if not self.in_body:
            self.head += data
            i = self.head.find(b"\r\n\r\n")
            if i < 0:
                if len(self.head) > 16384:
                    self.fail("no response head in 16 KiB")
                return
            head, data = self.head[:i], self.head[i + 4:]
            self.head = b""
            status = head.split(b"\r\n", 1)[0]
            low = head.lower()
            if status.split(b" ")[1:2] != [b"200"]:
                return self.fail("answered %r" % status.decode("latin-1"))
            if b"text/event-stream" not in low:
                return self.fail("not text/event-stream")
            if b"transfer-encoding: chunked" not in low:
                return self.fail("not chunked: %r" % head[:300])
            self.in_body = True
        text = self.dechunk(data)
        if text is None:
            return
        text = self.carry + text
        j = text.rfind(b"\n\n")
        if j < 0:
            self.carry = text
            return
        self.carry = text[j + 2:]
        st = self.stats
        n = 0
        for m in EVENT.finditer(text, 0, j + 2):
            seq = int(m.group(1))
            if self.next_seq is not None and seq != self.next_seq:
                st.lost += max(0, seq - self.next_seq)
            self.next_seq = seq + 1
            n += 1
            if st.recording:
                st.delays.append((now - int(m.group(2))) / 1e6)
        self.events += n
        if st.recording:
            st.window_events += n
        if n and not self.first.done():
            self.first.set_result(True)

    def dechunk(self, data):
        """The body bytes in data (chunked framing removed); None after a failure."""
        out = []
        buf = self.pend + data if self.pend else data
        self.pend = b""
        i, end = 0, len(buf)
        while i < end:
            if self.need:
                take = min(self.need, end - i)
                out.append(buf[i:i + take])
                i += take
                self.need -= take
                if not self.need:
                    self.skip = 2
            elif self.skip:
                take = min(self.skip, end - i)
                i += take
                self.skip -= take
            else:
                k = buf.find(b"\r\n", i)
                if k < 0:
                    self.pend = buf[i:]
                    break
                try:
                    size = int(buf[i:k].split(b";", 1)[0], 16)
                except ValueError:
                    self.fail("bad chunk size %r" % buf[i:k][:40])
                    return None
                i = k + 2
                if size == 0:
                    self.ended = True
                    if not self.closing:
                        self.fail("the stream ended")
                    return None
                self.need = size
        return b"".join(out)

    def connection_lost(self, exc):
        if not self.closing and not self.ended:
            self.fail("closed by the peer after %d events: %s" % (self.events, exc or "EOF"))


def percentile(sorted_v, p):
    if not sorted_v:
        return float("nan")
    k = max(0, min(len(sorted_v) - 1, int(round(p / 100.0 * len(sorted_v) + 0.5)) - 1))
    return sorted_v[k]


async def clients(a):
    raise_nofile(a.count + 256)
    loop = asyncio.get_running_loop()
    host, port = a.target.rsplit(":", 1)
    port = int(port)

    def request(query):
        return (b"GET /events?" + query.encode() + b" HTTP/1.1\r\nHost: bench\r\n"
                b"Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n")

    async def open_stream(query, stats):
        first = loop.create_future()
        try:
            _, proto = await loop.create_connection(
                lambda: ClientStream(request(query), stats, first), host, port)
        except OSError as e:
            stats.failed.append("connect: %s" % e)
            return None
        return proto

    # Warm-up: one short stream to its end (the proxy's first connection, pools, caches).
    warm_stats = Stats()
    warm = await open_stream("every=20&n=5", warm_stats)
    if warm is not None:
        warm.closing = True   # its end is expected
        deadline = time.monotonic() + 5
        while not warm.ended and not warm.error and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        warm.transport.close()
        if warm.events != 5 or not warm.ended:
            warm_stats.failed.append("warm-up: %d of 5 events" % warm.events)
    if warm_stats.failed:
        print("sse_fanout: %s: warm-up failed: %s" % (a.name, warm_stats.failed[0]),
              file=sys.stderr)
        print("nan")
        return 1
    await asyncio.sleep(a.settle)

    rss0 = rss_kib(a.pid)
    st = Stats()
    streams = []
    query = "every=%d" % a.every_ms
    t0 = time.monotonic()
    for i in range(a.count):
        delay = t0 + i / a.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        s = await open_stream(query, st)
        if s is not None:
            streams.append(s)
    opened = time.monotonic() - t0
    if streams:
        await asyncio.wait([s.first for s in streams], timeout=10)
    firsts = time.monotonic() - t0
    no_first = sum(1 for s in streams if not s.first.done() or not s.first.result())
    await asyncio.sleep(a.settle)

    me = [os.getpid()]
    counts = [s.events for s in streams]
    c0, h0, m0 = cpu_ticks(a.pid), cpu_ticks(a.harness_pid), cpu_ticks(me)
    q0, qh0 = run_delay_ns(a.pid), run_delay_ns(a.harness_pid + me)
    w0 = time.monotonic()
    st.recording = True
    await asyncio.sleep(a.window)
    st.recording = False
    w1 = time.monotonic()
    c1, h1, m1 = cpu_ticks(a.pid), cpu_ticks(a.harness_pid), cpu_ticks(me)
    q1, qh1 = run_delay_ns(a.pid), run_delay_ns(a.harness_pid + me)
    rss1 = rss_kib(a.pid)
    window = w1 - w0

    due = window * 1000.0 / a.every_ms
    alive = [s for s in streams if not s.error]
    stalled = [(k, counts[k], s.events) for k, s in enumerate(streams)
               if not s.error and s.events - counts[k] < due / 2]
    failed = len(st.failed)
    for s in streams:
        s.closing = True
        s.transport.close()
    await asyncio.sleep(0.2)

    d = sorted(st.delays)
    cpu_s = (c1 - c0) / CLK_TCK
    ev = st.window_events
    r = {
        "streams": len(alive), "failed": failed, "stalled": len(stalled), "lost": st.lost,
        "no_first": no_first, "events": ev, "events_per_s": ev / window,
        "open_s": opened, "first_s": firsts, "window_s": window,
        "p50_ms": percentile(d, 50), "p90_ms": percentile(d, 90), "p99_ms": percentile(d, 99),
        "p999_ms": percentile(d, 99.9), "max_ms": d[-1] if d else float("nan"),
        "client_cpu_pct": (m1 - m0) / CLK_TCK / window * 100,
        "backend_cpu_pct": (h1 - h0) / CLK_TCK / window * 100,
        "harness_wait_ms": (qh1 - qh0) / 1e6,
    }
    if a.pid:
        r.update({
            "rss_before_kib": rss0, "rss_after_kib": rss1,
            "rss_kib_per_stream": (rss1 - rss0) / len(alive) if alive else float("nan"),
            "cpu_us_per_event": cpu_s * 1e6 / ev if ev else float("nan"),
            "cpu_pct": cpu_s / window * 100,
            "proxy_wait_ms": (q1 - q0) / 1e6,
        })
    with open(a.record, "a") as f:
        for k, v in r.items():
            f.write("%s,%s,%s,%s\n" % (k, a.name, a.run, ("%.4f" % v) if isinstance(v, float) else v))
    if st.failed:
        print("sse_fanout: %s: %d stream(s) failed, e.g. %s"
              % (a.name, len(st.failed), "; ".join(st.failed[:3])), file=sys.stderr)
    if stalled:
        print("sse_fanout: %s: %d stream(s) got fewer than %.0f events in the %.1f s window, "
              "e.g. %s" % (a.name, len(stalled), due / 2, window,
                           ", ".join("#%d: %d -> %d" % s for s in stalled[:3])), file=sys.stderr)
    if st.lost:
        print("sse_fanout: %s: %d event(s) lost (gaps in seq)" % (a.name, st.lost), file=sys.stderr)
    summary = ("%d streams (%d failed, %d stalled, %d events lost), opened in %.1f s, all first "
               "events by %.1f s; window %.1f s: %d events (%.0f/s), delay p50 %.3f p99 %.3f "
               "p99.9 %.3f max %.3f ms; client CPU %.0f %%, backend CPU %.0f %%, both waited "
               "%.0f ms for a CPU"
               % (len(alive), failed, len(stalled), st.lost, opened, firsts, window, ev,
                  ev / window, r["p50_ms"], r["p99_ms"], r["p999_ms"], r["max_ms"],
                  r["client_cpu_pct"], r["backend_cpu_pct"], r["harness_wait_ms"]))
    if a.pid:
        summary += ("; proxy RSS %d -> %d KiB (%.1f KiB/stream), CPU %.2f s = %.1f %% of a core, "
                    "%.2f µs/event, waited %.0f ms for a CPU"
                    % (rss0, rss1, r["rss_kib_per_stream"], cpu_s, r["cpu_pct"],
                       r["cpu_us_per_event"], r["proxy_wait_ms"]))
    print(summary)
    ok = not st.failed and not stalled and not st.lost and len(alive) == a.count
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--max-streams", type=int, default=4000, help="for the fd limit")
    s.add_argument("--tick-ms", type=float, default=1.0)
    c = sub.add_parser("clients")
    c.add_argument("--target", required=True, help="host:port")
    c.add_argument("--name", required=True)
    c.add_argument("--run", default="1")
    c.add_argument("--record", required=True, help="CSV file to append metric rows to")
    c.add_argument("--pid", action="append", type=int, default=[],
                   help="a process of the proxy (RSS and CPU); none for the direct path")
    c.add_argument("--harness-pid", action="append", type=int, default=[],
                   help="the backend's process, for its CPU")
    c.add_argument("--count", type=int, default=1000)
    c.add_argument("--rate", type=float, default=200.0, help="streams opened per second")
    c.add_argument("--every-ms", type=int, default=100)
    c.add_argument("--settle", type=float, default=1.0)
    c.add_argument("--window", type=float, default=5.0)
    a = ap.parse_args()
    if a.cmd == "serve":
        try:
            asyncio.run(serve(a))
        except KeyboardInterrupt:
            pass
        return 0
    return asyncio.run(clients(a))


if __name__ == "__main__":
    sys.exit(main())
