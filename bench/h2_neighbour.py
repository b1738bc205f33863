#!/usr/bin/python3
"""A stopped reader's neighbour on one HTTP/2 connection (the h2streams section of bench/run.sh,
issue 13): does a stream whose reader stopped slow down the other streams of its connection?

  h2_neighbour.py --target HOST:PORT --path /dl --size BYTES [--stopped] [--stream-window B]
                  [--conn-window B] [--deadline S]

One h2c connection (prior knowledge, bench/h2_wire.py) to the proxy at --target. The client
announces SETTINGS_INITIAL_WINDOW_SIZE --stream-window (default 1 MiB) and raises the connection
window to --conn-window (default 16 MiB).

  --stopped  stream A: GET --path, whose reader never reads: A's stream window is never returned
             (no WINDOW_UPDATE on A), so the proxy may send A at most one stream window and
             must then hold A's response (and stop reading A's upstream) for as long as the
             client does not read. The probe waits until A has received that window (or
             for 3 s), then starts B.
  always     stream B: GET --path, read as fast as the client can, its stream window returned a
             quarter at a time; B's rate is its body bytes over the time from its request to
             its END_STREAM. The body must be --size bytes.

Fairness: the connection window is returned for every DATA byte received, A's included, as an
HTTP/2 client with a per-stream receive buffer does (RFC 9113 5.2: the connection window covers
what the connection has buffered; A's bytes sit in A's buffer and cost the connection nothing
more). A client that kept A's bytes out of the connection window would lower B's ceiling by at
most one stream window by its own choice; returning them keeps the measurement about the proxy:
with flow control honoured per stream, the only thing A may take from B is the proxy's own
resources (buffers, its one thread's time, its upstream connections), which is what the ratio of
B's rate with A stopped to B's rate alone (--stopped off, the same connection setup) shows.
The client is pure Python on one core, so B's rate is bounded by the client as much as by the
proxy; the ratio compares like with like.

Prints one line: "<B_MBps> <B_bytes> <A_bytes> <A_state>" where A_state is "open" (A still
waiting, as it should be), "-" (no A) or what happened to it ("reset:CODE", "ended",
"goaway:CODE"); "nan ..." and exit status 1 if B did not complete (status, reset or the
deadline are named on stderr).
"""
import argparse
import sys
import time

sys.dont_write_bytecode = True  # no bench/__pycache__ from importing h2_wire
import h2_wire  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--path", default="/dl")
    ap.add_argument("--size", type=int, required=True, help="expected body bytes of --path")
    ap.add_argument("--stopped", action="store_true", help="stream A, whose reader stopped, first")
    ap.add_argument("--stream-window", type=int, default=1 << 20)
    ap.add_argument("--conn-window", type=int, default=16 << 20)
    ap.add_argument("--deadline", type=float, default=60)
    a = ap.parse_args()
    host, port = h2_wire.parse_target(a.target)
    deadline = time.monotonic() + a.deadline
    try:
        conn = h2_wire.Conn(host, port, stream_window=a.stream_window, conn_window=a.conn_window)
    except OSError as e:
        print("h2_neighbour: %s: %s" % (a.target, e), file=sys.stderr)
        print("nan 0 0 -")
        return 1
    sa, sb = None, None
    rate = float("nan")
    try:
        if a.stopped:
            sa = conn.request(a.path, reading=False)
            wait = min(deadline, time.monotonic() + 3)
            # Until A has its whole window, or nothing more came for 0.3 s after some data.
            while (sa.received < a.stream_window and sa.reset is None and not sa.ended
                   and time.monotonic() < wait):
                if not conn.pump(wait, max_wait=0.3) and sa.received:
                    break
        sb = conn.request(a.path)
        t0 = time.monotonic()
        while not sb.ended and sb.reset is None and time.monotonic() < deadline:
            conn.pump(deadline)
            if conn.goaway is not None and conn.goaway[0] < sb.id:
                break
        t1 = time.monotonic()
        if sb.ended and sb.status == 200 and sb.received == a.size:
            rate = sb.received / (t1 - t0) / 1e6
        else:
            print("h2_neighbour: B: status %s, %d of %d bytes, reset %s, %s" % (
                sb.status, sb.received, a.size, h2_wire.error_name(sb.reset),
                "ended" if sb.ended else "deadline"), file=sys.stderr)
    except (h2_wire.ConnectionGone, OSError) as e:
        print("h2_neighbour: connection: %s" % e, file=sys.stderr)
    if sa is None:
        state = "-"
    elif sa.reset is not None:
        state = "reset:" + h2_wire.error_name(sa.reset)
    elif sa.ended:
        state = "ended"
    elif conn.goaway is not None:
        state = "goaway:" + h2_wire.error_name(conn.goaway[1])
    else:
        state = "open"
    if sa is not None and not sa.ended and sa.reset is None:
        conn.reset(sa.id)
    conn.close()
    print("%.1f %d %d %s" % (rate, sb.received if sb else 0, sa.received if sa else 0, state))
    return 0 if rate == rate else 1


if __name__ == "__main__":
    sys.exit(main())
