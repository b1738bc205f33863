#!/usr/bin/python3
"""gRPC server-streaming per-message delay (the h2streams section of bench/run.sh, issue 13), on
Debian's python3-grpcio, with a generic handler and raw bytes as messages (no protoc, no
generated code; as test/grpc/grpc_probe.py does).

  h2_grpc.py server --port P            serves bench.Ticks/Stream on 127.0.0.1:P (h2c) until
                                        SIGTERM or SIGINT
  h2_grpc.py client --target HOST:PORT [--n 400] [--interval-ms 5] [--deadline S] [--dump F]

Stream: the request is "N,MS"; the server sends N messages, message K at K*MS ms after the call
began (an absolute schedule: a late one does not push the next ones back), each carrying
time.time_ns() (CLOCK_REALTIME, shared by every process of the machine) taken when the handler
yields it. The client records for each message time.time_ns() when the iterator hands it over,
minus the stamp: grpcio's own costs on both sides included, the same through a proxy as direct,
so the proxy's added delay is the difference at the same percentile (bench/run.sh's report).
The client first makes a short call of 5 messages (the channel connects, the proxy opens its
upstream connection), then the measured one, on the same channel.

Prints one line: "<p50_ms> <p99_ms> <max_ms> <messages_received> <messages_expected>"; "nan nan
nan 0 N" and exit status 1 if the call failed (the status on stderr).
"""
import argparse
import math
import signal
import statistics
import sys
import threading
import time
from concurrent import futures

import grpc

SERVICE = "bench.Ticks"
ident = (lambda b: b)


def stream(request, context):
    n, ms = (int(x) for x in request.decode().split(","))
    t0 = time.monotonic()
    for k in range(n):
        delay = t0 + k * ms / 1000.0 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if not context.is_active():
            return
        yield b"%d" % time.time_ns()


def serve(port):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    handlers = {"Stream": grpc.unary_stream_rpc_method_handler(stream, ident, ident)}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    if server.add_insecure_port("127.0.0.1:%d" % port) != port:
        print("h2_grpc: cannot listen on %d" % port, file=sys.stderr)
        return 1
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1):
        pass
    server.stop(grace=0.5).wait(2)
    return 0


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100.0 * len(s)) - 1))]


def client(a):
    delays = []
    call = None
    with grpc.insecure_channel(a.target) as channel:
        method = channel.unary_stream("/%s/Stream" % SERVICE, request_serializer=ident,
                                      response_deserializer=ident)
        try:
            for _ in method(b"5,1", timeout=min(10, a.deadline)):
                pass
            call = method(b"%d,%d" % (a.n, a.interval_ms),
                          timeout=a.deadline)
            for message in call:
                delays.append((time.time_ns() - int(message)) / 1e6)
        except grpc.RpcError as e:
            print("h2_grpc: %s: %s %s (after %d messages)" % (a.target, e.code(), e.details(),
                                                             len(delays)), file=sys.stderr)
    if a.dump:
        with open(a.dump, "w") as f:
            f.writelines("%.4f\n" % d for d in delays)
    if not delays:
        print("nan nan nan 0 %d" % a.n)
        return 1
    print("%.3f %.3f %.3f %d %d" % (statistics.median(delays), pct(delays, 99), max(delays),
                                    len(delays), a.n))
    return 0 if len(delays) == a.n else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("server")
    s.add_argument("--port", type=int, required=True)
    c = sub.add_parser("client")
    c.add_argument("--target", required=True)
    c.add_argument("--n", type=int, default=400)
    c.add_argument("--interval-ms", type=int, default=5)
    c.add_argument("--deadline", type=float, default=30, help="seconds for the measured call")
    c.add_argument("--dump", help="write every delay (ms), one per line")
    a = ap.parse_args()
    return serve(a.port) if a.cmd == "server" else client(a)


if __name__ == "__main__":
    sys.exit(main())
