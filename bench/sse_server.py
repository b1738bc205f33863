"""The SSE stream server that bench/sse_rss.py serve and bench/sse_fanout.py serve share
(standard library only, asyncio; imported, not run).

GET /events?every=MS&n=N answers the stream class's HEAD (200 text/event-stream, chunked) and N
events (default: the class's DEFAULT_N), each in a chunk of its own, the first at the next tick
and then one every MS ms (default 100) on an absolute schedule; any other path gets a 404 and
the connection is closed. Keep-alive: a connection whose stream ended takes its next request
(one that came while the stream ran too). One timer of `tick` s serves every stream (a heap of
due times), so a thousand streams cost one wake-up per tick rather than one per event.

A script subclasses SSEStream with its HEAD, DEFAULT_N and event(k) (the bytes of event k,
framing added here), and runs serve(its class, port, max_streams, tick).
"""
import asyncio
import heapq
import resource
import urllib.parse


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(hard, n)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


class Scheduler:
    """The one timer: every `tick` s it sends the events that are due."""

    def __init__(self, tick):
        self.tick = tick
        self.due = []      # heap of (time, seq, stream)
        self.seq = 0

    def add(self, stream, when):
        self.seq += 1
        heapq.heappush(self.due, (when, self.seq, stream))

    async def ticker(self):
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.tick)
            now = loop.time()
            due = self.due
            while due and due[0][0] <= now:
                when, _, s = heapq.heappop(due)
                if s.send():
                    self.add(s, when + s.every)


class SSEStream(asyncio.Protocol):
    HEAD = None        # the response head, bytes
    DEFAULT_N = None   # events when the request has no n
    serial = 0

    def __init__(self, scheduler):
        self.scheduler, self.buf, self.transport = scheduler, b"", None
        SSEStream.serial += 1
        self.id = SSEStream.serial   # 1, 2, ... in the order connections come
        self.every, self.k, self.n, self.started = 0.1, 0, 0, False

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buf += data
        self.start()

    def start(self):
        """Starts the stream the buffered request asks for (keep-alive: the proxy may send the
        next request on this connection once a stream has ended)."""
        if self.started or b"\r\n\r\n" not in self.buf:
            return
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        target = head.split(b" ", 2)[1].decode("latin-1")
        path, _, query = target.partition("?")
        if not path.startswith("/events"):
            self.transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
            self.transport.close()
            return
        q = urllib.parse.parse_qs(query)
        self.every = int(q.get("every", ["100"])[0]) / 1000.0
        self.n = int(q["n"][0]) if "n" in q else self.DEFAULT_N
        self.k = 0
        self.started = True
        self.transport.write(self.HEAD)
        self.scheduler.add(self, asyncio.get_running_loop().time())

    def event(self, k):
        """The bytes of event k (id: and data: lines, the blank line)."""
        raise NotImplementedError

    def send(self):
        """Writes the next event; False once the stream is over (or the client left)."""
        if self.transport.is_closing():
            return False
        if self.k >= self.n:
            self.transport.write(b"0\r\n\r\n")
            self.started = False
            self.start()   # a request that came while the stream ran
            return False
        event = self.event(self.k)
        self.transport.write(b"%x\r\n%s\r\n" % (len(event), event))
        self.k += 1
        return True


async def serve(stream_class, port, max_streams, tick):
    """Serves stream_class streams on 127.0.0.1:port until cancelled."""
    raise_nofile(max_streams * 2 + 256)
    scheduler = Scheduler(tick)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: stream_class(scheduler), "127.0.0.1", port,
                                      backlog=4096)
    async with server:
        await scheduler.ticker()
