#!/usr/bin/env python3
"""An independent WebSocket peer for redial's tests: Python's `websockets`, not
async-tungstenite. It serves fault scenarios chosen by the URL path:

  /1008        101, then close 1008 (policy violation) with an empty reason
  /1001        101, then close 1001 (going away) at once, on every connection
  /1012        101, then close 1012 (service restart)
  /1013        101, then close 1013 (try again later)
  /429         HTTP 429 with Retry-After: 1
  /401         HTTP 401
  /426         HTTP 426 (Upgrade Required)
  /stall       read the upgrade request, never answer
  /no-pong     101, then stop reading (pings go unanswered), send nothing
  /reason-123  101, then close 4000 with a reason of exactly 123 bytes (UTF-8)
  /no-status   101, then a close frame without status code (empty payload)
  anything else: echo

Usage: server.py [--port N]  (default 0: any free port). Listens on 127.0.0.1 only,
prints "PORT <n>" on stdout, and exits when its standard input ends (the test that
started it is gone) or after 10 minutes, whichever comes first.
"""

import argparse
import asyncio
import os
import sys

from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Response

# 61 two-byte characters and one ASCII byte: 123 bytes, the most a close frame holds.
REASON_123 = "é" * 61 + "!"
assert len(REASON_123.encode()) == 123

REJECT = {
    "/429": (429, "Too Many Requests", [("Retry-After", "1")]),
    "/401": (401, "Unauthorized", []),
    "/426": (426, "Upgrade Required", [("Upgrade", "websocket")]),
}

CLOSE = {
    "/1008": (1008, ""),
    "/1001": (1001, ""),
    "/1012": (1012, ""),
    "/1013": (1013, ""),
    "/reason-123": (4000, REASON_123),
}

MAX_LIFETIME = 600.0
STALL = 60.0


async def process_request(connection, request):
    path = request.path.split("?", 1)[0]
    if path in REJECT:
        status, phrase, extra = REJECT[path]
        headers = Headers([("Content-Length", "0")] + extra)
        return Response(status, phrase, headers, b"")
    if path == "/stall":
        # Never answer; the client times the handshake out and goes. Then end this
        # connection's task quietly (answering a closed connection would log errors).
        lost = asyncio.shield(connection.connection_lost_waiter)
        try:
            await asyncio.wait_for(lost, STALL)
        except asyncio.TimeoutError:
            pass
        raise asyncio.CancelledError
    return None


async def handler(ws):
    path = ws.request.path.split("?", 1)[0]
    if path in CLOSE:
        code, reason = CLOSE[path]
        await ws.close(code, reason)
    elif path == "/no-status":
        # `code=None`: the close frame carries no status code (RFC 6455 §5.5.1).
        await ws.close(code=None)
    elif path == "/no-pong":
        # Stop reading: the client's pings are never seen, so never answered.
        ws.transport.pause_reading()
        await asyncio.sleep(STALL)
    else:
        async for message in ws:
            await ws.send(message)


async def stdin_closed():
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.buffer.read)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    async with serve(
        handler,
        "127.0.0.1",
        args.port,
        process_request=process_request,
        # The server sends no pings of its own (they would count as traffic for the
        # client's liveness check) and never times a handshake out (for /stall).
        ping_interval=None,
        open_timeout=None,
        close_timeout=2,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        done = asyncio.ensure_future(stdin_closed())
        try:
            await asyncio.wait_for(done, MAX_LIFETIME)
        except asyncio.TimeoutError:
            pass
    # The stdin reader thread may still block: leave without waiting for it.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
