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
  /subprotocol/none    101 without Sec-WebSocket-Protocol, whatever was offered; echo
  /subprotocol/bogus   101 with Sec-WebSocket-Protocol: chat.v3 (never offered); echo
  /subprotocol/switch  101 with the first subprotocol offered, then close 1001; on the
                       next connection the second one, then echo
  anything else: echo (subprotocols offered are ignored: none is chosen)

A second server, on the port of the second line, is websockets' own negotiation:
`serve(..., subprotocols=["chat.v2", "chat.v1"])` (the client's first offer it
supports; 400 when it offers none of them, or nothing), then echo.

Every WebSocket connection whose URL has a `run=<id>` query parameter is recorded
when it ends: the path, whether the client's close frame arrived (RFC 6455 §5.5.1:
a client that receives a close frame must answer it) and its code. `GET
/closes?run=<id>&n=<k>` answers those records as a JSON list, once k of them are in
(or after 5 s with what there is).

Usage: server.py [--port N]  (default 0: any free port). Listens on 127.0.0.1 only,
prints "PORT <n>" then "SUBPROTOCOLS_PORT <m>" on stdout, and exits when its standard input ends (the test that
started it is gone) or after 10 minutes, whichever comes first.
"""

import argparse
import asyncio
import json
import os
import sys
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError
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
RECORD_WAIT = 5.0

# run id -> the records of its connections, and a condition to wait on.
RECORDS = {}
RECORDED = asyncio.Condition()


def run_of(request):
    return parse_qs(urlsplit(request.path).query).get("run", [None])[0]


async def record(ws):
    """Records how the connection ended, once the closing handshake is over."""
    run = run_of(ws.request)
    if run is None:
        return
    await ws.wait_closed()
    rcvd = ws.protocol.close_rcvd
    entry = {
        "path": urlsplit(ws.request.path).path,
        "answered": rcvd is not None,
        "code": int(rcvd.code) if rcvd is not None else None,
    }
    async with RECORDED:
        RECORDS.setdefault(run, []).append(entry)
        RECORDED.notify_all()


async def closes(request):
    query = parse_qs(urlsplit(request.path).query)
    run, n = query["run"][0], int(query.get("n", ["1"])[0])
    try:
        async with RECORDED:
            await asyncio.wait_for(
                RECORDED.wait_for(lambda: len(RECORDS.get(run, [])) >= n), RECORD_WAIT
            )
    except asyncio.TimeoutError:
        pass
    body = json.dumps(RECORDS.get(run, [])).encode()
    headers = Headers([("Content-Length", str(len(body))), ("Content-Type", "application/json")])
    return Response(200, "OK", headers, body)


async def process_request(connection, request):
    path = request.path.split("?", 1)[0]
    if path == "/closes":
        return await closes(request)
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


# Connections of /subprotocol/switch so far.
SWITCHES = [0]


def select_subprotocol(connection, offered):
    path = connection.request.path.split("?", 1)[0]
    if path == "/subprotocol/bogus":
        return "chat.v3"
    if path == "/subprotocol/switch" and offered:
        SWITCHES[0] += 1
        return offered[min(SWITCHES[0] - 1, len(offered) - 1)]
    return None


async def handler(ws):
    try:
        await play(ws)
    except ConnectionClosedError:
        # A client refusing the 101's subprotocol fails the connection (RFC 6455 §4.1)
        # without a close frame; anything else is worth the log.
        if not ws.request.path.startswith("/subprotocol/"):
            raise
    finally:
        await record(ws)


async def play(ws):
    path = ws.request.path.split("?", 1)[0]
    if path in CLOSE:
        code, reason = CLOSE[path]
        await ws.close(code, reason)
    elif path == "/no-status":
        # `code=None`: the close frame carries no status code (RFC 6455 §5.5.1).
        await ws.close(code=None)
    elif path == "/subprotocol/switch" and SWITCHES[0] == 1:
        await ws.close(1001, "")
    elif path == "/no-pong":
        # Stop reading: the client's pings are never seen, so never answered.
        ws.transport.pause_reading()
        await asyncio.sleep(STALL)
    else:
        async for message in ws:
            await ws.send(message)


async def echo(ws):
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
        select_subprotocol=select_subprotocol,
        # The server sends no pings of its own (they would count as traffic for the
        # client's liveness check) and never times a handshake out (for /stall).
        ping_interval=None,
        open_timeout=None,
        close_timeout=2,
    ) as server, serve(
        echo,
        "127.0.0.1",
        0,
        subprotocols=["chat.v2", "chat.v1"],
        ping_interval=None,
        close_timeout=2,
    ) as negotiating:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        port = negotiating.sockets[0].getsockname()[1]
        print(f"SUBPROTOCOLS_PORT {port}", flush=True)
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
