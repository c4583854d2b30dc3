"""/model/{id}/invoke[-with-response-stream] (Claude Code's Bedrock mode) through the real ASGI app,
the official anthropic SDK's ``AsyncAnthropicBedrock`` client and a real fake Anthropic upstream."""

from __future__ import annotations

import base64
import json

import anthropic
import pytest
from botocore.eventstream import EventStreamBuffer

from providers.eventstream import encode_chunk, encode_event_message, encode_exception
from tests.conftest import amake_tiers
from tests.fakes import Reply, anthropic_error, anthropic_message, anthropic_stream_events

pytestmark = [pytest.mark.django_db(transaction=True)]  # asyncio_mode = "auto"

SONNET_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU_ID = "anthropic.claude-haiku-4-5-20251001-v1:0"
HI = [{"role": "user", "content": "hi"}]
WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def make_bedrock_sdk(key: str):
    """The SDK with a Bedrock API key: ``Authorization: Bearer <gateway key>`` (Claude Code's
    ``AWS_BEARER_TOKEN_BEDROCK``). SigV4 signing would need boto3, which the gateway does not use."""
    import httpx2  # the anthropic SDK's own httpx fork

    from proxy_project.asgi import application

    http_client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=application), base_url="http://gateway.test")
    return anthropic.AsyncAnthropicBedrock(base_url="http://gateway.test", aws_region="us-east-1", api_key=key,
                                           http_client=http_client, max_retries=0)


@pytest.fixture
def bedrock_sdk(client_key):
    return make_bedrock_sdk(client_key)


@pytest.fixture
async def routed(anthropic_up):
    provider = anthropic_up.provider
    await amake_tiers({"small": [(provider, "claude-haiku-upstream")], "middle": [(provider, "claude-sonnet-upstream")],
                       "big": [(provider, "claude-opus-upstream")]})
    return anthropic_up


def frames(raw: bytes) -> list[tuple[dict, bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    return [(dict(m.headers), m.payload) for m in buffer]


def chunk_events(raw: bytes) -> list[dict]:
    return [json.loads(base64.b64decode(json.loads(payload)["bytes"])) for headers, payload in frames(raw)
            if headers[":message-type"] == "event"]


# --- encoder ---------------------------------------------------------------------------------------


def test_encoder_round_trips_through_botocore():
    raw = encode_event_message({":event-type": "chunk", "x": "ü"}, b'{"bytes":"e30="}')
    raw += encode_chunk({"type": "ping", "text": "Grüße 🌍"}) + encode_exception("throttlingException", "slow")
    (h1, p1), (h2, p2), (h3, p3) = frames(raw)
    assert (h1, p1) == ({":event-type": "chunk", "x": "ü"}, b'{"bytes":"e30="}')
    assert h2 == {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    assert json.loads(base64.b64decode(json.loads(p2)["bytes"])) == {"type": "ping", "text": "Grüße 🌍"}
    assert h3[":message-type"] == "exception" and h3[":exception-type"] == "throttlingException"
    assert json.loads(p3) == {"message": "slow"}


# --- through the official SDK ----------------------------------------------------------------------


async def test_invoke_non_stream_routes_by_normalised_model(routed, bedrock_sdk):
    routed.enqueue(Reply.json(anthropic_message("Bonjour 👋", model="claude-sonnet-upstream", usage=(12, 3))))
    message = await bedrock_sdk.messages.create(
        model=SONNET_ID, max_tokens=64, messages=HI, system="Be brief.",
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
    )
    assert message.content[0].text == "Bonjour 👋"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 3)
    sent = routed.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-api03-fake-test-key"
    assert sent.json["model"] == "claude-sonnet-upstream"
    assert "anthropic_version" not in sent.json and "anthropic_beta" not in sent.json
    assert sent.json["messages"] == HI and sent.json["system"] == "Be brief." and sent.json["max_tokens"] == 64
    assert not sent.json.get("stream")
    assert "interleaved-thinking-2025-05-14" in sent.headers.get("anthropic-beta", "")


async def test_invoke_stream_text_and_tool_use(routed, bedrock_sdk):
    events = anthropic_stream_events("Checking.", model="claude-haiku-upstream",
                                     tool_uses=[("toolu_1", "get_weather", {"city": "Paris"})])
    routed.enqueue(Reply.sse(events, split=7))
    async with bedrock_sdk.messages.stream(model=HAIKU_ID, max_tokens=64, messages=HI, tools=[WEATHER]) as stream:
        texts = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(texts) == "Checking."
    assert final.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "input", None)) for b in final.content] == [
        ("text", None), ("tool_use", {"city": "Paris"})]
    assert final.content[1].id == "toolu_1" and final.content[1].name == "get_weather"
    sent = routed.requests[-1].json
    assert sent["model"] == "claude-haiku-upstream" and sent["stream"] is True
    assert sent["tools"] == [WEATHER]


async def test_upstream_429_is_a_throttling_exception(routed, bedrock_sdk):
    routed.enqueue(Reply.error(429, anthropic_error(429, "slow down"), headers={"retry-after": "7"}))
    with pytest.raises(anthropic.RateLimitError) as info:
        await bedrock_sdk.messages.create(model=SONNET_ID, max_tokens=16, messages=HI)
    response = info.value.response
    assert response.headers["x-amzn-errortype"] == "ThrottlingException"
    assert response.json() == {"message": "slow down"}


async def test_wrong_key_is_refused_bedrock_style(routed):
    sdk = make_bedrock_sdk("sk-gw-wrong-key-0000")
    with pytest.raises(anthropic.AuthenticationError) as info:
        await sdk.messages.create(model=SONNET_ID, max_tokens=16, messages=HI)
    response = info.value.response
    assert response.status_code == 401
    assert response.headers["x-amzn-errortype"] == "UnrecognizedClientException"
    assert response.headers["x-should-retry"] == "false"
    assert "message" in response.json()
    assert routed.requests == []


async def test_opus_profile_id_through_sdk(routed, bedrock_sdk):
    routed.enqueue(Reply.json(anthropic_message("ok", model="claude-opus-upstream")))
    message = await bedrock_sdk.messages.create(model="global.anthropic.claude-opus-4-5-20251101-v1:0",
                                                max_tokens=8, messages=HI)
    assert message.content[0].text == "ok"
    assert routed.requests[-1].json["model"] == "claude-opus-upstream"


# --- raw HTTP through the ASGI app -----------------------------------------------------------------


def bedrock_body(**extra):
    return {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 32, "messages": HI, **extra}


async def test_no_credentials_is_401_and_sigv4_alone_is_not_a_key(routed, gateway_client):
    """CLAUDE_CODE_SKIP_BEDROCK_AUTH=1 sends nothing; a SigV4 header is not a gateway key."""
    for headers in ({"x-api-key": ""}, {"x-api-key": "", "authorization": "AWS4-HMAC-SHA256 Credential=AKIA/x"}):
        response = await gateway_client.post(f"/model/{SONNET_ID}/invoke", json=bedrock_body(), headers=headers)
        assert response.status_code == 401
        assert response.headers["x-amzn-errortype"] == "UnrecognizedClientException"
    assert routed.requests == []


async def test_sigv4_header_is_ignored_when_a_key_is_sent(routed, gateway_client):
    routed.enqueue(Reply.json(anthropic_message("ok", model="claude-sonnet-upstream")))
    response = await gateway_client.post(f"/model/{SONNET_ID}/invoke", json=bedrock_body(),
                                         headers={"authorization": "AWS4-HMAC-SHA256 Credential=AKIA/x"})
    assert response.status_code == 200, response.text
    assert "AWS4" not in str(routed.requests[-1].headers)


async def test_open_access_needs_no_key(routed, gateway_client, settings):
    settings.GATEWAY_OPEN_ACCESS = True
    routed.enqueue(Reply.json(anthropic_message("ok", model="claude-sonnet-upstream")))
    response = await gateway_client.post(f"/model/{SONNET_ID}/invoke", json=bedrock_body(), headers={"x-api-key": ""})
    assert response.status_code == 200, response.text


async def test_percent_encoded_model_id_and_body_beta_list(routed, gateway_client):
    routed.enqueue(Reply.json(anthropic_message("ok", model="claude-sonnet-upstream")))
    response = await gateway_client.post(
        "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke",
        json=bedrock_body(anthropic_beta=["context-1m-2025-08-07"]),
        headers={"anthropic-beta": "claude-code-20250219"})  # Claude Code sends both
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == "ok"
    sent = routed.requests[-1]
    assert sent.json["model"] == "claude-sonnet-upstream"
    assert sent.headers.get("anthropic-beta", "").split(",") == ["claude-code-20250219", "context-1m-2025-08-07"]


async def test_stream_is_event_stream_without_pings_and_error_becomes_exception(routed, gateway_client):
    events = anthropic_stream_events("Hello", model="claude-sonnet-upstream")
    cut = [*events[:4], anthropic_error(529, "overloaded now")]
    routed.enqueue(Reply.sse(cut))
    response = await gateway_client.post(f"/model/{SONNET_ID}/invoke-with-response-stream", json=bedrock_body())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    got = chunk_events(response.content)
    assert [e["type"] for e in got] == [e["type"] for e in events[:4] if e["type"] != "ping"]
    assert "ping" in [e["type"] for e in events[:4]]  # the fake does send one
    headers, payload = frames(response.content)[-1]
    assert headers[":message-type"] == "exception"
    assert headers[":exception-type"] == "serviceUnavailableException"
    assert json.loads(payload) == {"message": "overloaded now"}


async def test_stream_error_before_first_byte_is_json(routed, gateway_client):
    routed.enqueue(Reply.error(400, anthropic_error(400, "prompt is bad")))
    response = await gateway_client.post(f"/model/{SONNET_ID}/invoke-with-response-stream", json=bedrock_body())
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == "ValidationException"
    assert response.json() == {"message": "prompt is bad"}


async def test_invalid_body_is_a_validation_exception(routed, gateway_client):
    response = await gateway_client.post(f"/model/{SONNET_ID}/invoke", json={"anthropic_version": "x", "messages": HI})
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == "ValidationException"
    assert "max_tokens" in response.json()["message"]
    response = await gateway_client.post(f"/model/{SONNET_ID}/invoke", content=b"not json")
    assert response.status_code == 400 and "JSON" in response.json()["message"]
    assert routed.requests == []
