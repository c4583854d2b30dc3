"""The HTTP edge against a real daphne: keys before bodies, body limits and timeouts, load
shedding past the in-flight cap, and recovery after PostgreSQL drops the gateway's connections."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import socket
import time

import httpx
import pytest

from tests.fakes import FakeOpenAI
from tests.support import start_gateway
from tests.support.databases import postgres_available, shared_database
from tests.support.gateway import CLIENT_KEY

pytestmark = pytest.mark.timeout(180)

BODY = {"model": "claude-sonnet-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
MIB = 1024 * 1024


def upstream_env(up, **extra):
    return {"PREFERRED_PROVIDER": "openai", "OPENAI_BASE_URL": up.base_url, "OPENAI_API_KEY": "sk-upstream-fake",
            **{k: str(v) for k, v in extra.items()}}


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def head(port: int, *, length: int | None, key: str | None = None, path: str = "/v1/messages") -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json",
             "anthropic-version: 2023-06-01"]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    if key:
        lines.append(f"x-api-key: {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket, deadline: float) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one Content-Length-framed response (bounded by ``deadline``)."""
    data = b""
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {data!r}")
        data += chunk
    raw_head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    want = int(headers.get("content-length", "0"))
    while len(body) < want:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def test_edge_open_access_refuses_wrong_and_disabled_keys_and_serves_no_key(tmp_path):
    with FakeOpenAI() as up, start_gateway(upstream_env(up, GATEWAY_OPEN_ACCESS="true"), tmp_path) as gw:
        gw.manage("create_client_key", "off", "--key", "sk-gw-test-disabled-0000")
        gw.manage("shell", "-c", "from clients.models import ClientKey; "
                  "ClientKey.objects.filter(name='off').update(enabled=False)")
        with httpx.Client(base_url=gw.url, timeout=30, trust_env=False) as client:
            assert client.post("/v1/messages", json=BODY).status_code == 200  # no key: anonymous
            assert client.post("/v1/messages", json=BODY, headers={"x-api-key": CLIENT_KEY}).status_code == 200
            for key in (CLIENT_KEY[:-1] + "1", "sk-gw-test-disabled-0000"):
                for headers in ({"x-api-key": key}, {"authorization": f"Bearer {key}"}):
                    reply = client.post("/v1/messages", json=BODY, headers=headers)
                    assert reply.status_code == 401, (key, reply.text)
                    assert reply.json()["error"]["type"] == "authentication_error"
                    assert reply.headers["x-should-retry"] == "false"
            wrong = client.post("/v1/chat/completions", headers={"authorization": "Bearer sk-gw-nope"},
                                json={"model": "claude-sonnet-5", "messages": [{"role": "user", "content": "x"}]})
            assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
            assert client.head("/").status_code == 200 and client.get("/health").status_code == 200
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:  # websockets pass the edge
            sock.sendall(b"GET /ws/dashboard/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         b"Sec-WebSocket-Version: 13\r\n\r\n")
            sock.settimeout(10)
            assert sock.recv(100).startswith(b"HTTP/1.1 403")  # the dashboard's own refusal: no staff session
    assert len(up.requests) == 2


@pytest.mark.parametrize("key", [None, "sk-gw-test-wrong-0000"], ids=["no-key", "wrong-key"])
def test_edge_unauthenticated_200_mib_body_is_401_before_it_is_read(tmp_path, key):
    with FakeOpenAI() as up, start_gateway(upstream_env(up), tmp_path) as gw:
        httpx.post(f"{gw.url}/v1/messages", json=BODY, headers=gw.headers(), timeout=30)  # warm up
        baseline = rss_kib(gw.pid)
        piece = b"x" * MIB
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
            started = time.monotonic()
            sock.sendall(head(gw.port, length=200 * MIB, key=key) + piece)
            status, headers, body = read_response(sock, time.monotonic() + 5)  # 199 MiB still unsent
            answered = time.monotonic() - started
            sent = 1
            try:  # the gateway drains (and drops) the rest, so a client that sends it all reads the answer
                while sent < 200:
                    sock.sendall(piece)
                    sent += 1
            except OSError:
                pass
        assert status == 401 and json.loads(body)["error"]["type"] == "authentication_error"
        assert headers["connection"].lower() == "close" and answered < 2.0
        assert sent == 200
        peak = rss_kib(gw.pid, "VmHWM")
        assert rss_kib(gw.pid) - baseline < 30 * 1024, (baseline, rss_kib(gw.pid), peak)
        assert httpx.post(f"{gw.url}/v1/messages", json=BODY, headers=gw.headers(), timeout=30).status_code == 200


def test_edge_content_length_over_limit_is_413_unread_and_chunked_is_cut_off(tmp_path):
    with FakeOpenAI() as up, start_gateway(upstream_env(up, MAX_REQUEST_BYTES=MIB), tmp_path) as gw:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
            sock.sendall(head(gw.port, length=1024 * MIB, key=CLIENT_KEY))  # no body sent at all
            status, headers, body = read_response(sock, time.monotonic() + 5)
        assert status == 413 and json.loads(body)["error"]["type"] == "request_too_large"

        def chunks(total: int):
            for _ in range(total // (64 * 1024)):
                yield b" " * (64 * 1024)

        with httpx.Client(base_url=gw.url, timeout=30, trust_env=False) as client:
            over = client.post("/v1/messages", content=chunks(2 * MIB), headers=gw.headers())
            assert over.status_code == 413 and over.json()["error"]["type"] == "request_too_large"
            fits = json.dumps(BODY).encode()
            ok = client.post("/v1/messages", content=iter([fits[:10], fits[10:]]), headers=gw.headers())
            assert ok.status_code == 200, ok.text
    assert len(up.requests) == 1


def test_edge_stalled_body_gets_408_within_the_timeout(tmp_path):
    with FakeOpenAI() as up, start_gateway(upstream_env(up, REQUEST_BODY_TIMEOUT=1), tmp_path) as gw:
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
            started = time.monotonic()
            sock.sendall(head(gw.port, length=1000, key=CLIENT_KEY) + b'{"model": ')  # and nothing more
            status, _, body = read_response(sock, time.monotonic() + 6)
            waited = time.monotonic() - started
        assert status == 408 and json.loads(body)["error"]["type"] == "timeout_error"
        assert 0.9 <= waited < 4.0
        assert httpx.post(f"{gw.url}/v1/messages", json=BODY, headers=gw.headers(), timeout=30).status_code == 200
    assert len(up.requests) == 1


def test_edge_burst_beyond_the_inflight_cap_gets_clean_529s(tmp_path):
    with FakeOpenAI() as up, start_gateway(upstream_env(up, MAX_INFLIGHT_REQUESTS=3, OVERLOAD_RETRY_AFTER=3),
                                           tmp_path) as gw:
        up.handler = lambda rec: dataclasses.replace(up.canned(rec), latency=2.0)

        def post(_: int) -> httpx.Response:
            return httpx.post(f"{gw.url}/v1/messages", json=BODY, headers=gw.headers(), timeout=30)

        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            replies = list(pool.map(post, range(12)))
            # while the three are in flight, the health check still answers
        statuses = sorted(r.status_code for r in replies)
        assert statuses == [200] * 3 + [529] * 9, statuses
        for reply in replies:
            if reply.status_code == 529:
                assert reply.json()["error"]["type"] == "overloaded_error"
                assert reply.headers["retry-after"] == "3"
        up.handler = None
        assert post(0).status_code == 200
    assert len(up.requests) == 4


@pytest.mark.skipif(not postgres_available(), reason="no PostgreSQL on 127.0.0.1")
@pytest.mark.parametrize("max_age", [0, 60])
def test_edge_postgres_drops_the_gateways_connections_and_the_next_request_succeeds(tmp_path, max_age):
    import psycopg

    from tests.support.databases import POSTGRES_ADMIN_URL

    with FakeOpenAI() as up, shared_database(tmp_path) as database_url:
        db_name = database_url.rsplit("/", 1)[1]
        env = upstream_env(up, DATABASE_URL=database_url, DB_CONN_MAX_AGE=max_age, CLIENT_KEY_CACHE_TTL=0,
                           ROUTE_TABLE_TTL=0, REQUEST_LOG_FLUSH_INTERVAL=0.05)
        with start_gateway(env, tmp_path) as gw, httpx.Client(base_url=gw.url, timeout=30, trust_env=False) as client:
            statuses = []
            killed = 0
            for _ in range(4):
                for _ in range(3):
                    statuses.append(client.post("/v1/messages", json=BODY, headers=gw.headers()).status_code)
                with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                    pids = [r[0] for r in admin.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = %s", (db_name,)).fetchall()]
                    admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
                    killed += len(pids)
                    deadline = time.monotonic() + 5
                    while time.monotonic() < deadline and admin.execute(  # until the kills have landed
                            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)).fetchone()[0]:
                        time.sleep(0.05)
            statuses.append(client.post("/v1/messages", json=BODY, headers=gw.headers()).status_code)
            assert statuses == [200] * 13, statuses
            if max_age:
                assert killed >= 3  # persistent connections were there to kill
            deadline = time.monotonic() + 10
            logged = 0
            with psycopg.connect(database_url) as conn:
                while time.monotonic() < deadline:
                    logged = conn.execute("SELECT count(*) FROM dashboard_requestlog").fetchone()[0]
                    if logged >= 13:
                        break
                    time.sleep(0.1)
            assert logged == 13
