"""A small HTTP/2 client over a plain socket (h2c, prior knowledge) for the h2streams probes of
bench/run.sh (bench/h2_sse.py, bench/h2_neighbour.py, bench/h2_rapid_reset.py). Not a probe of its
own: imported by them.

Frames are built and parsed here (RFC 9113 section 4 and 6) rather than through python3-h2's state
machine, for two reasons: the probes need control that h2 does not give (a stream whose window is
never returned while the connection's is; HEADERS and RST_STREAM written back to back by the
thousand), and a bulk download must not be limited by the client: a DATA frame costs one
struct.unpack here, its payload is never copied unless the stream wants it. Response header
blocks are decoded with python3-hpack (Debian; python3-h2 depends on it), every one of them in
order, so the decoder's dynamic table stays in step with the server's. Request header blocks use
only the static table and literals without indexing (no dynamic table state on our side), so one
encoded block can be sent on any stream of any connection.

Flow control, as a browser does it: the client announces --stream-window as
SETTINGS_INITIAL_WINDOW_SIZE and raises the connection window to --conn-window; the connection
window is returned (WINDOW_UPDATE on stream 0) for every DATA byte received, whoever reads it;
a stream's own window is returned only while its reader reads (Stream.reading), in batches of a
quarter of the window. Everything is bounded in time: every socket operation has a timeout and
Conn.pump() returns at its deadline.
"""
import socket
import struct
import time

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
F_END_STREAM, F_ACK, F_END_HEADERS, F_PADDED, F_PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
S_ENABLE_PUSH, S_INITIAL_WINDOW_SIZE = 0x2, 0x4
NO_ERROR, CANCEL = 0x0, 0x8
ERRORS = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
          4: "SETTINGS_TIMEOUT", 5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM",
          8: "CANCEL", 9: "COMPRESSION_ERROR", 10: "CONNECT_ERROR", 11: "ENHANCE_YOUR_CALM",
          12: "INADEQUATE_SECURITY", 13: "HTTP_1_1_REQUIRED"}
HDR = struct.Struct(">HBBBI")  # length (24 bits as 16 + 8), type, flags, stream id


def frame(ftype, flags, stream_id, payload=b""):
    n = len(payload)
    return HDR.pack(n >> 8, n & 0xFF, ftype, flags, stream_id) + payload


def window_update(stream_id, n):
    return frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", n))


def rst_stream(stream_id, code=CANCEL):
    return frame(RST_STREAM, 0, stream_id, struct.pack(">I", code))


def _int(value, prefix_bits, first):
    """HPACK integer (RFC 7541 5.1) with `first`'s high bits as the pattern."""
    top = (1 << prefix_bits) - 1
    if value < top:
        return bytes([first | value])
    out = [first | top]
    value -= top
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _literal(name_index, value):
    """Literal header field without indexing, indexed name (RFC 7541 6.2.2), no Huffman."""
    v = value.encode()
    return _int(name_index, 4, 0x00) + _int(len(v), 7, 0x00) + v


# Static table indexes (RFC 7541 appendix A) of the names used here.
_NAME = {":authority": 1, ":path": 4, "accept": 19, "user-agent": 58}


def request_block(path, authority="bench", extra=()):
    """A GET request's header block, static table and literals only (stateless, reusable)."""
    out = [b"\x82", b"\x86", _literal(4, path), _literal(1, authority)]  # :method GET, :scheme http
    for name, value in extra:
        idx = _NAME.get(name, 0)
        if idx:
            out.append(_literal(idx, value))
        else:  # literal name: 0x00, name string, value string
            n, v = name.encode(), value.encode()
            out.append(b"\x00" + _int(len(n), 7, 0) + n + _int(len(v), 7, 0) + v)
    return b"".join(out)


class Stream:
    """One request's response as it arrives. on_data(stream, memoryview, t_ns) is called for each
    DATA payload when set (t_ns: time.time_ns() when the read that brought it returned)."""

    def __init__(self, sid, reading=True, on_data=None):
        self.id = sid
        self.reading = reading      # return this stream's window as its bytes arrive
        self.on_data = on_data
        self.status = None
        self.headers = []
        self.received = 0           # DATA payload bytes (flow-controlled length, padding included)
        self.unacked = 0            # received and not yet returned by WINDOW_UPDATE
        self.ended = False          # END_STREAM seen
        self.reset = None           # RST_STREAM error code from the server
        self.first_data_ns = None
        self.end_ns = None
        self.start_ns = time.time_ns()


class ConnectionGone(Exception):
    pass


class Conn:
    def __init__(self, host, port, stream_window=65535, conn_window=16 << 20, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout      # for writes (pump() sets its own for the read)
        self.stream_window = stream_window
        self.conn_window = conn_window
        self.streams = {}
        self.next_id = 1
        self.decoder = hpack.Decoder()
        self.goaway = None          # (last_stream_id, error code) once received
        self.closed = False
        self.conn_unacked = 0
        self.pending = []           # frames to send at the end of this pump
        self.leftover = b""
        self.block = None           # (stream id, bytes, end_stream) of an unfinished header block
        self.frames_in = 0
        settings = struct.pack(">HIHI", S_ENABLE_PUSH, 0, S_INITIAL_WINDOW_SIZE, stream_window)
        out = PREFACE + frame(SETTINGS, 0, 0, settings)
        if conn_window > 65535:
            out += window_update(0, conn_window - 65535)
        self.sock.sendall(out)

    def request(self, path, reading=True, on_data=None, extra=(), end_stream=True):
        sid = self.next_id
        self.next_id += 2
        s = Stream(sid, reading, on_data)
        self.streams[sid] = s
        flags = F_END_HEADERS | (F_END_STREAM if end_stream else 0)
        self.sock.settimeout(self.timeout)
        self.sock.sendall(frame(HEADERS, flags, sid, request_block(path, extra=extra)))
        return s

    def reset(self, sid, code=CANCEL):
        self.pending.append(rst_stream(sid, code))

    def close(self):
        if not self.closed:
            try:
                self.sock.settimeout(1)
                self.sock.sendall(b"".join(self.pending) + frame(GOAWAY, 0, 0, struct.pack(
                    ">II", self.next_id - 2 if self.next_id > 1 else 0, NO_ERROR)))
            except OSError:
                pass
            self.pending = []
            self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def flush(self):
        if self.pending:
            out, self.pending = b"".join(self.pending), []
            self.sock.settimeout(self.timeout)
            self.sock.sendall(out)

    def pump(self, deadline, max_wait=0.5):
        """Reads once (waiting at most until the deadline, or max_wait), handles every complete
        frame, sends what that calls for. Returns False if nothing came (timeout); raises
        ConnectionGone when the server closed the connection."""
        wait = min(max_wait, deadline - time.monotonic())
        if wait <= 0:
            return False
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(1 << 18)
        except socket.timeout:
            return False
        except OSError as e:
            raise ConnectionGone(str(e))
        now = time.time_ns()
        if not data:
            raise ConnectionGone("closed by the server")
        self.handle(self.leftover + data if self.leftover else data, now)
        self.flush()
        return True

    def handle(self, buf, now):
        mv = memoryview(buf)
        off, end = 0, len(buf)
        streams = self.streams
        while end - off >= 9:
            hi, lo, ftype, flags, sid = HDR.unpack_from(buf, off)
            length = (hi << 8) | lo
            if end - off - 9 < length:
                break
            p0 = off + 9
            off = p0 + length
            sid &= 0x7FFFFFFF
            self.frames_in += 1
            if ftype == DATA:
                self.conn_unacked += length
                if self.conn_unacked >= self.conn_window >> 2:
                    self.pending.append(window_update(0, self.conn_unacked))
                    self.conn_unacked = 0
                s = streams.get(sid)
                if s is None:
                    continue
                s.received += length
                if s.first_data_ns is None:
                    s.first_data_ns = now
                if s.reading:
                    s.unacked += length
                    if s.unacked >= self.stream_window >> 2 and not flags & F_END_STREAM:
                        self.pending.append(window_update(sid, s.unacked))
                        s.unacked = 0
                if s.on_data is not None:
                    a, b = p0, off
                    if flags & F_PADDED and length:
                        a, b = p0 + 1, off - buf[p0]
                    s.on_data(s, mv[a:b], now)
                if flags & F_END_STREAM:
                    s.ended, s.end_ns = True, now
            elif ftype == HEADERS or ftype == CONTINUATION:
                if ftype == HEADERS:
                    a, b = p0, off
                    if flags & F_PADDED:
                        a, b = a + 1, b - buf[p0]
                    if flags & F_PRIORITY:
                        a += 5
                    self.block = (sid, bytes(mv[a:b]), bool(flags & F_END_STREAM))
                elif self.block is not None:
                    self.block = (self.block[0], self.block[1] + bytes(mv[p0:off]), self.block[2])
                if flags & F_END_HEADERS and self.block is not None:
                    bsid, block, end_stream = self.block
                    self.block = None
                    headers = self.decoder.decode(block)
                    s = streams.get(bsid)
                    if s is not None:
                        s.headers.extend(headers)
                        for k, v in headers:
                            if k == ":status" and s.status is None:
                                s.status = int(v)
                        if end_stream:
                            s.ended, s.end_ns = True, now
            elif ftype == RST_STREAM:
                s = streams.get(sid)
                if s is not None:
                    s.reset = struct.unpack_from(">I", buf, p0)[0]
                    s.end_ns = now
            elif ftype == SETTINGS:
                if not flags & F_ACK:
                    self.pending.append(frame(SETTINGS, F_ACK, 0))
            elif ftype == PING:
                if not flags & F_ACK:
                    self.pending.append(frame(PING, F_ACK, 0, bytes(mv[p0:off])))
            elif ftype == GOAWAY:
                last, code = struct.unpack_from(">II", buf, p0)
                self.goaway = (last & 0x7FFFFFFF, code)
        self.leftover = bytes(mv[off:]) if off < end else b""


def parse_target(s):
    host, _, port = s.rpartition(":")
    return host or "127.0.0.1", int(port)


def error_name(code):
    return ERRORS.get(code, "0x%x" % code) if code is not None else "-"
