#!/usr/bin/python3
"""A gRPC server and client for sluice's gRPC tests (test/integration/grpc_test.cpp), on Debian's
python3-grpcio: an implementation independent of sluice and of nghttp2.

  grpc_probe.py server            serves probe.Probe on 127.0.0.1:<free port> over h2c, prints
                                  "port N" on stderr, and runs until it is killed
  grpc_probe.py client PORT CASE  calls probe.Probe through PORT (the proxy) and prints
                                  "ok CASE" or "FAIL CASE: why"; exit status 0 only for ok

Messages are raw bytes (no protobuf): the identity serializers keep the probe self-contained.
Cases: unary, server_streaming, client_streaming, bidi, error, deadline, cancel.
"""
import sys
import threading
import time
from concurrent import futures

import grpc

SERVICE = "probe.Probe"
ident = (lambda b: b)
cancelled = threading.Event()


def echo(request, context):
    context.set_trailing_metadata((("x-trailer", "t1"),))
    return request


def count(request, context):
    for i in range(int(request.decode())):
        yield str(i).encode()


def total(request_iterator, context):
    return b"".join(request_iterator)


def chat(request_iterator, context):
    for message in request_iterator:
        yield b"re:" + message


def fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


def hang(request, context):
    # Ends when the call is cancelled (client cancel or deadline): sluice must pass that on.
    context.add_callback(cancelled.set)
    while context.is_active():
        time.sleep(0.01)
    return b""


def was_cancelled(request, context):
    seen = cancelled.wait(timeout=5)
    cancelled.clear()  # each case sees its own call end
    return b"yes" if seen else b"no"


def serve():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    handlers = {
        "Echo": grpc.unary_unary_rpc_method_handler(echo, ident, ident),
        "Count": grpc.unary_stream_rpc_method_handler(count, ident, ident),
        "Total": grpc.stream_unary_rpc_method_handler(total, ident, ident),
        "Chat": grpc.stream_stream_rpc_method_handler(chat, ident, ident),
        "Fail": grpc.unary_unary_rpc_method_handler(fail, ident, ident),
        "Hang": grpc.unary_unary_rpc_method_handler(hang, ident, ident),
        "WasCancelled": grpc.unary_unary_rpc_method_handler(was_cancelled, ident, ident),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("port %d" % port, file=sys.stderr, flush=True)
    server.wait_for_termination()  # until the test kills it


def method(channel, kind, name):
    factory = getattr(channel, kind)
    return factory("/%s/%s" % (SERVICE, name), request_serializer=ident,
                   response_deserializer=ident)


def check(case, channel):
    if case == "unary":
        response, call = method(channel, "unary_unary", "Echo").with_call(b"hello", timeout=5)
        assert response == b"hello", response
        assert ("x-trailer", "t1") in call.trailing_metadata(), call.trailing_metadata()
        assert call.code() == grpc.StatusCode.OK
    elif case == "server_streaming":
        got = list(method(channel, "unary_stream", "Count")(b"5", timeout=5))
        assert got == [b"0", b"1", b"2", b"3", b"4"], got
    elif case == "client_streaming":
        got = method(channel, "stream_unary", "Total")(iter([b"a", b"b", b"c"]), timeout=5)
        assert got == b"abc", got
    elif case == "bidi":
        # Each answer must come back before the next message is sent: full duplex through sluice.
        outbox = []
        ready = threading.Event()
        ready.set()

        def messages():
            for i in range(3):
                if not ready.wait(timeout=5):
                    raise AssertionError("no answer to message %d" % (i - 1))
                ready.clear()
                yield b"m%d" % i

        answers = []
        for answer in method(channel, "stream_stream", "Chat")(messages(), timeout=5):
            answers.append(answer)
            ready.set()
        assert answers == [b"re:m0", b"re:m1", b"re:m2"], answers
        del outbox
    elif case == "error":
        try:
            method(channel, "unary_unary", "Fail")(b"", timeout=5)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, e.code()
            assert e.details() == "no such thing", e.details()
        else:
            raise AssertionError("no error")
    elif case == "deadline":
        try:
            method(channel, "unary_unary", "Hang")(b"", timeout=0.3)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.code()
        else:
            raise AssertionError("no deadline error")
        got = method(channel, "unary_unary", "WasCancelled")(b"", timeout=10)
        assert got == b"yes", "the server never saw the call end"
    elif case == "cancel":
        future = method(channel, "unary_unary", "Hang").future(b"", timeout=10)
        time.sleep(0.2)
        future.cancel()
        got = method(channel, "unary_unary", "WasCancelled")(b"", timeout=10)
        assert got == b"yes", "the server never saw the cancel"
    else:
        raise AssertionError("unknown case " + case)


def client(port, case):
    with grpc.insecure_channel("127.0.0.1:%s" % port) as channel:
        try:
            check(case, channel)
        except Exception as e:  # noqa: BLE001 -- the test prints whatever went wrong
            print("FAIL %s: %r" % (case, e), flush=True)
            return 1
    print("ok %s" % case, flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "server":
        serve()
        sys.exit(0)
    if len(sys.argv) == 4 and sys.argv[1] == "client":
        sys.exit(client(sys.argv[2], sys.argv[3]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
