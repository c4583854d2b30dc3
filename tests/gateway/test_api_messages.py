"""/v1/messages through the real ASGI app, the official anthropic SDK and real fake-upstream servers."""

from __future__ import annotations

import anthropic
import pytest

from dashboard.models import RequestAttempt, RequestLog
from dashboard.services import request_log_aflush
from tests.conftest import amake_provider, amake_tiers
from tests.fakes import FakeOpenAI, Reply, openai_completion, openai_text_chunks, openai_tool_call_chunks

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

BODY = {"model": "claude-sonnet-5", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]}


async def test_messages_non_stream_translates_to_openai_and_back(openai_up, anthropic_sdk):
    openai_up.enqueue(Reply.json(openai_completion("Bonjour 👋", usage=(120, 7, 20))))
    msg = await anthropic_sdk.messages.create(
        model="claude-sonnet-5", max_tokens=4000, system=[{"type": "text", "text": "Be brief."}],
        messages=[{"role": "user", "content": "hi"}],
    )
    assert msg.content[0].text == "Bonjour 👋"
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens == 100 and msg.usage.cache_read_input_tokens == 20
    assert msg.usage.output_tokens == 7
    sent = openai_up.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.json["model"] == "gpt-test"
    assert sent.json["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent.headers["authorization"] == "Bearer sk-test-upstream-key"
    assert "x-api-key" not in sent.headers  # the client's gateway key never goes upstream


async def test_messages_stream_delivers_text_and_usage(openai_up, anthropic_sdk):
    openai_up.enqueue(Reply.sse(openai_text_chunks("Hello streaming world", usage=(50, 9, 0)), split=3))
    async with anthropic_sdk.messages.stream(**BODY) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Hello streaming world"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 9
    assert openai_up.requests[-1].json["stream_options"] == {"include_usage": True}


async def test_messages_stream_tool_calls_become_tool_use_blocks(openai_up, anthropic_sdk):
    calls = [("call_1", "Write", '{"file_path": "/tmp/a.txt", "content": "x"}'), ("call_2", "Read", "{}")]
    openai_up.enqueue(Reply.sse(openai_tool_call_chunks(calls)))
    tools = [{"name": "Write", "description": "w", "input_schema": {"type": "object", "properties": {}}},
             {"name": "Read", "description": "r", "input_schema": {"type": "object", "properties": {}}}]
    async with anthropic_sdk.messages.stream(**BODY, tools=tools) as stream:
        final = await stream.get_final_message()
    assert [b.type for b in final.content] == ["tool_use", "tool_use"]
    assert final.content[0].input == {"file_path": "/tmp/a.txt", "content": "x"}
    assert final.content[1].input == {}
    assert final.stop_reason == "tool_use"


async def test_messages_accepts_system_role_messages_and_unknown_fields(openai_up, gateway_client):
    body = {**BODY, "messages": [{"role": "system", "content": "sys-in-messages"},
                                 {"role": "user", "content": "hi"}],
            "context_management": {"edits": []}, "output_config": {"effort": "high"},
            "thinking": {"type": "adaptive"}}
    resp = await gateway_client.post("/v1/messages?beta=true", json=body)
    assert resp.status_code == 200, resp.text
    sent = openai_up.requests[-1].json
    assert any(m["role"] == "system" and "sys-in-messages" in str(m["content"]) for m in sent["messages"])
    assert "context_management" not in sent


@pytest.mark.parametrize("stream", [False, True])
async def test_messages_upstream_429_maps_to_rate_limit_error(openai_up, anthropic_sdk, stream):
    openai_up.enqueue(Reply.error(429, {"error": {"message": "slow down", "type": "rate_limit"}},
                                  headers={"retry-after": "7"}))
    with pytest.raises(anthropic.RateLimitError) as info:
        if stream:
            async with anthropic_sdk.messages.stream(**BODY) as s:
                await s.get_final_message()
        else:
            await anthropic_sdk.messages.create(**BODY)
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.body["error"]["type"] == "rate_limit_error"


async def test_messages_context_length_400_is_invalid_request(openai_up, anthropic_sdk):
    openai_up.enqueue(Reply.error(400, {"error": {"message": "This model's maximum context length is 8192 tokens",
                                                  "code": "context_length_exceeded"}}))
    with pytest.raises(anthropic.BadRequestError) as info:
        await anthropic_sdk.messages.create(**BODY)
    assert info.value.body["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("stream", [False, True])
async def test_messages_falls_back_to_next_candidate_on_5xx(transactional_db, anthropic_sdk, stream):
    with FakeOpenAI() as first, FakeOpenAI() as second:
        p1 = await amake_provider("first", first.base_url)
        p2 = await amake_provider("second", second.base_url, priority=5)
        await amake_tiers({"middle": [(p1, "m1"), (p2, "m2")]})
        first.enqueue(Reply.error(503))
        if stream:
            second.enqueue(Reply.sse(openai_text_chunks("from second")))
            async with anthropic_sdk.messages.stream(**BODY) as s:
                final = await s.get_final_message()
        else:
            second.enqueue(Reply.json(openai_completion("from second")))
            final = await anthropic_sdk.messages.create(**BODY)
        assert final.content[0].text == "from second"
        assert second.requests[-1].json["model"] == "m2"
    await request_log_aflush()
    rows = [r async for r in RequestLog.objects.order_by("id")]
    assert [r.status for r in rows] == [200]  # one request row: what the client got
    attempts = [(a.provider, a.status) async for a in RequestAttempt.objects.filter(request=rows[0])]
    assert attempts == [("first", 529), ("second", 200)]  # 503 overloaded -> Anthropic 529
    assert "fallback: first 529 -> second" in rows[-1].route_reason


async def test_messages_no_fallback_on_client_error(transactional_db, anthropic_sdk):
    with FakeOpenAI() as first, FakeOpenAI() as second:
        p1 = await amake_provider("first", first.base_url)
        p2 = await amake_provider("second", second.base_url, priority=5)
        await amake_tiers({"middle": [(p1, "m1"), (p2, "m2")]})
        first.enqueue(Reply.error(400, {"error": {"message": "bad tool schema"}}))
        with pytest.raises(anthropic.BadRequestError):
            await anthropic_sdk.messages.create(**BODY)
        assert second.requests == []


async def test_messages_stream_broken_midway_ends_with_error_event(openai_up, gateway_client):
    openai_up.enqueue(Reply.sse(openai_text_chunks("a b c d e f g h", pieces=["a ", "b ", "c ", "d "]), drop_after=3))
    resp = await gateway_client.post("/v1/messages", json={**BODY, "stream": True})
    assert resp.status_code == 200
    assert "event: error" in resp.text
    assert "message_stop" not in resp.text


async def test_messages_auth_styles_and_rejections(openai_up, gateway_client, client_key):
    ok = await gateway_client.post("/v1/messages", json=BODY, headers={"x-api-key": "", "authorization": f"Bearer {client_key}"})
    assert ok.status_code == 200
    for headers in ({"x-api-key": "sk-gw-wrong-key-000000000"}, {"x-api-key": ""}):
        resp = await gateway_client.post("/v1/messages", json=BODY, headers=headers)
        assert resp.status_code == 401
        assert resp.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[]", b'{"max_tokens": 5, "messages": []}', b'{"model": "x", "messages": []}',
     b'{"model": "x", "max_tokens": 5}', b'{"model": "x", "max_tokens": 5, "messages": [{"role": "bot", "content": "x"}]}'],
)
async def test_messages_invalid_requests_are_400_and_not_forwarded(openai_up, gateway_client, raw):
    resp = await gateway_client.post("/v1/messages", content=raw, headers={"content-type": "application/json"})
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"
    assert openai_up.requests == []


async def test_messages_request_log_has_usage_ledger_and_no_secret(openai_up, gateway_client):
    openai_up.enqueue(Reply.json(openai_completion("ok", usage=(30, 4, 10))))
    body = {**BODY, "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=1.0"},
                               {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}]}
    resp = await gateway_client.post("/v1/messages", json=body, headers={"anthropic-beta": "context-1m-2025-08-07"})
    assert resp.status_code == 200
    await request_log_aflush()
    row = await RequestLog.objects.aget()
    assert (row.provider, row.upstream_model, row.status) == ("openai", "gpt-test", 200)
    assert (row.input_tokens, row.output_tokens, row.cached_tokens) == (20, 4, 10)
    assert row.route_reason == "tier:middle"
    assert row.ledger  # cache_control / billing header / beta flags were dropped and said so
    dump = str(row.__dict__)
    assert "sk-gw-test" not in dump and "sk-test-upstream" not in dump


async def test_count_tokens_models_health_and_head(openai_up, gateway_client, staff_headers):
    long_text = "The quick brown fox jumps over the lazy dog. " * 1000
    resp = await gateway_client.post("/v1/messages/count_tokens",
                                     json={"model": "claude-sonnet-5", "messages": [{"role": "user", "content": long_text}]})
    assert resp.status_code == 200
    assert 9000 < resp.json()["input_tokens"] < 16000
    models = (await gateway_client.get("/v1/models")).json()
    assert models["data"][0]["type"] == "model"
    assert any(m["id"] == "gpt-test@openai" for m in models["data"])
    health = (await gateway_client.get("/health?detail=1", headers={"x-api-key": "", **staff_headers})).json()
    assert health["providers"]["openai"] == {"status": "healthy", "priority": 0, "failure_count": 0}
    head = await gateway_client.head("/")
    assert head.status_code == 200
    assert openai_up.requests == []


async def test_messages_explicit_and_url_prefix_routing(openai_up, transactional_db, gateway_client):
    with FakeOpenAI() as other:
        await amake_provider("other", other.base_url, priority=50)
        resp = await gateway_client.post("/v1/messages", json={**BODY, "model": "special-model@other"})
        assert resp.status_code == 200
        assert other.requests[-1].json["model"] == "special-model"
        resp = await gateway_client.post("/other:ollama/gpt-oss:20b/v1/messages", json=BODY)
        assert resp.status_code == 200
        assert other.requests[-1].json["model"] == "ollama/gpt-oss:20b"


async def test_messages_bedrock_style_model_ids_are_normalised_for_routing(openai_up, gateway_client):
    resp = await gateway_client.post("/v1/messages", json={**BODY, "model": "us.anthropic.claude-opus-4-8-v1:0"})
    assert resp.status_code == 200
    assert openai_up.requests[-1].json["model"] == "gpt-test"  # routed by the opus tier
    assert resp.json()["model"] == "claude-opus-4-8"


async def test_messages_oversized_body_is_413(openai_up, gateway_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = {**BODY, "messages": [{"role": "user", "content": "x" * 5000}]}
    resp = await gateway_client.post("/v1/messages", json=big)
    assert resp.status_code == 413 and resp.json()["error"]["type"] == "request_too_large"
    resp = await gateway_client.post("/v1/chat/completions", json={"model": "m", "messages": big["messages"]})
    assert resp.status_code == 413


async def test_unknown_endpoints_and_methods_answer_in_anthropic_shape(gateway_client):
    resp = await gateway_client.get("/v1/nope")
    assert resp.status_code == 404 and resp.json()["error"]["type"] == "not_found_error"
    resp = await gateway_client.get("/v1/messages")
    assert resp.status_code == 405 and resp.json()["type"] == "error" and resp.headers["allow"] == "POST"


async def test_messages_answers_carry_a_request_id(openai_up, gateway_client):
    resp = await gateway_client.post("/v1/messages", json=BODY)
    assert resp.headers["request-id"].startswith("req_")


VLLM_TOO_MANY = ("This model's maximum context length is 32768 tokens. However, you requested 66000 tokens "
                 "(2000 in the messages, 64000 in the completion). Please reduce the length of the messages or completion.")


@pytest.mark.parametrize("stream", [False, True])
async def test_messages_retry_within_the_context_budget_the_upstream_states(openai_up, anthropic_sdk, stream):
    openai_up.enqueue(Reply.error(400, {"object": "error", "message": VLLM_TOO_MANY, "code": 400}))
    body = {**BODY, "max_tokens": 64000, "model": "claude-sonnet-5"}
    if stream:
        openai_up.enqueue(Reply.sse(openai_text_chunks("fits now")))
        async with anthropic_sdk.messages.stream(**body) as s:
            final = await s.get_final_message()
    else:
        openai_up.enqueue(Reply.json(openai_completion("fits now")))
        final = await anthropic_sdk.messages.create(**body, timeout=60)
    assert final.content[0].text == "fits now"
    assert [r.json["max_tokens"] for r in openai_up.main_requests] == [64000, 30768]


async def test_messages_learn_a_fixed_completion_limit(openai_up, gateway_client):
    openai_up.enqueue(Reply.error(400, {"error": {"message": "max_tokens is too large: 64000. This model supports at "
                                                              "most 16384 completion tokens, whereas you provided 64000."}}))
    for _ in range(2):
        assert (await gateway_client.post("/v1/messages", json={**BODY, "max_tokens": 64000})).status_code == 200
    assert [r.json["max_tokens"] for r in openai_up.main_requests] == [64000, 16384, 16384]


async def test_messages_prompt_longer_than_the_context_is_not_retried(openai_up, gateway_client):
    message = ("This model's maximum context length is 8192 tokens. However, you requested 75000 tokens "
               "(11000 in the messages, 64000 in the completion).")
    openai_up.enqueue(Reply.error(400, {"error": {"message": message}}))
    resp = await gateway_client.post("/v1/messages", json={**BODY, "max_tokens": 64000})
    assert resp.status_code == 400 and resp.json()["error"]["message"].startswith("prompt is too long")
    assert len(openai_up.main_requests) == 1
