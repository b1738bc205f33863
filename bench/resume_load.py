#!/usr/bin/env python3
"""Keep-alive requests that each follow a pause (standard library only): what a request on a
parked connection costs the proxy (issue 15). Not part of bench/run.sh; run by hand:

  resume_load.py PORT CONNECTIONS GAP_S DURATION_S [PATH]

CONNECTIONS keep-alive connections to 127.0.0.1:PORT, each sending GET PATH (default /small),
reading the whole response (Content-Length), then sleeping GAP_S, until DURATION_S has passed.
With GAP_S above sluice's kParkAfter (10 ms) every request after the first wakes a parked
connection. Prints the number of responses read; the proxy's CPU per request is the caller's
to take (utime + stime from /proc/PID/stat before and after, over that number).
"""
import asyncio
import sys
import time

PORT, CONNS, GAP, DUR = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
PATH = sys.argv[5] if len(sys.argv) > 5 else "/small"
done = 0


async def one():
    global done
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    end = time.monotonic() + DUR
    request = f"GET {PATH} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    while time.monotonic() < end:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        done += 1
        await asyncio.sleep(GAP)
    writer.close()


async def main():
    await asyncio.gather(*[one() for _ in range(CONNS)])


asyncio.run(main())
print(done)
