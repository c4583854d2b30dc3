"""True streaming through a real daphne server: incremental delivery, keep-alive pings,
client disconnects cancelling the upstream, and usage logged for streams cut short."""

from __future__ import annotations

import sqlite3
import time

import httpx
import pytest

from tests.fakes import FakeOpenAI, Reply, openai_text_chunks
from tests.support.gateway import CLIENT_KEY, start_gateway

BODY = {"model": "claude-sonnet-5", "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
HEADERS = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}


@pytest.fixture
def live(tmp_path):
    with FakeOpenAI() as up, start_gateway(
        {"PREFERRED_PROVIDER": "openai", "OPENAI_BASE_URL": up.base_url, "OPENAI_API_KEY": "sk-test-fake",
         "STREAM_PING_INTERVAL": "0.3", "REQUEST_LOG_FLUSH_INTERVAL": "0.1"},
        tmp_path,
    ) as gw:
        yield up, gw, tmp_path / "gw.sqlite3"


def events(lines):
    for line in lines:
        if line.startswith("event: "):
            yield line[7:]


def test_stream_chunks_reach_the_client_as_they_arrive(live):
    up, gw, _ = live
    up.enqueue(Reply.sse(openai_text_chunks("a b c d e f", pieces=["a ", "b ", "c ", "d ", "e ", "f"]), delay=0.25))
    start = time.monotonic()
    first_delta = None
    with httpx.stream("POST", f"{gw.url}/v1/messages", json=BODY, headers=HEADERS, timeout=30) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if first_delta is None and "text_delta" in line:
                first_delta = time.monotonic() - start
    total = time.monotonic() - start
    assert first_delta is not None and total > 1.4
    assert first_delta < total - 1.0  # the first words arrived long before the last


def test_stream_sends_pings_while_upstream_is_silent(live):
    up, gw, _ = live
    chunks = openai_text_chunks("x y", pieces=["x ", "y"])
    up.enqueue(Reply.sse(chunks, delay=1.0))
    with httpx.stream("POST", f"{gw.url}/v1/messages", json=BODY, headers=HEADERS, timeout=30) as resp:
        names = list(events(resp.iter_lines()))
    assert "ping" in names
    assert names[0] == "message_start" or names[0] == "ping"
    assert names[-1] == "message_stop"
    assert names.index("ping") > 0 or names.count("ping") >= 1


def test_client_disconnect_cancels_upstream_and_logs_partial_usage(live):
    up, gw, db = live
    pieces = [f"w{i} " for i in range(40)]
    up.enqueue(Reply.sse(openai_text_chunks("".join(pieces), pieces=pieces), delay=0.2))
    with httpx.stream("POST", f"{gw.url}/v1/messages", json=BODY, headers=HEADERS, timeout=30) as resp:
        for line in resp.iter_lines():
            if "text_delta" in line:
                break  # leave mid-stream
    assert up.wait_for_disconnects(1, timeout=5) >= 1  # the gateway hung up on the upstream promptly
    ok = httpx.post(f"{gw.url}/v1/messages", json={**BODY, "stream": False}, headers=HEADERS, timeout=30)
    assert ok.status_code == 200  # and keeps serving
    deadline = time.monotonic() + 5
    rows = []
    while time.monotonic() < deadline and len(rows) < 2:
        with sqlite3.connect(db) as conn:
            rows = conn.execute("select status, input_tokens, error from dashboard_requestlog order by id").fetchall()
        time.sleep(0.1)
    assert rows[0][0] == 499 and rows[0][1] > 0 and "disconnected" in rows[0][2]


def test_openai_dialect_stream_is_incremental_with_comment_keepalives(live):
    """The OpenAI dialect is encoded in the stream session itself: chunks still leave as they
    arrive, idle gaps carry SSE comments, and the stream ends with [DONE]."""
    up, gw, _ = live
    up.enqueue(Reply.sse(openai_text_chunks("x y z", pieces=["x ", "y ", "z"]), delay=0.7))
    body = {"model": "claude-sonnet-5", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    start = time.monotonic()
    first_content, lines = None, []
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body,
                      headers={"authorization": f"Bearer {CLIENT_KEY}"}, timeout=30) as resp:
        for line in resp.iter_lines():
            lines.append(line)
            if first_content is None and '"content":"x' in line:
                first_content = time.monotonic() - start
    total = time.monotonic() - start
    assert ": keep-alive" in lines
    assert [line for line in lines if line.startswith("data: ")][-1] == "data: [DONE]"
    assert not any(line.startswith("event: ") for line in lines)  # no Anthropic SSE leaks through
    assert first_content is not None and first_content < total - 1.0
