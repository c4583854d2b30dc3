"""providers.http11 on real sockets: TLS with a CA made here, timeouts, refused ports, cut bodies,
flow control both ways and idle connections the server closed, through LeanPool and httpx."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
import typing
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from providers import http11
from providers.transport import LeanPool, NoCookieJar, UpstreamTransport
from tests.support.gateway import free_port

pytestmark = pytest.mark.asyncio
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serving(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ssl_context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def respond(body: bytes, *, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def client(timeout: float = 2.0) -> httpx.AsyncClient:
    transport = UpstreamTransport(httpx.Limits(max_connections=8, max_keepalive_connections=8))
    return httpx.AsyncClient(transport=transport, cookies=NoCookieJar(), timeout=timeout)


def _key_and_name(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Name]:
    return ec.generate_private_key(ec.SECP256R1()), x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[ssl.SSLContext, ssl.SSLContext, ssl.SSLContext]:
    """(server context with a cert for 127.0.0.1 signed by a test CA, client context trusting that
    CA, client context trusting nothing of it)."""
    folder: Path = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key, ca_name = _key_and_name("gateway tests CA")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key, name = _key_and_name("127.0.0.1")
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    trusting = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    return server, trusting, ssl.create_default_context()


async def _answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
        for _ in range(10):
            await read_head(reader)
            writer.write(respond(b"secure ok"))
            await writer.drain()
    writer.close()


async def get(pool: LeanPool, url: str) -> tuple[httpcore.Response, bytes]:
    response = await pool.handle_async_request(httpcore.Request("GET", url, headers=[(b"Host", b"127.0.0.1")]))
    assert isinstance(response.stream, typing.AsyncIterable)
    body = b"".join([part async for part in response.stream])
    await response.aclose()
    return response, body


async def test_tls_round_trips_on_one_kept_connection_and_reports_the_ssl_object(tls):
    server_ctx, trusting, _ = tls
    async with serving(_answer_ok, server_ctx) as port:
        pool = LeanPool(httpx.Limits(max_connections=4, max_keepalive_connections=4), trusting)
        try:
            for _ in range(3):
                response, body = await get(pool, f"https://127.0.0.1:{port}/")
                assert response.status == 200 and body == b"secure ok"
            assert pool.idle_count == 1 and pool.busy == 0  # kept alive across the three
            stream = response.extensions["network_stream"]
            ssl_object = stream.get_extra_info("ssl_object")
            assert ssl_object.version().startswith("TLS") and ssl_object.selected_alpn_protocol() in (None, "http/1.1")
            assert stream.get_extra_info("server_addr")[1] == port
        finally:
            await pool.aclose()


async def test_tls_with_an_untrusted_certificate_is_a_connect_error(tls):
    server_ctx, _, untrusting = tls
    async with serving(_answer_ok, server_ctx) as port:
        pool = LeanPool(httpx.Limits(max_connections=4), untrusting)
        with pytest.raises(httpcore.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await get(pool, f"https://127.0.0.1:{port}/")
        assert pool.busy == 0 and pool.idle_count == 0


async def test_a_silent_upstream_is_a_read_timeout_and_a_refused_port_a_connect_error():
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        await asyncio.sleep(3)
        writer.close()

    async with serving(silent) as port, client(timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"http://127.0.0.1:{port}/")
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{free_port()}/")  # a port nothing listens on


async def test_a_body_cut_short_is_a_protocol_error_not_a_short_success():
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()
        writer.transport.abort()

    async with serving(cut) as port, client() as http:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_large_bodies_both_ways_pass_intact_through_flow_control(monkeypatch):
    monkeypatch.setattr(http11, "READ_LIMIT", 64 * 1024)  # pause the socket's reading early and often
    pauses: list[bool] = []
    take_body = http11._Protocol.take_body

    def counted(self: http11._Protocol) -> bytes:
        pauses.append(self.reading_paused)
        return take_body(self)

    monkeypatch.setattr(http11._Protocol, "take_body", counted)
    size = 6 * 1024 * 1024
    payload = bytes(range(256)) * (size // 256)

    async def echo_slowly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_head(reader)
        length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
                     .split(b":")[1])
        received = bytearray()
        while len(received) < length:
            received += await reader.read(256 * 1024)
            await asyncio.sleep(0)  # a slow reader: the client's writes wait for the transport to drain
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(received))
        for start in range(0, len(received), 1024 * 1024):
            writer.write(bytes(received[start:start + 1024 * 1024]))
            await writer.drain()
        writer.close()

    async with serving(echo_slowly) as port, client(timeout=10) as http:
        got = bytearray()
        async with http.stream("POST", f"http://127.0.0.1:{port}/", content=payload) as response:
            async for part in response.aiter_raw():
                got += part
                await asyncio.sleep(0)
        assert len(got) == size and bytes(got) == payload
    assert any(pauses)  # the socket's reading was paused at least once, and resumed


async def test_an_idle_connection_the_server_wrote_to_or_closed_is_not_reused():
    connections = 0

    async def once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_head(reader)
        writer.write(respond(b"ok"))
        await writer.drain()
        writer.close()  # keep-alive promised, closed anyway (as upstreams do after their idle timeout)

    async with serving(once_then_close) as port, client() as http:
        for _ in range(3):
            assert (await http.get(f"http://127.0.0.1:{port}/")).text == "ok"
            await asyncio.sleep(0.05)  # the FIN arrives while the connection sits idle in the pool
        assert connections == 3
