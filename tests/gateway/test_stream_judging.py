"""Streams are judged by content, through the real ASGI app and fake upstreams (real HTTP servers)."""

from __future__ import annotations

import pytest

from routing.models import CircuitState
from tests.conftest import amake_provider, amake_tiers
from tests.fakes import FakeOpenAI, Reply, openai_text_chunks
from tests.fakes.anthropic_server import anthropic_stream_events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

BODY = {"model": "claude-sonnet-5", "max_tokens": 100, "stream": True,
        "messages": [{"role": "user", "content": "hi"}]}
ROLE = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "model": "ma",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}


@pytest.fixture
async def two():
    with FakeOpenAI() as a, FakeOpenAI() as b:
        a.p = await amake_provider("alpha", a.base_url, priority=1)
        b.p = await amake_provider("beta", b.base_url, priority=2)
        await amake_tiers({"middle": [(a.p, "ma"), (b.p, "mb")]})
        yield a, b


async def failures(provider) -> int:
    row = await CircuitState.objects.filter(provider=provider).afirst()
    return row.failure_count if row else 0


@pytest.mark.parametrize("chunks", [
    pytest.param(["data: {not json\n\n", "data: <html>502</html>\n\n"], id="garbage-then-done"),
    pytest.param([{**ROLE, "choices": []}, {**ROLE, "choices": []}], id="empty-choice-list"),
    pytest.param([ROLE, {**ROLE, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}],
                 id="role-and-stop-only"),
])
async def test_stream_without_content_falls_back_before_the_first_byte(two, gateway_client, chunks):
    a, b = two
    a.enqueue(Reply.sse(chunks))
    b.enqueue(Reply.sse(openai_text_chunks("from beta", model="mb", pieces=["from beta"])))
    resp = await gateway_client.post("/v1/messages", json=BODY)
    assert resp.status_code == 200 and "from beta" in resp.text
    assert resp.text.count("event: message_start") == 1 and "message_stop" in resp.text
    assert len(b.main_requests) == 1 and await failures(a.p) == 1


async def test_stream_without_content_anywhere_is_an_error_status(gateway_client, openai_up):
    openai_up.enqueue(Reply.sse(["data: garbage\n\n"]))
    resp = await gateway_client.post("/v1/messages", json=BODY)
    assert resp.status_code == 502 and resp.json()["error"]["type"] == "api_error"


async def test_stream_stopped_by_max_tokens_without_text_is_a_real_answer(gateway_client, openai_up):
    length = {**ROLE, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
    openai_up.enqueue(Reply.sse([ROLE, length]))
    resp = await gateway_client.post("/v1/messages", json=BODY)
    assert resp.status_code == 200 and '"stop_reason":"max_tokens"' in resp.text


async def test_mid_stream_abort_counts_and_ends_with_an_error_event(two, gateway_client):
    a, b = two
    a.enqueue(Reply.sse(openai_text_chunks("one two three", model="ma", pieces=["one ", "two ", "three"]),
                        drop_after=2))
    resp = await gateway_client.post("/v1/messages", json=BODY)
    assert resp.status_code == 200 and "event: error" in resp.text and "message_stop" not in resp.text
    assert "one " in resp.text and b.requests == []
    assert await failures(a.p) == 1


async def test_provider_that_always_breaks_after_the_first_chunk_is_avoided(two, gateway_client, settings):
    settings.CIRCUIT_FAILURE_THRESHOLD = 2
    a, b = two
    broken = openai_text_chunks("one two three", model="ma", pieces=["one ", "two ", "three"])
    a.default = Reply.sse(broken, drop_after=2)
    for _ in range(2):
        resp = await gateway_client.post("/v1/messages", json=BODY)
        assert "event: error" in resp.text
    resp = await gateway_client.post("/v1/messages", json=BODY)
    assert resp.status_code == 200 and "message_stop" in resp.text
    assert len(a.main_requests) == 2 and len(b.main_requests) == 1
    state = await CircuitState.objects.aget(provider=a.p)
    assert (state.state, state.failure_count) == ("open", 2)


async def test_complete_stream_resets_the_count(two, gateway_client):
    a, b = two
    a.enqueue(Reply.sse(openai_text_chunks("x y", model="ma", pieces=["x ", "y"]), drop_after=2))
    await gateway_client.post("/v1/messages", json=BODY)
    assert await failures(a.p) == 1
    resp = await gateway_client.post("/v1/messages", json=BODY)
    assert "message_stop" in resp.text and await failures(a.p) == 0


async def test_slow_model_gets_keepalives_then_its_content(gateway_client, openai_up, settings):
    settings.STREAM_COMMIT_WAIT = 0.2
    settings.STREAM_PING_INTERVAL = 0.15
    openai_up.enqueue(Reply.sse(openai_text_chunks("late", pieces=["late"]), delay=0.5))
    resp = await gateway_client.post("/v1/messages", json=BODY)
    text = resp.text
    assert resp.status_code == 200 and "event: ping" in text and "late" in text and "message_stop" in text
    assert text.index("message_start") < text.index("event: ping") < text.index("late")


async def test_contentless_end_after_commit_wait_is_an_error_event(two, gateway_client, settings):
    settings.STREAM_COMMIT_WAIT = 0.2
    a, b = two
    a.enqueue(Reply.sse([ROLE, {**ROLE, "choices": []}], delay=0.5))
    resp = await gateway_client.post("/v1/messages", json=BODY)
    assert resp.status_code == 200 and "event: error" in resp.text and "message_stop" not in resp.text
    assert "without any content" in resp.text and b.requests == []
    assert await failures(a.p) == 1


async def test_empty_end_turn_from_anthropic_is_an_answer_passed_through(anthropic_up, gateway_client):
    """Claude may end a turn with no content (after a tool result): that is its answer, kept byte-exact."""
    await amake_tiers(default=(anthropic_up.provider, "claude-sonnet-5"))
    events = anthropic_stream_events(None, usage=(42, 1))
    anthropic_up.enqueue(Reply.sse(events))
    resp = await gateway_client.post("/v1/messages", json=BODY)
    assert resp.status_code == 200
    assert resp.content == b"".join(anthropic_up.encode_event(e) for e in events)
    assert await failures(anthropic_up.provider) == 0


async def test_mid_stream_error_event_from_a_passthrough_upstream_is_redacted(anthropic_up, gateway_client):
    await amake_tiers(default=(anthropic_up.provider, "claude-sonnet-5"))
    leaked = "sk-ant-api03-" + "Q" * 40
    events = anthropic_stream_events("partial answer", usage=(10, 3), pieces=["partial answer"])[:5]
    events.append({"type": "error", "error": {"type": "overloaded_error", "message": f"key {leaked} is throttled"}})
    anthropic_up.enqueue(Reply.sse(events))
    resp = await gateway_client.post("/v1/messages", json=BODY)
    assert resp.status_code == 200 and "partial answer" in resp.text and "event: error" in resp.text
    assert leaked not in resp.text and "[redacted]" in resp.text and "message_stop" not in resp.text
