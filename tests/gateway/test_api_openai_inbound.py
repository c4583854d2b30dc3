"""/v1/chat/completions through the real ASGI app, the official openai SDK and real fake-upstream servers."""

from __future__ import annotations

import openai
import pytest

from dashboard.models import RequestLog
from dashboard.services import request_log_aflush
from tests.conftest import amake_provider, amake_tiers
from tests.fakes import (
    FakeOpenAI,
    Reply,
    anthropic_error,
    anthropic_message,
    anthropic_stream_events,
    openai_completion,
    openai_text_chunks,
    openai_tool_call_chunks,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

MODEL = "claude-sonnet-5"
HI = [{"role": "user", "content": "hi"}]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}


def make_sdk(key, base_url="http://gateway.test/v1"):
    import httpx2  # the openai SDK's own httpx fork

    from proxy_project.asgi import application

    http_client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=application), base_url="http://gateway.test")
    return openai.AsyncOpenAI(api_key=key, base_url=base_url, http_client=http_client, max_retries=0)


@pytest.fixture
def openai_sdk(client_key):
    return make_sdk(client_key)


@pytest.fixture
async def anthropic_routed(anthropic_up):
    await amake_tiers(default=(anthropic_up.provider, "claude-sonnet-5-upstream"))
    return anthropic_up


async def collect(stream):
    return [chunk async for chunk in stream]


async def test_chat_non_stream_through_openai_backend(openai_up, openai_sdk):
    openai_up.enqueue(Reply.json(openai_completion("Bonjour 👋", usage=(120, 7, 20))))
    completion = await openai_sdk.chat.completions.create(
        model=MODEL, messages=[{"role": "system", "content": "Be brief."}, *HI], max_tokens=50, temperature=0.3,
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Bonjour 👋"
    assert completion.choices[0].finish_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (120, 7)
    assert completion.usage.prompt_tokens_details.cached_tokens == 20
    sent = openai_up.requests[-1].json
    assert sent["model"] == "gpt-test"
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert (sent["max_tokens"], sent["temperature"]) == (50, 0.3)


async def test_chat_non_stream_through_anthropic_backend_sends_canonical_request(anthropic_routed, openai_sdk):
    anthropic_routed.enqueue(Reply.json(anthropic_message(
        "Checking.", tool_uses=[("toolu_1", "get_weather", {"city": "Paris"})],
        usage={"input_tokens": 50, "output_tokens": 9, "cache_read_input_tokens": 30,
               "cache_creation_input_tokens": 0})))
    completion = await openai_sdk.chat.completions.create(
        model=MODEL, messages=[{"role": "developer", "content": "Use tools."}, *HI], tools=[WEATHER],
        tool_choice="required", stop="END", user="alice",
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Checking."
    call = choice.message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == ("toolu_1", "get_weather", '{"city":"Paris"}')
    assert completion.usage.prompt_tokens == 80
    sent = anthropic_routed.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-api03-fake-test-key"
    assert sent.json == {
        "model": "claude-sonnet-5-upstream", "max_tokens": 4096, "messages": HI,
        "system": [{"type": "text", "text": "Use tools."}], "stop_sequences": ["END"],
        "tools": [{"name": "get_weather", "description": "Weather for a city",
                   "input_schema": WEATHER["function"]["parameters"]}],
        "tool_choice": {"type": "any"}, "metadata": {"user_id": "alice"},
    }


async def test_chat_stream_text_with_usage_chunk(openai_up, openai_sdk):
    openai_up.enqueue(Reply.sse(openai_text_chunks("Hello streaming world", usage=(50, 9, 0)), split=3))
    stream = await openai_sdk.chat.completions.create(model=MODEL, messages=HI, stream=True,
                                                      stream_options={"include_usage": True})
    chunks = await collect(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello streaming world"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (50, 9)
    assert len({c.id for c in chunks}) == 1


async def test_chat_stream_without_include_usage_has_no_usage_chunk(anthropic_routed, openai_sdk):
    anthropic_routed.enqueue(Reply.sse(anthropic_stream_events("Grüße 🌍", pieces=["Grü", "ße ", "🌍"]), split=5))
    stream = await openai_sdk.chat.completions.create(model=MODEL, messages=HI, stream=True)
    chunks = await collect(stream)
    assert all(c.choices and c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Grüße 🌍"
    assert anthropic_routed.requests[-1].json["stream"] is True


async def test_chat_stream_tool_calls_accumulate_in_sdk_helper(anthropic_routed, openai_sdk):
    tool_uses = [("toolu_a", "get_weather", {"city": "Paris"}), ("toolu_b", "get_weather", {"city": "Oslo"})]
    anthropic_routed.enqueue(Reply.sse(anthropic_stream_events("Let me look.", tool_uses=tool_uses)))
    async with openai_sdk.chat.completions.stream(model=MODEL, messages=HI, tools=[WEATHER]) as stream:
        final = await stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Let me look."
    assert [(c.id, c.function.arguments) for c in message.tool_calls] == [
        ("toolu_a", '{"city": "Paris"}'), ("toolu_b", '{"city": "Oslo"}')]
    assert final.choices[0].finish_reason == "tool_calls"


async def test_chat_stream_tool_calls_from_openai_backend(openai_up, openai_sdk):
    calls = [("call_1", "get_weather", '{"city": "Paris"}')]
    openai_up.enqueue(Reply.sse(openai_tool_call_chunks(calls)))
    stream = await openai_sdk.chat.completions.create(model=MODEL, messages=HI, tools=[WEATHER], stream=True)
    chunks = await collect(stream)
    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id == "call_1" and deltas[0].function.name == "get_weather"
    assert "".join(d.function.arguments or "" for d in deltas) == '{"city": "Paris"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_chat_tools_round_trip_reaches_backend_as_tool_messages(openai_up, openai_sdk):
    openai_up.enqueue(Reply.json(openai_completion(tool_calls=[("call_1", "get_weather", '{"city": "Paris"}')])))
    first = await openai_sdk.chat.completions.create(model=MODEL, messages=HI, tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]
    openai_up.enqueue(Reply.json(openai_completion("It is sunny in Paris.")))
    second = await openai_sdk.chat.completions.create(
        model=MODEL, tools=[WEATHER],
        messages=[*HI, first.choices[0].message.model_dump(exclude_none=True),
                  {"role": "tool", "tool_call_id": call.id, "content": "sunny"}],
    )
    assert second.choices[0].message.content == "It is sunny in Paris."
    sent = openai_up.requests[-1].json["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "call_1"
    assert sent[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}


async def test_chat_images_reach_both_backend_kinds(openai_up, anthropic_up, openai_sdk):
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
               {"type": "image_url", "image_url": {"url": "https://example.test/cat.jpg"}}]
    await openai_sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": content}])
    parts = openai_up.requests[-1].json["messages"][0]["content"]
    assert [p["image_url"]["url"] for p in parts if p["type"] == "image_url"] == [
        f"data:image/png;base64,{PNG}", "https://example.test/cat.jpg"]
    anthropic_up.enqueue(Reply.json(anthropic_message("A pixel.")))
    done = await openai_sdk.chat.completions.create(model="pixel@anthropic",
                                                    messages=[{"role": "user", "content": content}])
    assert done.choices[0].message.content == "A pixel."
    blocks = anthropic_up.requests[-1].json["messages"][0]["content"]
    assert blocks[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    assert blocks[2] == {"type": "image", "source": {"type": "url", "url": "https://example.test/cat.jpg"}}


@pytest.mark.parametrize("stream", [False, True])
async def test_chat_upstream_429_raises_rate_limit_error(openai_up, openai_sdk, stream):
    openai_up.enqueue(Reply.error(429, {"error": {"message": "slow down", "type": "rate_limit"}},
                                  headers={"retry-after": "7"}))
    with pytest.raises(openai.RateLimitError) as info:
        result = await openai_sdk.chat.completions.create(model=MODEL, messages=HI, stream=stream)
        if stream:
            await collect(result)
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.code == "rate_limit_exceeded"
    assert "slow down" in info.value.message


async def test_chat_anthropic_overloaded_is_503_server_error(anthropic_routed, openai_sdk):
    anthropic_routed.enqueue(Reply.error(529, anthropic_error(529, "Overloaded", "overloaded_error")))
    with pytest.raises(openai.InternalServerError) as info:
        await openai_sdk.chat.completions.create(model=MODEL, messages=HI)
    assert info.value.status_code == 503
    assert (info.value.type, info.value.code) == ("server_error", "overloaded")


async def test_chat_context_length_error_keeps_openai_code(openai_up, openai_sdk):
    openai_up.enqueue(Reply.error(400, {"error": {"message": "This model's maximum context length is 8192 tokens",
                                                  "code": "context_length_exceeded"}}))
    with pytest.raises(openai.BadRequestError) as info:
        await openai_sdk.chat.completions.create(model=MODEL, messages=HI)
    assert info.value.code == "context_length_exceeded"


async def test_chat_stream_error_midway_raises_api_error(anthropic_routed, openai_sdk):
    events = anthropic_stream_events("partial answer", pieces=["partial ", "answer"])[:5]
    events.append({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    anthropic_routed.enqueue(Reply.sse(events))
    stream = await openai_sdk.chat.completions.create(model=MODEL, messages=HI, stream=True)
    seen = []
    with pytest.raises(openai.APIError) as info:
        async for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "partial answer"
    assert info.value.message == "Overloaded"
    assert info.value.code == "overloaded"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [({"n": 2}, "n"),
     ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]}]},
      "messages.0.content.0"),
     ({"messages": []}, "messages"),
     ({"tool_choice": "sometimes", "tools": [WEATHER]}, "tool_choice")],
)
async def test_chat_bad_requests_are_400_and_not_forwarded(openai_up, openai_sdk, kwargs, param):
    with pytest.raises(openai.BadRequestError) as info:
        await openai_sdk.chat.completions.create(**{"model": MODEL, "messages": HI, **kwargs})
    assert info.value.status_code == 400
    assert (info.value.type, info.value.param) == ("invalid_request_error", param)
    assert openai_up.requests == []


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'{"messages": [{"role": "user", "content": "x"}]}'])
async def test_chat_malformed_bodies_are_openai_shaped_400(openai_up, gateway_client, raw):
    resp = await gateway_client.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"
    assert openai_up.requests == []


async def test_chat_auth_failure_is_openai_authentication_error(openai_up, openai_sdk):
    bad = make_sdk("sk-gw-wrong-key-000000000")
    with pytest.raises(openai.AuthenticationError) as info:
        await bad.chat.completions.create(model=MODEL, messages=HI)
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"
    assert openai_up.requests == []
    ok = await openai_sdk.chat.completions.create(model=MODEL, messages=HI)  # Bearer auth works
    assert ok.choices[0].message.content


async def test_chat_url_prefix_routing_and_unknown_provider(openai_up, transactional_db, client_key):
    with FakeOpenAI() as other:
        await amake_provider("other", other.base_url, priority=50)
        sdk = make_sdk(client_key, "http://gateway.test/other:ollama/gpt-oss:20b/v1")
        await sdk.chat.completions.create(model=MODEL, messages=HI)
        assert other.requests[-1].json["model"] == "ollama/gpt-oss:20b"
    with pytest.raises(openai.NotFoundError) as info:
        await make_sdk(client_key, "http://gateway.test/nope:x/v1").chat.completions.create(model=MODEL, messages=HI)
    assert info.value.code == "model_not_found"


async def test_chat_request_log_records_endpoint_and_usage(openai_up, openai_sdk):
    openai_up.enqueue(Reply.sse(openai_text_chunks("ok", usage=(30, 4, 10))))
    await collect(await openai_sdk.chat.completions.create(model=MODEL, messages=HI, stream=True))
    await request_log_aflush()
    row = await RequestLog.objects.aget()
    assert (row.endpoint, row.provider, row.status, row.stream) == ("chat_completions", "openai", 200, True)
    assert (row.input_tokens, row.output_tokens, row.cached_tokens) == (20, 4, 10)
