"""providers.transport.LeanPool behind httpx, against a raw loopback HTTP/1.1 server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from providers.transport import NoCookieJar, UpstreamTransport

pytestmark = pytest.mark.asyncio


class Upstream:
    """Answers ``ok`` on keep-alive connections; ``/hold`` waits for ``release``, ``/drop`` closes after."""

    def __init__(self) -> None:
        self.connections = 0
        self.release = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            for _ in range(100):  # bounded: no test sends more on one connection
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                if path == b"/hold":
                    await asyncio.wait_for(self.release.wait(), 5)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nSet-Cookie: s=secret\r\n\r\nok")
                await writer.drain()
                if path == b"/drop":
                    break
        writer.close()


@contextlib.asynccontextmanager
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    up = Upstream()
    server = await asyncio.start_server(up.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield up, f"http://127.0.0.1:{port}"
    finally:
        server.close()


def client(**limits: int) -> tuple[httpx.AsyncClient, UpstreamTransport]:
    transport = UpstreamTransport(httpx.Limits(**limits))
    return httpx.AsyncClient(transport=transport, cookies=NoCookieJar(), timeout=2.0), transport


async def test_one_keep_alive_connection_for_sequential_requests_and_no_cookies():
    async with upstream() as (up, url):
        http, transport = client(max_connections=4, max_keepalive_connections=4)
        async with http:
            for _ in range(3):
                resp = await http.get(url + "/")
                assert resp.text == "ok" and "cookie" not in resp.request.headers
            assert len(http.cookies) == 0
            assert up.connections == 1
            assert (transport.pool.busy, transport.pool.idle_count) == (0, 1)


async def test_full_pool_waits_then_times_out_as_httpx_pool_timeout():
    async with upstream() as (up, url):
        http, transport = client(max_connections=1)
        async with http:
            held = asyncio.create_task(http.get(url + "/hold"))
            for _ in range(200):  # bounded: the held request takes the only connection within 2 s
                if up.connections:
                    break
                await asyncio.sleep(0.01)
            with pytest.raises(httpx.PoolTimeout):
                await http.get(url + "/", timeout=httpx.Timeout(2.0, pool=0.1))
            up.release.set()
            assert (await held).text == "ok"
            assert (await http.get(url + "/")).text == "ok"
            assert up.connections == 1 and transport.pool.busy == 0


async def test_connection_closed_by_the_server_is_replaced():
    async with upstream() as (up, url):
        http, transport = client(max_connections=2)
        async with http:
            assert (await http.get(url + "/drop")).text == "ok"
            for _ in range(200):  # bounded: until the pooled socket has seen the server's close
                connection = transport.pool.idle.get((b"http", b"127.0.0.1", int(url.rsplit(":", 1)[1])), [None])
                if not connection or connection[0] is None or connection[0].has_expired():
                    break
                await asyncio.sleep(0.01)
            assert (await http.get(url + "/")).text == "ok"
            assert up.connections == 2 and transport.pool.idle_count == 1


async def test_surplus_idle_connections_are_closed_and_errors_are_httpx_errors():
    async with upstream() as (up, url):
        http, transport = client(max_connections=4, max_keepalive_connections=1)
        async with http:
            up.release.set()
            replies = await asyncio.gather(*(http.get(url + "/hold") for _ in range(3)))
            assert [r.text for r in replies] == ["ok"] * 3
            assert up.connections == 3 and transport.pool.idle_count == 1 and transport.pool.busy == 0
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(transport=UpstreamTransport(httpx.Limits())) as closed:
            await closed.get(url + "/")  # the server is gone: connection refused
