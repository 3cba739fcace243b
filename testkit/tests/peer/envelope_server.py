#!/usr/bin/env python3
"""A server of redial's ready delivery protocol, the JSON envelope, written from its
documented wire format only (not from the Rust code), to show the two interoperate:

  client -> server  {"seq": 7, "text": "..."}   a numbered message
                    {"ack": 12}                 every server message up to 12 received
  server -> client  {"seq": 12, "text": "..."}  a numbered message of the server's own
                    {"ack": 7}                  every client message up to 7 (cumulative)
                    {"sack": [9, 10]}           these client messages (selective)

Numbers are unsigned 64-bit; this server takes them to start at 1 (the documented
format does not say where they start; see `first=` below). The server's "application" is a ledger
per run (the `run=<id>` query parameter): every client message is delivered to it at
most once, deduplicated by `seq`, and only what the ledger holds is ever acknowledged.

WebSocket (Python `websockets`), chosen by the URL path:

  /ws            deliver and acknowledge every message: `{"ack": m}` with m the
                 ledger's contiguous mark, and `{"sack": [seq]}` when seq lies above
                 a gap. With `total=K`, the server also sends its own numbered
                 messages 1..K (text "s<k>"), resuming after a reconnect from where the
                 client says it stands: the `after=` query parameter (a dial hook sets
                 it) or else the highest `{"ack": n}` the client sent in this run. With
                 `cut=C`, the run's first connection sends 1..C, waits for the client's
                 acknowledgement of C, and drops the TCP connection abruptly (RST).
                 With `overlap=O`, a resumed stream starts O messages early (an
                 at-least-once server that resends a little): the client must drop them.
                 With `first=F` (and no `cut`), the numbers start at F (e.g. 0), not 1.
                 With `ride`, every acknowledgement rides on a numbered message of the
                 server's, {"seq": k, "text": "r<k>", "ack": m}, one per message
                 delivered.
  /reset-half    with `n=N`: the run's first connection reads N/2 messages (they reach
                 the application) without acknowledging any, then drops the TCP
                 connection abruptly (RST); later connections behave as /ws.
  /flaky-ack     the application loses the first copy of every odd seq (neither
                 delivered nor acknowledged: only a resend gets it in); every message
                 it does deliver is acknowledged truthfully (`sack` of it, the
                 contiguous `ack`) and also with noise: the same acknowledgements
                 twice, acknowledgements of ids never assigned (`seq + 1000`, 2^64-1,
                 0) and malformed ones (negative, fractional, strings). With `fence=N`,
                 once every seq 1..N has arrived at least once, it sends the numbered
                 message {"seq": 1, "text": "fence"} (after all acknowledgements of
                 those arrivals, on the same connection).
  /refuse        101, then close 1008 (policy violation): the client falls back. With
                 `read=R`, the run's first connection first reads R messages (they
                 reach the application) without acknowledging them.
  /flip          the run's first connection as /refuse, the next ones as /ws (with
                 the same parameters): the client falls back, then comes back.

HTTP (plain http, the standard library), the fallback's side and the ledger:

  POST /sse      the body is one envelope. A numbered message is delivered (dedup by
                 seq) and acknowledged in the `text/event-stream` response; with
                 `emit=K`, the server's own numbered messages are released one more per
                 POST (up to K) and each response carries, as SSE events with an `id:`
                 field, the released ones after the request's `Last-Event-ID` (all of
                 them when it has none). Each POST's `Last-Event-ID` and the ids sent
                 are recorded.
  GET /ledger    `run=<id>`: the run's ledger as JSON (with `delivered=N`: once N
                 distinct messages are in, or after 5 s with what there is).

Usage: envelope_server.py. Listens on 127.0.0.1 only, prints "PORT <ws> <http>" on
stdout, and exits when its standard input ends (the test that started it is gone) or
after 10 minutes, whichever comes first.
"""

import asyncio
import json
import os
import socket
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

MAX_LIFETIME = 600.0
LEDGER_WAIT = 5.0
U64_MAX = 2**64 - 1

LOCK = threading.Lock()
CHANGED = threading.Condition(LOCK)
RUNS = {}


class Run:
    """One test's state: the application's ledger and what the server saw."""

    def __init__(self):
        # seq -> {"text", "via", "copies"}: delivered once; `copies` counts every
        # arrival (resends included).
        self.delivered = {}
        # seqs whose first copy the flaky application lost.
        self.lost_once = set()
        self.seen = set()
        self.frames = 0
        self.connections = 0
        self.dials = []
        self.client_acks = []
        self.posts = []
        self.fence_sent = False
        # Numbered replies sent in ride mode.
        self.replies = 0
        # WebSocket side only (the event loop's thread).
        self.ack_event = None

    def contiguous(self):
        n = 0
        while n + 1 in self.delivered:
            n += 1
        return n

    def client_ack(self):
        return max(self.client_acks, default=0)

    def to_json(self):
        return {
            "delivered": {str(k): v for k, v in sorted(self.delivered.items())},
            "lost_once": sorted(self.lost_once),
            "frames": self.frames,
            "connections": self.connections,
            "dials": self.dials,
            "client_acks": self.client_acks,
            "posts": self.posts,
            "fence_sent": self.fence_sent,
        }


def run_of(query):
    name = query.get("run", ["default"])[0]
    with LOCK:
        return RUNS.setdefault(name, Run())


def u64(value):
    """An envelope number: an unsigned 64-bit integer (JSON booleans are not)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= U64_MAX:
        return value
    return None


def parse(text):
    try:
        v = json.loads(text)
    except ValueError:
        return None
    return v if isinstance(v, dict) else None


def receive(run, seq, text, via, lose_odd=False):
    """A numbered client message arrived: deliver it unless already delivered (or the
    flaky application loses this first copy). True when the ledger has it."""
    with CHANGED:
        run.frames += 1
        first = seq not in run.seen
        run.seen.add(seq)
        if seq in run.delivered:
            run.delivered[seq]["copies"] += 1
            return True
        if lose_odd and first and seq % 2 == 1:
            run.lost_once.add(seq)
            return False
        run.delivered[seq] = {"text": text, "via": via, "copies": 1}
        CHANGED.notify_all()
        return True


def acks_of(run, seq):
    """The truthful acknowledgements after seq was delivered."""
    with LOCK:
        mark = run.contiguous()
    out = [{"ack": mark}]
    if seq > mark:
        out.append({"sack": [seq]})
    return out


def noise(seq):
    """Acknowledgements of ids never assigned, and malformed ones."""
    return [
        {"sack": [seq + 1000]},
        {"sack": [U64_MAX, 0]},
        {"ack": U64_MAX},
        {"ack": 0},
        {"ack": -1},
        {"ack": 1.5},
        {"ack": str(seq)},
        {"sack": [-seq, "x", seq + 0.5]},
    ]


# ---- WebSocket ----------------------------------------------------------------


def reset(ws):
    """Drop the TCP connection abruptly: RST, no close frame."""
    sock = ws.transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()


async def send_json(ws, value):
    await ws.send(json.dumps(value))


async def stream(ws, run, query, index):
    """The server's own numbered messages, resumed where the client stands."""
    total = int(query["total"][0])
    cut = int(query.get("cut", ["0"])[0])
    overlap = int(query.get("overlap", ["0"])[0])
    after = query.get("after", [None])[0]
    if after is not None:
        start, source = int(after), "after"
    else:
        with LOCK:
            start, source = run.client_ack(), "ack"
    if index > 1:
        start = max(0, start - overlap)
    with LOCK:
        run.dials[-1].update({"resume": start, "source": source})
    last = cut if (cut and index == 1) else total
    # With `first=F` the numbers start at F instead of 1 (the texts still say 1..K).
    shift = int(query.get("first", ["1"])[0]) - 1
    for k in range(start + 1, last + 1):
        await send_json(ws, {"seq": k + shift, "text": f"s{k}"})
    if cut and index == 1:
        # Wait until the client acknowledged the cut, then drop the connection.
        while run.client_ack() < cut:
            run.ack_event.clear()
            await run.ack_event.wait()
        reset(ws)


async def handler(ws):
    split = urlsplit(ws.request.path)
    path, query = split.path, parse_qs(split.query)
    run = run_of(query)
    with LOCK:
        run.connections += 1
        index = run.connections
        run.dials.append({"path": path, "after": query.get("after", [None])[0]})
    if run.ack_event is None:
        run.ack_event = asyncio.Event()
    if path == "/flip":
        path = "/refuse" if index == 1 else "/ws"
    if path == "/refuse":
        # With `read=R`: first deliver R messages without acknowledging them.
        for _ in range(int(query.get("read", ["0"])[0]) if index == 1 else 0):
            env = parse(await ws.recv())
            seq = u64(env.get("seq")) if env else None
            if seq and isinstance(env.get("text"), str):
                receive(run, seq, env["text"], "ws")
        await ws.close(1008, "")
        return
    sender = None
    if path == "/ws" and "total" in query:
        sender = asyncio.create_task(stream(ws, run, query, index))
    half = None
    if path == "/reset-half" and index == 1:
        half = int(query.get("n", ["10"])[0]) // 2
    flaky = path == "/flaky-ack"
    ride = path == "/ws" and "ride" in query
    fence = int(query.get("fence", ["0"])[0]) if flaky else 0
    read = 0
    try:
        async for message in ws:
            if not isinstance(message, str):
                continue
            env = parse(message)
            if env is None:
                continue
            ack = u64(env.get("ack"))
            if ack is not None:
                with LOCK:
                    run.client_acks.append(ack)
                run.ack_event.set()
            seq, text = u64(env.get("seq")), env.get("text")
            if seq is None or seq == 0 or not isinstance(text, str):
                continue
            have = receive(run, seq, text, "ws", lose_odd=flaky)
            read += 1
            if half is not None:
                if read >= half:
                    reset(ws)
                    return
                continue
            if have and ride:
                # The acknowledgements ride on a numbered message of the server's.
                with LOCK:
                    run.replies += 1
                    reply = {"seq": run.replies, "text": f"r{run.replies}"}
                for a in acks_of(run, seq):
                    reply.update(a)
                await send_json(ws, reply)
            elif have:
                acks = acks_of(run, seq)
                for a in acks:
                    await send_json(ws, a)
                if flaky:
                    for a in acks + noise(seq):
                        await send_json(ws, a)
            elif flaky:
                for a in noise(seq):
                    await send_json(ws, a)
            if fence:
                with LOCK:
                    due = not run.fence_sent and all(
                        s in run.seen for s in range(1, fence + 1)
                    )
                    run.fence_sent |= due
                if due:
                    await send_json(ws, {"seq": 1, "text": "fence"})
    except ConnectionClosed:
        pass
    finally:
        if sender is not None:
            sender.cancel()


# ---- HTTP: the fallback's side and the ledger -----------------------------------


class Http(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def answer(self, status, ctype, body):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        split = urlsplit(self.path)
        query = parse_qs(split.query)
        if split.path != "/ledger":
            return self.answer(404, "text/plain", b"not found\n")
        run = run_of(query)
        want = int(query.get("delivered", ["0"])[0])
        with CHANGED:
            CHANGED.wait_for(lambda: len(run.delivered) >= want, LEDGER_WAIT)
            body = json.dumps(run.to_json()).encode()
        self.answer(200, "application/json", body)

    def do_POST(self):
        split = urlsplit(self.path)
        query = parse_qs(split.query)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode("utf-8", "replace")
        if split.path != "/sse":
            return self.answer(404, "text/plain", b"not found\n")
        run = run_of(query)
        emit = int(query.get("emit", ["0"])[0])
        last_id = self.headers.get("Last-Event-ID")
        events = []
        env = parse(body)
        if env is not None:
            ack = u64(env.get("ack"))
            if ack is not None:
                with LOCK:
                    run.client_acks.append(ack)
            seq, text = u64(env.get("seq")), env.get("text")
            if seq and isinstance(text, str) and receive(run, seq, text, "http"):
                events += [(None, a) for a in acks_of(run, seq)]
        with LOCK:
            released = min(emit, len(run.posts) + 1)
            # Resume after the client's Last-Event-ID (or its `{"ack": n}`).
            start = max(u64(int(last_id)) if last_id and last_id.isdigit() else 0,
                        run.client_ack())
            sent = list(range(start + 1, released + 1))
            run.posts.append({"last_event_id": last_id, "sent": sent, "body": body})
        events = [(k, {"seq": k, "text": f"s{k}"}) for k in sent] + events
        out = []
        for event_id, data in events:
            if event_id is not None:
                out.append(f"id: {event_id}\n")
            out.append(f"data: {json.dumps(data)}\n\n")
        self.answer(200, "text/event-stream", "".join(out).encode())


# ---- main -------------------------------------------------------------------------


async def stdin_closed():
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.buffer.read)


async def main():
    http = ThreadingHTTPServer(("127.0.0.1", 0), Http)
    http.daemon_threads = True
    threading.Thread(target=http.serve_forever, daemon=True).start()
    async with serve(
        handler,
        "127.0.0.1",
        0,
        # No pings of the server's own (they would count as traffic for the client's
        # liveness check).
        ping_interval=None,
        close_timeout=2,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port} {http.server_address[1]}", flush=True)
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
