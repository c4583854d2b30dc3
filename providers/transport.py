"""httpx plumbing for the shared upstream client, through the libraries' public interfaces only.

- ``UpstreamTransport`` implements httpx's public transport API (``handle_async_request``,
  ``aclose``) over a pool of its own: ``LeanPool`` keeps ``providers/http11.py``'s HTTP/1.1
  connections per origin and reuses the most recently used idle one. It touches one connection
  per request, where httpcore's ``AsyncConnectionPool`` re-examines every connection (and lists
  them once more per idle one) on each request and each response close. ``lean=False`` puts the
  stock pool (httpcore's own connections, h11 on AnyIO) behind the same transport, built with its
  public constructor (the bench's ``stock-pool``).
- ``NoCookieJar`` is a cookie jar that keeps nothing: upstream Set-Cookie headers never leak
  from one user's request into another's through the shared client.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import ssl
import typing
import urllib.request
from collections.abc import AsyncIterator, Iterator

import httpcore
import httpx

from providers.http11 import Http11Connection

# Most specific first: each httpcore error becomes the httpx error that httpx's own transport raises.
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)
_ATTEMPTS = 3  # a connection that stopped being available between choice and use is replaced


class NoCookieJar(http.cookiejar.CookieJar):
    """A jar that keeps no cookie, so sends none: for httpx's public ``cookies=`` argument.

    Overriding the jar's public ``extract_cookies`` also skips the header parse httpx would pay
    per response to build the stdlib's view of it.
    """

    def extract_cookies(self, response: typing.Any, request: urllib.request.Request) -> None:
        return None

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        return None


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for source, target in _ERRORS:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class _Body(httpx.AsyncByteStream):
    """The response body as httpx sees it: httpcore errors mapped, ``release`` run once at close."""

    def __init__(
        self, stream: typing.AsyncIterable[bytes], release: typing.Callable[[], typing.Awaitable[None]] | None
    ) -> None:
        self._stream = stream
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            with _httpx_errors():
                async for part in self._stream:
                    yield part
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        release, self._release = self._release, None
        try:
            closer = getattr(self._stream, "aclose", None)
            if closer is not None:
                with _httpx_errors():
                    await closer()
        finally:
            if release is not None:
                await release()


class LeanPool:
    """HTTP/1.1 connections per origin, last used first; at most ``max_connections`` in all."""

    def __init__(self, limits: httpx.Limits, ssl_context: ssl.SSLContext) -> None:
        ssl_context.set_alpn_protocols(["http/1.1"])
        self.max_connections = limits.max_connections
        self.max_idle = limits.max_keepalive_connections
        self.keepalive_expiry = limits.keepalive_expiry
        self.ssl_context = ssl_context
        self.idle: dict[tuple[bytes, bytes, int], list[Http11Connection]] = {}
        self.idle_count = 0
        self.busy = 0
        self._slots = asyncio.Semaphore(self.max_connections) if self.max_connections else None

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if request.url.scheme not in (b"http", b"https"):
            raise httpcore.UnsupportedProtocol(f"Request URL has an unsupported protocol {request.url.scheme!r}.")
        wait = request.extensions.get("timeout", {}).get("pool")
        for _ in range(_ATTEMPTS):
            connection = await self._acquire(request.url.origin, wait)
            try:
                response = await connection.handle_async_request(request)
            except httpcore.ConnectionNotAvailable:
                await self._release(connection, request.url.origin, keep=False)
                continue
            except BaseException:
                await self._release(connection, request.url.origin, keep=False)
                raise
            assert isinstance(response.stream, typing.AsyncIterable)

            async def release(connection: Http11Connection = connection) -> None:
                await self._release(connection, request.url.origin, keep=True)

            return httpcore.Response(status=response.status, headers=response.headers,
                                     content=_Body(response.stream, release), extensions=response.extensions)
        raise httpcore.ConnectError("no upstream connection became available")

    async def _acquire(self, origin: httpcore.Origin, wait: float | None) -> Http11Connection:
        if self._slots is not None:
            try:
                async with asyncio.timeout(wait):
                    await self._slots.acquire()
            except TimeoutError:
                raise httpcore.PoolTimeout("no upstream connection became free in time") from None
        self.busy += 1
        closing: list[Http11Connection] = []
        connection = self._take_idle(origin, closing)
        if connection is None:
            if self.max_connections and self.busy + self.idle_count > self.max_connections:
                closing.append(self._evict_oldest())
            connection = Http11Connection(origin, self.ssl_context, self.keepalive_expiry)
        try:
            await _close_all(closing)
        except BaseException:  # cancelled while closing the stale ones: give the slot back
            await self._release(connection, origin, keep=False)
            raise
        return connection

    def _take_idle(
        self, origin: httpcore.Origin, closing: list[Http11Connection]
    ) -> Http11Connection | None:
        stack = self.idle.get(_key(origin))
        while stack:
            connection = stack.pop()
            self.idle_count -= 1
            if connection.is_closed():
                continue
            if connection.has_expired() or not connection.is_available():
                closing.append(connection)
                continue
            return connection
        return None

    def _evict_oldest(self) -> Http11Connection:
        stack = next(s for s in self.idle.values() if s)  # busy <= max, so an idle one exists here
        self.idle_count -= 1
        return stack.pop(0)

    async def _release(self, connection: Http11Connection, origin: httpcore.Origin, *,
                       keep: bool) -> None:
        self.busy -= 1
        if self._slots is not None:
            self._slots.release()
        closing: list[Http11Connection] = []
        fits = self.max_idle is None or self.idle_count < self.max_idle
        if keep and fits and connection.is_idle():
            stack = self.idle.setdefault(_key(origin), [])
            if stack and stack[0].has_expired():  # the oldest of this origin: one check a release
                closing.append(stack.pop(0))
                self.idle_count -= 1
            stack.append(connection)
            self.idle_count += 1
        else:
            closing.append(connection)
        await _close_all(closing)

    async def aclose(self) -> None:
        closing = [c for stack in self.idle.values() for c in stack]
        self.idle.clear()
        self.idle_count = 0
        await _close_all(closing)


def _key(origin: httpcore.Origin) -> tuple[bytes, bytes, int]:
    return (origin.scheme, origin.host, origin.port)  # httpcore's Origin compares equal but has no hash


async def _close_all(connections: list[Http11Connection]) -> None:
    for connection in connections:
        with contextlib.suppress(Exception):
            await connection.aclose()


class UpstreamTransport(httpx.AsyncBaseTransport):
    """httpx's transport API over ``LeanPool`` (or, ``lean=False``, httpcore's stock pool)."""

    def __init__(self, limits: httpx.Limits, *, lean: bool = True) -> None:
        ssl_context = httpx.create_ssl_context(trust_env=False)
        self.pool: LeanPool | httpcore.AsyncConnectionPool = LeanPool(limits, ssl_context) if lean else (
            httpcore.AsyncConnectionPool(
                ssl_context=ssl_context, max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
            )
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        url = request.url
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = await self.pool.handle_async_request(core)
        assert isinstance(response.stream, typing.AsyncIterable)
        stream = response.stream if isinstance(response.stream, _Body) else _Body(response.stream, None)
        return httpx.Response(status_code=response.status, headers=response.headers, stream=stream,
                              extensions=response.extensions)

    async def aclose(self) -> None:
        await self.pool.aclose()


def upstream_transport(limits: httpx.Limits, *, lean: bool = True) -> UpstreamTransport:
    return UpstreamTransport(limits, lean=lean)
