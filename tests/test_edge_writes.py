"""The edge server's response writes (proxy_project/daphne_tuning.py DIRECT_WRITES), on a real
daphne with the edge classes in a fresh interpreter, driven over real sockets: bytes in order
whatever the socket takes, one write per chunk without a writer registration, a client that goes
away mid-stream."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.gateway import free_port

# Paths under /static/ skip the edge server's client-key check (proxy_project/handlers.py).
PROBE = r"""
import asyncio, json, socket, sys
import django
django.setup()
from proxy_project import daphne_tuning
daphne_tuning.DIRECT_WRITES = sys.argv[2] == "direct"
cli = daphne_tuning.edge_command_line()
from twisted.internet import reactor

stats = {"writer_registrations": 0, "disconnected": False, "forever_chunks": 0}
_add_writer = reactor.addWriter
def _counting_add_writer(writer):
    stats["writer_registrations"] += 1
    return _add_writer(writer)
reactor.addWriter = _counting_add_writer  # this probe's reactor only: counts what a write costs

BIG = [bytes([65 + i]) * (1 << 20) for i in range(3)]
SMALL = [b"%05d;" % i for i in range(200)]

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    kind = b"application/json" if path == "/static/stats" else b"text/plain"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", kind)]})
    body = lambda chunk: send({"type": "http.response.body", "body": chunk, "more_body": True})
    if path == "/static/stats":
        channels = [c for c in (getattr(r, "channel", None) for r in list(server.connections)) if c is not None]
        sockets = [c.transport.getHandle() for c in channels if c.transport.connected]
        stats["nodelay"] = [s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets]
        await send({"type": "http.response.body", "body": json.dumps(stats).encode()})
        return
    if path == "/static/big":  # MiBs the socket cannot take at once, then small writes behind them
        for chunk in BIG + SMALL:
            await body(chunk)
    elif path == "/static/paced":  # one small write at a time, as a token-paced stream writes
        for chunk in SMALL[:100]:
            await body(chunk)
            await asyncio.sleep(0.002)
    elif path == "/static/forever":  # until the client goes away (bounded)
        assert (await receive())["type"] == "http.request"  # the (empty) body; what follows is the end
        gone = asyncio.ensure_future(receive())
        for i in range(5000):
            if gone.done() and gone.result()["type"] == "http.disconnect":
                stats["disconnected"] = True
                return
            await body(b"%06d\n" % i)
            stats["forever_chunks"] = i + 1
            await asyncio.sleep(0.001)
    await send({"type": "http.response.body", "body": b""})

server = cli.server_class(application=app, endpoints=["tcp:port=%s:interface=127.0.0.1" % sys.argv[1]],
                          signal_handlers=False, verbosity=0, ready_callable=lambda: print("ready", flush=True))
server.run()
"""

BIG = b"".join(bytes([65 + i]) * (1 << 20) for i in range(3))
SMALL = [b"%05d;" % i for i in range(200)]


@pytest.fixture(params=["direct", "stock"])
def edge(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", PROBE, str(port), request.param], env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # the probe writes little
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "ready" once daphne listens (or EOF if it died)
        assert line.strip() == "ready", proc.stderr.read() if proc.stderr else ""
        yield request.param, port
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        print(err[-4000:])  # shown with a failure: the probe's tracebacks


def _get(port: int, path: str, *, rcvbuf: int = 0, stall: float = 0.0) -> bytes:
    """The decoded chunked body of GET path (the reader stalls ``stall`` s before reading)."""
    with socket.socket() as s:
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(20)
        s.connect(("127.0.0.1", port))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n".encode())
        time.sleep(stall)
        raw = bytearray()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            piece = s.recv(1 << 16)
            if not piece:
                break
            raw += piece
    head, _, rest = bytes(raw).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in head.lower(), head
    body = bytearray()
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return bytes(body)
        body += rest[:size]
        assert rest[size:size + 2] == b"\r\n"
        rest = rest[size + 2:]


def _stats(port: int) -> dict[str, Any]:
    return json.loads(_get(port, "/static/stats"))


def test_writes_keep_their_order_when_the_socket_takes_only_part(edge: tuple[str, int]) -> None:
    _, port = edge
    # a small receive buffer and a reader that waits: the first MiB is sent in part, the rest and
    # the 200 small writes behind it wait in Twisted's queue and must come out behind it
    assert _get(port, "/static/big", rcvbuf=16 * 1024, stall=0.3) == BIG + b"".join(SMALL)
    assert _get(port, "/static/big") == BIG + b"".join(SMALL)  # and with a reader that keeps up


def test_a_paced_write_goes_out_without_registering_the_socket_for_writing(edge: tuple[str, int]) -> None:
    mode, port = edge
    first = _stats(port)
    # writes that leave one by one are not held for the previous one's ACK (Twisted's channel
    # turns Nagle's algorithm off)
    assert first["nodelay"] == [1]
    before = first["writer_registrations"]
    assert _get(port, "/static/paced") == b"".join(SMALL[:100])
    registrations = int(_stats(port)["writer_registrations"]) - int(before)
    if mode == "direct":
        assert registrations < 10  # the head (queued by Twisted) and the stats answers, not 100 chunks
    else:
        assert registrations >= 100  # Twisted's own path: one per chunk (what DIRECT_WRITES saves)


def test_a_client_that_goes_away_mid_stream_ends_the_stream_and_the_server_serves_on(edge: tuple[str, int]) -> None:
    _, port = edge
    with socket.socket() as s:
        s.settimeout(10)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /static/forever HTTP/1.1\r\nHost: gw\r\n\r\n")
        got = b""
        while got.count(b"\n") < 20:
            piece = s.recv(4096)
            assert piece, got
            got += piece
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
    deadline = time.monotonic() + 10
    while not _stats(port)["disconnected"] and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = _stats(port)
    assert stats["disconnected"] and int(stats["forever_chunks"]) < 5000
    assert _get(port, "/static/big") == BIG + b"".join(SMALL)  # the server goes on serving
