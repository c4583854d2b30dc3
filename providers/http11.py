"""Upstream HTTP/1.1 connections whose responses llhttp parses (httptools), on asyncio's transports.

httpcore's own HTTP/1.1 connection parses each response with h11, in Python, on the task that
reads: under a token-paced stream about a fifth of the gateway's CPU went to h11's state machine
and to httpcore's receive loop around it (bench/README.md, session 7). Here the socket's protocol
hands every piece that arrives straight to llhttp, the C parser uvicorn and aiohttp use (through
httptools); llhttp calls back with the head and with body pieces, which wait in a queue until the
response's body iterator takes them, all of what is queued at once.

What stays as it was:
- requests are framed by h11 (its header validation refuses CR/LF in names and values, and its
  framing picks Content-Length or chunked);
- the interface is the part of httpcore's ``AsyncHTTPConnection`` that ``LeanPool`` uses, and the
  errors are httpcore's, so httpx maps them as before;
- TLS goes through ``loop.start_tls`` with httpx's SSL context (ALPN ``http/1.1``), so
  certificate checks are unchanged;
- flow control: the socket's reading pauses once ``READ_LIMIT`` body bytes wait unread; a write
  waits for the transport to drain.

A response's head is bounded (``MAX_HEAD``, httpcore's h11 limit); 1xx heads are skipped; a body
that ends at EOF is complete only when it was sent without a length; any other EOF before the end
is a ``RemoteProtocolError``. A connection is reused only when its last response was complete,
kept alive by both sides, and nothing arrived on it while it sat idle.
"""

# ruff: noqa: ASYNC109 - the timeouts come from httpx's per-request extensions
from __future__ import annotations

import asyncio
import collections
import ssl
import time
import typing

import h11
import httpcore
import httptools

READ_LIMIT = 256 * 1024  # body bytes waiting unread before the socket's reading is paused
MAX_HEAD = 100 * 1024  # bytes of a response head (status line and headers), as httpcore allows h11

_NEW, _ACTIVE, _IDLE, _CLOSED = range(4)


class _Protocol(asyncio.Protocol):
    """One connection's socket callbacks and llhttp's parser callbacks."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.eof = False
        self.error: Exception | None = None
        self.reading_paused = False
        self.writing_paused = False
        self.stray = False  # bytes arrived while no response was expected: never reuse
        self._reader: asyncio.Future[bool] | None = None
        self._deadline = 0.0  # loop time by which the waiting read must be woken
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._deadline_timer_at = 0.0
        self._writer: asyncio.Future[bool] | None = None
        self.begin(head_request=False)  # the response fields, blank
        self.expecting = False  # until the first request is sent: bytes before it are stray

    def begin(self, *, head_request: bool) -> None:
        """Expect the next response (``head_request``: it has no body, whatever it says)."""
        self.expecting = True
        self.head_request = head_request
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.done = False
        self.keep_alive = False
        self.sized = False  # Content-Length or chunked: an EOF before the end cuts the body short
        self.head_bytes = 0
        self.body: collections.deque[bytes] = collections.deque()
        self.body_bytes = 0

    # --- asyncio's callbacks ---
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self.expecting or self.error is not None:
            self.stray = True
            return
        if not self.head_done:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpcore.RemoteProtocolError("the upstream switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(httpcore.RemoteProtocolError(f"malformed response from the upstream: {exc}"))
        if not self.head_done and self.head_bytes > MAX_HEAD and self.error is None:
            self._fail(httpcore.RemoteProtocolError(f"response head larger than {MAX_HEAD} bytes"))
        if self.body_bytes > READ_LIMIT and not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake(self._reader)

    def eof_received(self) -> bool | None:
        self._ended(None)
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)
        self.stop_timer()
        self.writing_paused = False
        self._wake(self._writer)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake(self._writer)

    # --- llhttp's callbacks (from inside feed_data) ---
    def on_message_begin(self) -> None:
        if not self.expecting:
            self.stray = True

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.expecting or self.head_done:  # after the head: a chunked body's trailers (dropped, as httpcore does)
            return
        self.headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length" or (lowered == b"transfer-encoding" and b"chunked" in value.lower()):
            self.sized = True

    def on_headers_complete(self) -> None:
        if not self.expecting:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:  # informational: the real head follows
            self.reason = b""
            self.headers = []
            self.sized = False
            return
        self.status = status
        self.head_done = True
        if self.head_request or status in (204, 304):
            self.sized = True
        if self.head_request:  # llhttp cannot be told; the body it expects is never sent
            self._complete(keep_alive=False)

    def on_body(self, body: bytes) -> None:
        if self.expecting and self.head_done:
            self.body.append(body)
            self.body_bytes += len(body)

    def on_message_complete(self) -> None:
        if self.expecting and self.head_done:
            self._complete(keep_alive=self.parser.should_keep_alive())

    # --- state ---
    def _complete(self, *, keep_alive: bool) -> None:
        self.done = True
        self.keep_alive = keep_alive
        self.expecting = False

    def _ended(self, exc: Exception | None) -> None:
        self.eof = True
        if self.expecting and self.error is None:
            if self.head_done and not self.sized:  # a body without a length ends where the connection does
                self._complete(keep_alive=False)
            elif self.head_done:
                self._fail(httpcore.RemoteProtocolError(
                    "peer closed connection without sending complete message body"))
            else:
                self._fail(httpcore.RemoteProtocolError("Server disconnected without sending a response."))
            if exc is not None and self.error is not None:
                self.error.__cause__ = exc
        self._wake(self._reader)

    def _fail(self, error: Exception) -> None:
        self.error = error
        self.expecting = False
        if self.transport is not None:
            self.transport.close()

    @staticmethod
    def _wake(waiter: asyncio.Future[bool] | None) -> None:
        if waiter is not None and not waiter.done():
            waiter.set_result(False)

    def raise_error(self) -> typing.NoReturn:
        assert self.error is not None
        raise type(self.error)(str(self.error)) from self.error.__cause__

    async def wait_readable(self, timeout: float | None) -> None:
        """Until bytes, the end or an error arrive; ``ReadTimeout`` after ``timeout`` seconds.

        A paced stream waits once per chunk, so the timeout costs no timer per wait: one timer per
        connection stands at the earliest deadline and, when it fires early (the read it was set
        for was answered), re-arms itself at the current wait's deadline."""
        loop = self.loop
        waiter = self._reader = loop.create_future()
        if timeout is not None:
            self._deadline = deadline = loop.time() + timeout
            if self._deadline_timer is None or self._deadline_timer_at > deadline:
                self._arm(deadline)
        try:
            timed_out = await waiter
        finally:
            self._reader = None
        if timed_out:
            raise httpcore.ReadTimeout("timed out")

    def _arm(self, at: float) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
        self._deadline_timer = self.loop.call_at(at, self._deadline_passed)
        self._deadline_timer_at = at

    def _deadline_passed(self) -> None:
        self._deadline_timer = None
        waiter = self._reader
        if waiter is None or waiter.done():
            return  # no read waits: the next wait arms a timer again
        if self.loop.time() >= self._deadline:
            waiter.set_result(True)
        else:
            self._arm(self._deadline)

    def stop_timer(self) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None

    async def wait_writable(self, timeout: float | None) -> None:
        self._writer = self.loop.create_future()
        try:
            await _wait_for_wake(self.loop, self._writer, timeout, httpcore.WriteTimeout)
        finally:
            self._writer = None

    def take_body(self) -> bytes:
        """Every body byte that has arrived, as one piece."""
        body = self.body
        data = body.popleft() if len(body) == 1 else b"".join(body)
        body.clear()
        self.body_bytes = 0
        if self.reading_paused and self.transport is not None and not self.transport.is_closing():
            self.reading_paused = False
            self.transport.resume_reading()
        return data


async def _wait_for_wake(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[bool], timeout: float | None,
                        error: type[Exception]) -> None:
    """Until the protocol wakes ``waiter``; ``error`` after ``timeout`` seconds (None: no limit).
    One timer a wait, cancelled when the wake comes first."""
    if timeout is None:
        await waiter
        return
    timer = loop.call_later(timeout, _expire, waiter)
    try:
        timed_out = await waiter
    finally:
        timer.cancel()
    if timed_out:
        raise error("timed out")


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(True)


class _StreamInfo:
    """``response.extensions["network_stream"]``: the connection's socket details, as httpcore gives."""

    def __init__(self, protocol: _Protocol) -> None:
        self._protocol = protocol

    def get_extra_info(self, info: str) -> typing.Any:
        transport = self._protocol.transport
        if transport is None:
            return None
        name = {"ssl_object": "ssl_object", "client_addr": "sockname", "server_addr": "peername",
                "socket": "socket"}.get(info)
        return transport.get_extra_info(name) if name else None


class _ResponseBody:
    """The response body as httpcore hands it on: an async iterable with ``aclose``."""

    def __init__(self, connection: Http11Connection, protocol: _Protocol, read_timeout: float | None) -> None:
        self._connection = connection
        self._protocol = protocol
        self._timeout = read_timeout

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        p = self._protocol
        while True:
            if p.body:
                yield p.take_body()
            elif p.done:
                return
            elif p.error is not None:
                p.raise_error()
            else:
                await p.wait_readable(self._timeout)

    async def aclose(self) -> None:
        self._connection.response_closed()


class Http11Connection:
    """One HTTP/1.1 connection to ``origin``, opened on its first request; one request at a time."""

    def __init__(self, origin: httpcore.Origin, ssl_context: ssl.SSLContext | None,
                 keepalive_expiry: float | None) -> None:
        self.origin = origin
        self._ssl_context = ssl_context
        self._keepalive_expiry = keepalive_expiry
        self._protocol: _Protocol | None = None
        self._state = _NEW
        self._expire_at: float | None = None

    # --- what LeanPool asks ---
    def is_closed(self) -> bool:
        return self._state == _CLOSED

    def is_idle(self) -> bool:
        return self._state == _IDLE

    def is_available(self) -> bool:
        return self._state == _NEW or (self._state == _IDLE and not self.has_expired())

    def has_expired(self) -> bool:
        if self._state != _IDLE:
            return False
        p = self._protocol
        if p is None or p.eof or p.stray or p.error is not None:
            return True
        return self._expire_at is not None and time.monotonic() > self._expire_at

    async def aclose(self) -> None:
        self._close()

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if not self.is_available():
            raise httpcore.ConnectionNotAvailable()
        timeouts = request.extensions.get("timeout", {})
        if self._protocol is None:
            self._protocol = await self._connect(request, timeouts.get("connect"))
        self._state = _ACTIVE
        p = self._protocol
        p.begin(head_request=request.method == b"HEAD")
        try:
            await self._send(p, request, timeouts.get("write"))
            read_timeout = timeouts.get("read")
            while not p.head_done:
                if p.error is not None:
                    p.raise_error()
                await p.wait_readable(read_timeout)
        except BaseException:
            self._close()
            raise
        return httpcore.Response(
            status=p.status, headers=p.headers, content=_ResponseBody(self, p, read_timeout),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": p.reason.strip(),
                        "network_stream": _StreamInfo(p)},
        )

    def response_closed(self) -> None:
        p = self._protocol
        if self._state != _ACTIVE or p is None:
            return
        # The read timer stays: it lapses by itself (no read waits when it fires), or serves the next request.
        if p.done and p.keep_alive and not p.body and not p.stray and p.error is None and not p.eof:
            self._state = _IDLE
            expiry = self._keepalive_expiry
            self._expire_at = None if expiry is None else time.monotonic() + expiry
        else:
            self._close()

    # --- inside ---
    def _close(self) -> None:
        self._state = _CLOSED
        p = self._protocol
        if p is not None and p.transport is not None and not p.transport.is_closing():
            p.transport.close()

    async def _connect(self, request: httpcore.Request, timeout: float | None) -> _Protocol:
        loop = asyncio.get_running_loop()
        host = self.origin.host.decode("ascii")
        port = self.origin.port
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(lambda: _Protocol(loop), host, port)
                if self.origin.scheme == b"https":
                    assert self._ssl_context is not None
                    sni = request.extensions.get("sni_hostname") or host
                    try:
                        tls = await loop.start_tls(transport, protocol, self._ssl_context, server_hostname=sni)
                    except BaseException:
                        transport.close()
                        raise
                    if tls is None:
                        raise httpcore.ConnectError("the connection closed during the TLS handshake")
                    protocol.transport = tls
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return protocol

    async def _send(self, p: _Protocol, request: httpcore.Request, timeout: float | None) -> None:
        framing = h11.Connection(h11.CLIENT)
        try:
            head = framing.send(h11.Request(method=request.method, target=request.url.target,
                                            headers=request.headers))
        except h11.LocalProtocolError as exc:
            raise httpcore.LocalProtocolError(str(exc)) from exc
        assert head is not None
        pending: list[bytes] = [head]
        assert isinstance(request.stream, typing.AsyncIterable)
        async for piece in request.stream:
            if piece:
                pending.extend(framing.send_with_data_passthrough(h11.Data(data=piece)) or ())
                if not await self._write(p, pending, timeout):
                    return
                pending = []
        pending.extend(framing.send_with_data_passthrough(h11.EndOfMessage()) or ())
        await self._write(p, pending, timeout)

    async def _write(self, p: _Protocol, pieces: list[bytes], timeout: float | None) -> bool:
        """Write ``pieces``; False when the upstream already answered and closed (an early response)."""
        transport = p.transport
        if transport is None or transport.is_closing() or p.error is not None or p.eof:
            if p.head_done:
                return False
            if p.error is not None:
                p.raise_error()
            raise httpcore.WriteError("the upstream closed the connection")
        transport.writelines(pieces)
        while p.writing_paused and not p.eof:
            await p.wait_writable(timeout)
        return True
