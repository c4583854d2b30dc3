"""The stream written by its own task (gateway.streaming.StreamSession.send_to) through the real
ASGI application, driven here at the ASGI level: a server whose ``send`` yields, keep-alives
added while the pump is writing, and a client whose connection fails mid-stream."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from dashboard.models import RequestLog
from dashboard.services import request_log_aflush
from tests.conftest import TEST_KEY
from tests.fakes import Reply, openai_text_chunks

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

BODY = json.dumps({"model": "claude-sonnet-5", "max_tokens": 100, "stream": True,
                   "messages": [{"role": "user", "content": "hi"}]}).encode()
PIECES = [f"piece{i} " for i in range(12)]


def scope() -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": "/v1/messages", "raw_path": b"/v1/messages", "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8082),
            "headers": [(b"x-api-key", TEST_KEY.encode()), (b"content-type", b"application/json"),
                        (b"anthropic-version", b"2023-06-01"), (b"content-length", str(len(BODY)).encode())]}


async def drive(send: Any, *, seconds: float = 20.0) -> None:
    from proxy_project.asgi import application

    disconnected = asyncio.Event()
    messages = [{"type": "http.request", "body": BODY, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async with asyncio.timeout(seconds):
        await application(scope(), receive, send)


async def test_a_server_whose_send_yields_gets_every_chunk_once_in_order_with_keepalives(
        client_key, openai_up, settings):
    settings.STREAM_PING_INTERVAL = 0.01  # keep-alives fire while the pump is inside a slow send
    openai_up.enqueue(Reply.sse(openai_text_chunks("".join(PIECES), pieces=PIECES), delay=0.03))
    sent: list[dict[str, Any]] = []

    async def slow_send(message: dict[str, Any]) -> None:
        await asyncio.sleep(0.02)  # a server that awaits its socket on every write
        sent.append(message)

    await drive(slow_send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert (b"content-type", b"text/event-stream; charset=utf-8") in [(k.lower(), v) for k, v in sent[0]["headers"]]
    bodies = sent[1:]
    assert all(m["type"] == "http.response.body" for m in bodies)
    assert [m.get("more_body", False) for m in bodies].count(False) == 1 and not bodies[-1]["more_body"]
    text = b"".join(m["body"] for m in bodies).decode()
    positions = [text.index(piece.strip()) for piece in PIECES]
    assert positions == sorted(positions) and text.count("event: message_stop") == 1
    assert text.rstrip().endswith("data: {\"type\":\"message_stop\"}")
    assert "event: ping" in text  # the timer's bytes went out between the pump's writes


async def test_a_client_write_failure_stops_reading_the_upstream_and_is_logged_as_499(
        client_key, openai_up):
    pieces = [f"p{i} " for i in range(200)]
    openai_up.enqueue(Reply.sse(openai_text_chunks("".join(pieces), pieces=pieces), delay=0.02))  # ~4 s in all
    writes = 0

    async def failing_send(message: dict[str, Any]) -> None:
        nonlocal writes
        if message["type"] == "http.response.body":
            writes += 1
            if writes >= 3:
                raise OSError("connection reset by peer")

    started = time.monotonic()
    await drive(failing_send)
    assert time.monotonic() - started < 2.0  # did not wait for the upstream's remaining ~190 chunks
    await request_log_aflush()
    row = await RequestLog.objects.aget()
    assert row.status == 499 and "client write failed" in row.error
