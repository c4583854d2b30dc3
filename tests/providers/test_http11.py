"""providers.http11: upstream HTTP/1.1 responses parsed by llhttp as they arrive.

Two layers:
- the protocol fed recorded responses split at every byte offset (one piece, two pieces, one
  byte at a time), checking head, body and completion against a table;
- the connection against real loopback servers: reuse, close rules, errors, request framing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpcore
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.http11 import Http11Connection, _Protocol
from providers.transport import NoCookieJar, UpstreamTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

# (name, raw response, status, headers, body, keep-alive, ends at EOF)
RESPONSES = [
    ("content-length", b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
     200, [(b"Content-Type", b"text/plain"), (b"Content-Length", b"11")], b"hello world", True, False),
    ("chunked with extension and trailer",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"6;x=1\r\nevent:\r\n10\r\n message_start\n\n\r\n0\r\nX-Trailer: t\r\n\r\n",
     200, [(b"Transfer-Encoding", b"chunked")], b"event: message_start\n\n", True, False),
    ("early hints first",
     b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
     201, [(b"Content-Length", b"2")], b"ok", True, False),
    ("no content", b"HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n", 204, [(b"Server", b"x")], b"", True, False),
    ("connection close", b"HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Length: 4\r\n\r\nslow",
     429, [(b"Connection", b"close"), (b"Content-Length", b"4")], b"slow", False, False),
    ("body until EOF", b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\ndata: 2\n\n",
     200, [(b"Content-Type", b"text/event-stream")], b"data: 1\n\ndata: 2\n\n", False, True),
    ("HTTP/1.0", b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc", 200, [(b"Content-Length", b"3")], b"abc",
     False, False),
]


def splits(raw: bytes) -> list[list[bytes]]:
    """The response whole, in two pieces at every offset, and one byte at a time."""
    return [[raw]] + [[raw[:i], raw[i:]] for i in range(1, len(raw))] + [[raw[i:i + 1] for i in range(len(raw))]]


def fed(pieces: list[bytes], *, eof: bool) -> tuple[_Protocol, bytes]:
    p = _Protocol(asyncio.new_event_loop())
    p.begin(head_request=False)
    body = b""
    for piece in pieces:
        p.data_received(piece)
        if p.body:
            body += p.take_body()
    if eof:
        p.eof_received()
    if p.body:
        body += p.take_body()
    p.loop.close()
    return p, body


@pytest.mark.parametrize(("name", "raw", "status", "headers", "body", "keep_alive", "eof"), RESPONSES,
                         ids=[r[0] for r in RESPONSES])
def test_each_recorded_response_parses_the_same_at_every_chunk_boundary(name, raw, status, headers, body,
                                                                        keep_alive, eof):
    for pieces in splits(raw):
        p, got = fed(pieces, eof=eof)
        assert p.error is None, (name, pieces)
        assert (p.status, p.headers, got, p.done, p.keep_alive) == (status, headers, body, True, keep_alive), pieces
        assert not p.stray


@pytest.mark.parametrize(("raw", "message"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "without sending complete message body"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "without sending complete message body"),
    (b"HTTP/1.1 200 OK\r\nContent-Le", "without sending a response"),
    (b"", "without sending a response"),
])
def test_an_eof_before_the_end_is_a_protocol_error_at_every_boundary(raw, message):
    for pieces in splits(raw) if raw else [[]]:
        p, _ = fed(pieces, eof=True)
        assert isinstance(p.error, httpcore.RemoteProtocolError) and message in str(p.error)
        assert not p.done


@pytest.mark.parametrize("raw", [
    b"SMTP ready\r\n\r\n",
    b"HTTP/1.1 2x0 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
])
def test_garbage_is_a_protocol_error_not_a_response(raw):
    p, _ = fed([raw], eof=False)
    assert isinstance(p.error, httpcore.RemoteProtocolError) and "malformed response" in str(p.error)
    assert not p.head_done or not p.done


def test_a_head_larger_than_the_limit_is_refused():
    p, _ = fed([b"HTTP/1.1 200 OK\r\n"] + [b"X-Pad: " + b"a" * 1000 + b"\r\n"] * 120, eof=False)
    assert isinstance(p.error, httpcore.RemoteProtocolError) and "larger than" in str(p.error)


def test_bytes_after_the_response_mark_the_connection_unusable():
    p, body = fed([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n"], eof=False)
    assert (p.done, body, p.stray) == (True, b"ok", True)
    p2, _ = fed([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"], eof=False)
    p2.data_received(b"late")
    assert p2.stray


def test_a_head_request_ends_at_its_head():
    p = _Protocol(asyncio.new_event_loop())
    p.begin(head_request=True)
    p.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    assert (p.head_done, p.done, p.keep_alive, p.error) == (True, True, False, None)
    p.loop.close()


# --- the connection against real servers ---

@contextlib.asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[tuple[int, list[int]]]:
    """(port, connections): ``connections`` counts the accepted connections."""
    connections: list[int] = []

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await handler(reader, writer)
        writer.close()

    server = await asyncio.start_server(counted, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], connections
    finally:
        server.close()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(head, body) of one request: Content-Length or chunked."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = {k.strip().lower(): v.strip() for k, _, v in
             (line.partition(b":") for line in head.split(b"\r\n")[1:] if line)}
    if b"content-length" in lines:
        return head, await reader.readexactly(int(lines[b"content-length"]))
    body = b""
    if lines.get(b"transfer-encoding") == b"chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            body += (await reader.readexactly(size + 2))[:-2]
            if size == 0:  # no trailers: its CRLF was the last two bytes read
                break
    return head, body


def client(timeout: float = 2.0) -> httpx.AsyncClient:
    transport = UpstreamTransport(httpx.Limits(max_connections=4, max_keepalive_connections=4))
    return httpx.AsyncClient(transport=transport, cookies=NoCookieJar(), timeout=timeout)


@pytest.mark.asyncio
async def test_keep_alive_reuses_one_connection_and_close_opens_a_new_one():
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, _ = await read_request(reader)
            close = b"/close" in head.split(b"\r\n")[0]
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n%s\r\nok"
                         % (b"Connection: close\r\n" if close else b""))
            await writer.drain()
            if close:
                return

    async with serving(answer) as (port, connections), client() as http:
        for path in ("/a", "/b", "/c"):
            assert (await http.get(f"http://127.0.0.1:{port}{path}")).text == "ok"
        assert len(connections) == 1
        assert (await http.get(f"http://127.0.0.1:{port}/close")).text == "ok"
        assert (await http.get(f"http://127.0.0.1:{port}/d")).text == "ok"
        assert len(connections) == 2


@pytest.mark.asyncio
async def test_a_streamed_request_body_is_sent_chunked_and_a_sized_one_as_is():
    seen: list[tuple[bytes, bytes]] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, body = await read_request(reader)
            seen.append((head, body))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()

    async def pieces() -> AsyncIterator[bytes]:
        for part in (b"one ", b"", b"two ", b"three"):
            yield part

    async with serving(echo) as (port, _), client() as http:
        assert (await http.post(f"http://127.0.0.1:{port}/", content=pieces())).content == b"one two three"
        assert (await http.post(f"http://127.0.0.1:{port}/", content=b"sized")).content == b"sized"
    assert b"transfer-encoding: chunked" in seen[0][0].lower()
    assert b"content-length: 5" in seen[1][0].lower()


@pytest.mark.asyncio
async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent():
    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.read(1) == b""  # nothing arrives: the client gave up before writing

    async with serving(never) as (port, _):
        connection = Http11Connection(httpcore.Origin(b"http", b"127.0.0.1", port), None, 5.0)
        request = httpcore.Request("GET", f"http://127.0.0.1:{port}/",
                                   headers=[(b"Host", b"127.0.0.1"), (b"X-Evil", b"a\r\nInjected: 1")])
        with pytest.raises(httpcore.LocalProtocolError):
            await connection.handle_async_request(request)
        assert connection.is_closed()


@pytest.mark.asyncio
async def test_body_pieces_arrive_as_they_are_sent_and_a_cut_stream_is_an_error():
    release = asyncio.Event()

    async def stream_then_cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nevent 1\r\n")
        await writer.drain()
        await asyncio.wait_for(release.wait(), 5)
        writer.write(b"7\r\nevent 2\r\n")
        await writer.drain()
        writer.transport.abort()

    async with serving(stream_then_cut) as (port, _), client() as http:
        got: list[bytes] = []
        with pytest.raises(httpx.RemoteProtocolError):
            async with http.stream("GET", f"http://127.0.0.1:{port}/") as response:
                async for part in response.aiter_raw():
                    got.append(part)
                    release.set()  # the first piece came before the server sent the second
        assert got == [b"event 1", b"event 2"]


@pytest.mark.asyncio
async def test_a_silent_upstream_mid_body_is_a_read_timeout():
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
        await writer.drain()
        await asyncio.sleep(3)

    async with serving(stall) as (port, _), client(timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"http://127.0.0.1:{port}/")


@pytest.mark.asyncio
async def test_the_read_timeout_counts_from_each_wait_not_from_the_first():
    """One timer per connection re-arms at each wait's deadline: pieces 0.1 s apart for 0.8 s pass a
    0.3 s read timeout, a stall then times out, and a shorter timeout on the reused connection
    still fires on time."""
    async def paced(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, _ = await read_request(reader)
            if b"/stall" in head.split(b"\r\n")[0]:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nx")
                await writer.drain()
                await asyncio.sleep(3)
                return
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(8):
                await asyncio.sleep(0.1)
                writer.write(b"1\r\n.\r\n")
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    async with serving(paced) as (port, connections), client(timeout=0.3) as http:
        assert (await http.get(f"http://127.0.0.1:{port}/paced")).content == b"." * 8
        assert (await http.get(f"http://127.0.0.1:{port}/paced", timeout=1.0)).content == b"." * 8
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"http://127.0.0.1:{port}/stall", timeout=0.2)
        assert loop.time() - started < 1.0
        assert len(connections) == 1  # the same connection throughout


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=300), cut=st.integers(min_value=0, max_value=300), eof=st.booleans())
def test_any_bytes_from_an_upstream_end_in_a_response_or_a_protocol_error(raw, cut, eof):
    """Whatever an upstream sends, the protocol never raises out of asyncio's callbacks: it ends
    with a response, a RemoteProtocolError, or (without EOF) still waiting for more."""
    for prefix in (b"", b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"):
        data = prefix + raw
        p, _ = fed([data[:cut], data[cut:]], eof=eof)
        assert p.error is None or isinstance(p.error, httpcore.RemoteProtocolError)
        if eof:
            assert p.done or p.error is not None
