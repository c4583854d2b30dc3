"""/v1/messages to an ``openai_responses`` backend: the official anthropic SDK through the real ASGI
app to a strict fake /v1/responses server (tool turns, the reasoning round trip, errors)."""

from __future__ import annotations

import asyncio

import anthropic
import httpx
import pytest

from providers.adapters.openai_compat.common import upstream_name
from tests.conftest import amake_provider, amake_tiers
from tests.fakes import (
    FakeResponses,
    Reply,
    responses_function_call,
    responses_message,
    responses_reasoning,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

BODY = {"model": "claude-sonnet-5", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]}
TOOLS = [{"name": "Bash", "description": "Run a shell command",
          "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}},
         {"name": "mcp__files.server__read/file", "description": "MCP read",
          "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}]
ENCRYPTED = "gAAAAABfakeEncryptedReasoningTurnOne=="


@pytest.fixture
async def responses_up(transactional_db):
    with FakeResponses() as up:
        provider = await amake_provider("openai-responses", up.base_url, kind="openai_responses",
                                        preset="openai_responses", options={"reasoning_effort": "auto"})
        await amake_tiers(default=(provider, "gpt-5-codex"))
        yield up


async def call(sdk, stream, **body):
    if stream:
        async with sdk.messages.stream(**body) as s:
            return await s.get_final_message()
    return await sdk.messages.create(**body)


@pytest.mark.parametrize("stream", [False, True])
async def test_messages_text_reply_with_cached_usage(responses_up, anthropic_sdk, stream):
    responses_up.enqueue_output([responses_message("Bonjour 👋 from /v1/responses")], usage=(1200, 9, 1000))
    msg = await call(anthropic_sdk, stream, **BODY, system=[{"type": "text", "text": "Be brief."}])
    assert msg.content[0].text == "Bonjour 👋 from /v1/responses"
    assert msg.stop_reason == "end_turn"
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens, msg.usage.output_tokens) == (200, 1000, 9)
    sent = responses_up.main_requests[-1]
    assert sent.path == "/v1/responses" and responses_up.rejections == []
    assert sent.headers["authorization"] == "Bearer sk-test-upstream-key"
    assert sent.json["instructions"] == "Be brief." and sent.json["store"] is False
    assert sent.json.get("stream", False) is stream and "x-api-key" not in sent.headers


@pytest.mark.parametrize("stream", [False, True])
async def test_messages_tool_turn_and_reasoning_round_trip(responses_up, anthropic_sdk, stream):
    """Turn 1 reasons and calls two tools; turn 2 carries the encrypted reasoning item back."""
    responses_up.enqueue_output([
        responses_reasoning(["Need to list files", "then read one"], encrypted=ENCRYPTED),
        responses_function_call("call_ls", "Bash", '{"command": "ls -la"}'),
        responses_function_call("call_rd", upstream_name(TOOLS[1]["name"]), '{"path": "a.txt"}'),
    ], usage=(500, 60, 0))
    body = {**BODY, "tools": TOOLS, "thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"},
            "messages": [{"role": "user", "content": "look around"}]}
    first = await call(anthropic_sdk, stream, **body)
    assert [b.type for b in first.content] == ["thinking", "tool_use", "tool_use"]
    assert first.stop_reason == "tool_use"
    assert first.content[0].thinking == "Need to list files\n\nthen read one"
    assert first.content[1].input == {"command": "ls -la"}
    assert first.content[2].name == "mcp__files.server__read/file" and first.content[2].input == {"path": "a.txt"}
    sent1 = responses_up.main_requests[-1].json
    assert sent1["reasoning"] == {"effort": "medium", "summary": "auto"}
    assert sent1["include"] == ["reasoning.encrypted_content"]

    responses_up.enqueue_output([responses_message("Two files, a.txt says hi.")], usage=(700, 12, 500))
    history = [*body["messages"], {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
               {"role": "user", "content": [
                   {"type": "tool_result", "tool_use_id": "call_ls", "content": "a.txt"},
                   {"type": "tool_result", "tool_use_id": "call_rd", "content": [{"type": "text", "text": "hi"}]},
                   {"type": "text", "text": "<system-reminder>go on</system-reminder>"}]}]
    second = await call(anthropic_sdk, stream, **{**body, "messages": history})
    assert second.content[0].text == "Two files, a.txt says hi."
    assert responses_up.rejections == []
    items = responses_up.main_requests[-1].json["input"]
    reasoning = next(i for i in items if i.get("type") == "reasoning")
    assert reasoning["encrypted_content"] == ENCRYPTED and reasoning["id"].startswith("rs_")
    kinds = [i.get("type", "message") for i in items]
    assert kinds == ["message", "reasoning", "function_call", "function_call", "function_call_output",
                     "function_call_output", "message"]


async def test_messages_incomplete_is_max_tokens(responses_up, anthropic_sdk):
    responses_up.enqueue_output([responses_message("cut sho")], status="incomplete",
                                incomplete_reason="max_output_tokens")
    msg = await call(anthropic_sdk, True, **BODY)
    assert msg.stop_reason == "max_tokens" and msg.content[0].text == "cut sho"


@pytest.mark.parametrize("stream", [False, True])
async def test_messages_upstream_429_is_rate_limit_error(responses_up, anthropic_sdk, stream):
    responses_up.enqueue(Reply.error(429, {"error": {"message": "Rate limit reached", "type": "requests",
                                                     "code": "rate_limit_exceeded"}}, headers={"retry-after": "4"}))
    with pytest.raises(anthropic.RateLimitError) as info:
        await call(anthropic_sdk, stream, **BODY)
    assert info.value.response.headers["retry-after"] == "4"


async def test_messages_stream_failed_before_content_answers_with_an_error(responses_up, anthropic_sdk):
    responses_up.enqueue(Reply.sse([
        {"type": "response.created", "sequence_number": 0, "response": {"id": "resp_f", "status": "in_progress"}},
        {"type": "response.failed", "sequence_number": 1, "response": {
            "id": "resp_f", "status": "failed", "error": {"code": "server_error", "message": "model crashed"}}},
    ]))
    with pytest.raises(anthropic.APIStatusError) as info:
        await call(anthropic_sdk, True, **BODY)
    assert info.value.status_code >= 500 and "model crashed" in str(info.value.body)


# -- the fake is as strict as the real service ------------------------------------------------------

CHAT_ONLY = [
    {"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]},
    {"model": "gpt-5", "input": "hi", "max_tokens": 10},
    {"model": "gpt-5", "input": "hi", "stream": True, "stream_options": {"include_usage": True}},
    {"model": "gpt-5", "input": "hi", "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
    {"model": "gpt-5", "input": "hi", "tools": [{"type": "function", "name": "f", "parameters": {}}],
     "tool_choice": {"type": "function", "function": {"name": "f"}}},
    {"model": "gpt-5", "input": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
    {"model": "gpt-5", "input": [{"type": "function_call_output", "call_id": "call_x", "output": "orphan"}]},
    {"model": "gpt-5", "store": False, "input": [{"type": "reasoning", "id": "rs_1", "summary": []}]},
]


@pytest.mark.parametrize("body", CHAT_ONLY, ids=range(len(CHAT_ONLY)))
async def test_fake_responses_rejects_what_the_real_service_rejects(transactional_db, body):
    with FakeResponses() as up:
        async with httpx.AsyncClient(timeout=5) as http:
            resp = await http.post(up.base_url + "/responses", json=body)
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error" and up.rejections


async def test_health_probe_reads_the_models_endpoint_with_bearer_auth(responses_up):
    from providers.models import Provider
    from providers.probes import health_probe
    from providers.selectors import provider_config

    provider = await Provider.objects.aget(name="openai-responses")
    result = await asyncio.to_thread(health_probe, provider_config(provider), timeout=5)
    assert result.ok is True
    [request] = [r for r in responses_up.requests if r.method == "GET"]
    assert request.path == "/v1/models" and request.headers["authorization"] == "Bearer sk-test-upstream-key"


async def test_fake_responses_rejects_reasoning_without_its_following_item(transactional_db):
    body = {"model": "gpt-5", "store": False, "input": [
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA=="},
        {"role": "user", "content": "next"}]}
    with FakeResponses() as up:
        async with httpx.AsyncClient(timeout=5) as http:
            resp = await http.post(up.base_url + "/responses", json=body)
    assert resp.status_code == 400 and "required following item" in resp.json()["error"]["message"]


async def test_messages_max_output_tokens_refusal_is_retried_within_the_limit(responses_up, anthropic_sdk):
    message = ("Invalid 'max_output_tokens': integer above maximum value. Expected a value <= 128000, "
               "but got 200000 instead.")
    responses_up.enqueue(Reply.error(400, {"error": {"message": message, "type": "invalid_request_error",
                                                     "param": "max_output_tokens", "code": "integer_above_max_value"}}))
    responses_up.enqueue_output([responses_message("fits now")])
    msg = await call(anthropic_sdk, True, **{**BODY, "max_tokens": 200000})
    assert msg.content[0].text == "fits now"
    assert [r.json["max_output_tokens"] for r in responses_up.main_requests] == [200000, 128000]
