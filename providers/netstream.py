"""httpcore's network layer on asyncio's own transports: ``AsyncioBackend``.

httpcore reads and writes upstream sockets through a public network-backend interface
(``httpcore.AsyncNetworkBackend`` / ``AsyncNetworkStream``); its default is AnyIO's. Every read
there passes a ``fail_after`` cancel scope, an exception map and a sniffio lookup of the running
event loop: measured under a token-paced stream, about a tenth of the gateway's CPU went to
AnyIO's read alone. The gateway only ever runs on asyncio, so this backend reads from an asyncio
``Protocol`` into a buffer: a read that finds bytes waiting returns them at once, a read that must
wait parks on one future with one timer for its timeout. TLS goes through ``loop.start_tls``
(the SSL context is httpx's, as before), so certificate checks are unchanged.

Flow control: the protocol pauses the socket's reading once READ_LIMIT bytes are buffered and
resumes when a read drains it; writes wait for ``resume_writing`` when the transport's buffer is
full. EOF and resets surface as httpcore's own errors, so httpx maps them as it always does.
"""

# ruff: noqa: ASYNC109 - httpcore's backend interface passes a timeout to each call
from __future__ import annotations

import asyncio
import socket
import ssl
import typing
from collections.abc import Iterable

import httpcore

READ_LIMIT = 256 * 1024  # buffered, unread bytes before the socket's reading is paused


class _Protocol(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.reading_paused = False
        self.writing_paused = False
        self._reader: asyncio.Future[bool] | None = None
        self._writer: asyncio.Future[bool] | None = None

    # --- asyncio's callbacks ---
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > READ_LIMIT and not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool | None:
        self.eof = True
        self._wake_reader()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if exc is not None and self.error is None:
            self.error = exc
        self._wake_reader()
        self.writing_paused = False
        self._wake_writer()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake_writer()

    # --- for the stream ---
    def _wake_reader(self) -> None:
        waiter = self._reader
        if waiter is not None and not waiter.done():
            waiter.set_result(False)

    def _wake_writer(self) -> None:
        waiter = self._writer
        if waiter is not None and not waiter.done():
            waiter.set_result(False)

    async def wait_readable(self, timeout: float | None) -> None:
        self._reader = self.loop.create_future()
        try:
            await wait_for_wake(self.loop, self._reader, timeout, httpcore.ReadTimeout)
        finally:
            self._reader = None

    async def wait_writable(self, timeout: float | None) -> None:
        self._writer = self.loop.create_future()
        try:
            await wait_for_wake(self.loop, self._writer, timeout, httpcore.WriteTimeout)
        finally:
            self._writer = None


async def wait_for_wake(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[bool], timeout: float | None,
                error: type[Exception]) -> None:
    """Until the protocol wakes ``waiter``; ``error`` after ``timeout`` seconds (None: no limit)."""
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


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, protocol: _Protocol) -> None:
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        p = self._protocol
        if not p.buffer:
            if p.error is not None:
                raise httpcore.ReadError(str(p.error) or type(p.error).__name__)
            if p.eof:
                return b""
            await p.wait_readable(timeout)
            if not p.buffer:
                if p.error is not None:
                    raise httpcore.ReadError(str(p.error) or type(p.error).__name__)
                return b""
        buffer = p.buffer
        if len(buffer) <= max_bytes:
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:max_bytes])
            del buffer[:max_bytes]
        if p.reading_paused and len(buffer) <= READ_LIMIT // 2 and p.transport is not None:
            p.reading_paused = False
            p.transport.resume_reading()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        p = self._protocol
        transport = p.transport
        if transport is None or transport.is_closing() or p.error is not None:
            raise httpcore.WriteError(str(p.error) if p.error else "the connection is closed")
        transport.write(buffer)
        if p.writing_paused:
            await p.wait_writable(timeout)
            if p.error is not None:
                raise httpcore.WriteError(str(p.error))

    async def aclose(self) -> None:
        transport = self._protocol.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        p = self._protocol
        assert p.transport is not None
        try:
            transport = await p.loop.start_tls(p.transport, p, ssl_context, server_hostname=server_hostname,
                                               ssl_handshake_timeout=timeout)
        except TimeoutError as exc:
            p.transport.close()
            raise httpcore.ConnectTimeout(str(exc) or "TLS handshake timed out") from exc
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            p.transport.close()
            raise httpcore.ConnectError(str(exc)) from exc
        if transport is None:
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        p.transport = typing.cast(asyncio.Transport, transport)
        return AsyncioStream(p)

    def get_extra_info(self, info: str) -> typing.Any:
        p = self._protocol
        transport = p.transport
        if info == "is_readable":  # an idle connection the server closed (or wrote to) is not reusable
            return bool(p.buffer) or p.eof or p.error is not None
        if transport is None:
            return None
        if info == "ssl_object":
            return transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return transport.get_extra_info("sockname")
        if info == "server_addr":
            return transport.get_extra_info("peername")
        if info == "socket":
            return transport.get_extra_info("socket")
        return None


SocketOptions = Iterable[tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]]


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None, socket_options: SocketOptions | None = None
                          ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                _, protocol = await loop.create_connection(lambda: _Protocol(loop), host, port, local_addr=local)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        _apply(protocol, socket_options)
        return AsyncioStream(protocol)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: SocketOptions | None = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, protocol = await loop.create_unix_connection(lambda: _Protocol(loop), path)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"connecting to {path} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        _apply(protocol, socket_options)
        return AsyncioStream(protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _apply(protocol: _Protocol, options: SocketOptions | None) -> None:
    sock: socket.socket | None = protocol.transport.get_extra_info("socket") if protocol.transport else None
    if sock is None:
        return
    for option in options or ():
        sock.setsockopt(*option)  # type: ignore[call-overload]
