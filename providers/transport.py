"""httpx plumbing for the shared upstream client: no cookie jar, cheap idle-connection checks.

- Upstream Set-Cookie headers must never leak from one user's request into another's through the
  shared client, and parsing them costs a full email-header parse per response: the jar is a no-op.
- httpcore asks every pooled connection "is the socket readable?" on each request; through anyio
  that rebuilds a dict of socket attributes per call. The stream wrapper caches the raw socket.
"""

from __future__ import annotations

import ssl
import typing

import httpcore
import httpx
from httpcore._backends.anyio import AnyIOBackend
from httpcore._utils import is_socket_readable


class NullCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._sock = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            return is_socket_readable(self._sock)
        return self._inner.get_extra_info(info)


class CachedSocketBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def upstream_transport(limits: httpx.Limits, *, lean: bool = True) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    stock = transport._pool
    if not lean:
        stock._network_backend = CachedSocketBackend()
        return transport
    transport._pool = LeanConnectionPool(  # same settings as httpx gave its own pool
        ssl_context=stock._ssl_context,
        max_connections=stock._max_connections,
        max_keepalive_connections=stock._max_keepalive_connections,
        keepalive_expiry=stock._keepalive_expiry,
        http1=stock._http1,
        http2=stock._http2,
        retries=stock._retries,
        network_backend=CachedSocketBackend(),
    )
    return transport


class LeanConnectionPool(httpcore.AsyncConnectionPool):
    """httpcore's pool with its housekeeping made linear in the number of connections.

    The stock method re-counts every connection for each idle one (a list built per idle
    connection) and rescans all connections per queued request, on every request. Same decisions,
    one pass each; httpx is pinned below 0.29 (httpcore 1.x), whose pool this mirrors.
    """

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        closing: list[httpcore.AsyncConnectionInterface] = []
        total = len(self._connections)
        kept: list[httpcore.AsyncConnectionInterface] = []
        for connection in self._connections:
            if connection.is_closed():
                total -= 1
            elif connection.has_expired() or (connection.is_idle() and total > self._max_keepalive_connections):
                closing.append(connection)
                total -= 1
            else:
                kept.append(connection)
        self._connections = kept
        for pool_request in [r for r in self._requests if r.is_queued()]:
            origin = pool_request.request.url.origin
            available = next(
                (c for c in self._connections if c.can_handle_request(origin) and c.is_available()), None
            )
            if available is not None:
                pool_request.assign_to_connection(available)
                continue
            if len(self._connections) >= self._max_connections:
                idle = next((c for c in self._connections if c.is_idle()), None)
                if idle is None:
                    continue
                self._connections.remove(idle)
                closing.append(idle)
            connection = self.create_connection(origin)
            self._connections.append(connection)
            pool_request.assign_to_connection(connection)
        return closing
