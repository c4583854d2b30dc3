"""The bedrock_converse kind through the real ASGI app, the official anthropic SDK and a strict,
SigV4-verifying fake Bedrock Converse runtime."""

from __future__ import annotations

import json
from urllib.parse import unquote

import anthropic
import pytest

from dashboard.models import RequestAttempt, RequestLog
from dashboard.services import request_log_aflush
from providers.adapters.openai_compat.common import upstream_name
from tests.conftest import amake_provider, amake_tiers, make_provider, make_tiers
from tests.fakes import (
    FakeBedrockConverse,
    FakeOpenAI,
    Reply,
    converse_reply,
    converse_stream,
    converse_stream_events,
)
from tests.fakes.bedrock_converse_server import converse_usage
from tests.fakes.bedrock_server import FAKE_CREDENTIALS, bedrock_error
from tests.providers.test_api_bedrock import aws_env  # noqa: F401 - the AWS-environment-only fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

MODEL = "us.amazon.nova-pro-v1:0"
BODY = {"model": "claude-sonnet-5", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]}
OPTIONS = {"region": "us-east-1"}
BASH = {"name": "Bash", "description": "Run a command",
        "input_schema": {"type": "object", "required": ["command"], "properties": {"command": {"type": "string"}}}}
MCP = {"name": "mcp__files.server__read_file", "input_schema": {"type": "object", "properties": {}}}


@pytest.fixture
def converse_up(transactional_db):
    with FakeBedrockConverse() as up:
        up.provider = make_provider("nova", up.base_url, kind="bedrock_converse", key=json.dumps(FAKE_CREDENTIALS),
                                    options=OPTIONS)
        make_tiers(default=(up.provider, MODEL))
        yield up


def blocks(message):
    return [b.model_dump(exclude_none=True) for b in message.content]


async def test_non_stream_is_signed_and_shaped_for_converse(converse_up, anthropic_sdk):
    converse_up.enqueue(Reply.json(converse_reply([{"text": "Bonjour 👋"}], usage=converse_usage(400, 7, 600, 0))))
    msg = await anthropic_sdk.messages.create(
        **BODY, system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        extra_body={"temperature": 0.2, "stop_sequences": ["END"], "context_management": {"edits": []}},
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"})
    assert msg.content[0].text == "Bonjour 👋" and msg.stop_reason == "end_turn" and msg.model == "claude-sonnet-5"
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens, msg.usage.output_tokens) == (400, 600, 7)
    sent = converse_up.main_requests[-1]
    assert unquote(sent.path) == f"/model/{MODEL}/converse"
    assert sent.json == {"messages": [{"role": "user", "content": [{"text": "hi"}]}], "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}],
                         "inferenceConfig": {"maxTokens": 1000, "temperature": 0.2, "stopSequences": ["END"]}}
    assert sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={FAKE_CREDENTIALS['access_key_id']}/")
    assert "/us-east-1/bedrock/aws4_request" in sent.headers["authorization"]
    assert sent.headers["x-amz-security-token"] == FAKE_CREDENTIALS["session_token"]
    assert "x-api-key" not in sent.headers and "anthropic-version" not in sent.headers
    assert converse_up.rejected == []


async def test_stream_event_stream_becomes_anthropic_sse(converse_up, anthropic_sdk, gateway_client):
    events = converse_stream_events([{"text": "Hello streaming 🌍 world"}], usage=converse_usage(50, 9))
    converse_up.enqueue(converse_stream(events, split=7))
    async with anthropic_sdk.messages.stream(**BODY) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Hello streaming 🌍 world"
    assert final.stop_reason == "end_turn" and (final.usage.input_tokens, final.usage.output_tokens) == (50, 9)
    assert unquote(converse_up.main_requests[-1].path) == f"/model/{MODEL}/converse-stream"
    converse_up.enqueue(converse_stream(converse_stream_events([{"text": "again"}])))
    resp = await gateway_client.post("/v1/messages", json={**BODY, "stream": True})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    assert "event: message_stop" in resp.text and "\nevent: error" not in resp.text
    assert "contentBlockDelta" not in resp.text and converse_up.rejected == []


async def _turn(sdk, stream, **body):
    if not stream:
        return await sdk.messages.create(**body)
    async with sdk.messages.stream(**body) as s:
        return await s.get_final_message()


def _reply(up, stream, content, stop, usage=None):
    if stream:
        up.enqueue(converse_stream(converse_stream_events(content, stop=stop, usage=usage), split=9))
    else:
        up.enqueue(Reply.json(converse_reply(content, stop=stop, usage=usage)))


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_tool_turns_round_trip(converse_up, anthropic_sdk, stream):
    """Two tool steps (one an MCP name Converse cannot take, one failing) then an answer; the fake
    refuses any toolResult whose toolUse is missing from the history it receives."""
    mcp_upstream = upstream_name(MCP["name"])  # dots are outside Converse's name rule: shortened, hashed
    assert mcp_upstream != MCP["name"]
    tools = [BASH, MCP]
    _reply(converse_up, stream, [{"reasoningContent": {"reasoningText": {"text": "List first."}}},
                                 {"toolUse": {"toolUseId": "tooluse_1", "name": "Bash", "input": {"command": "ls"}}}],
           "tool_use")
    messages = [{"role": "user", "content": "What is here?"}]
    first = await _turn(anthropic_sdk, stream, **BODY | {"messages": messages}, tools=tools)
    assert [b.type for b in first.content] == ["thinking", "tool_use"] and first.stop_reason == "tool_use"
    call = first.content[1]
    assert (call.id, call.name, call.input) == ("tooluse_1", "Bash", {"command": "ls"})
    messages += [{"role": "assistant", "content": blocks(first)},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "a.txt"},
                                              {"type": "text", "text": "<system-reminder>x</system-reminder>"}]}]
    _reply(converse_up, stream, [{"toolUse": {"toolUseId": "tooluse_2", "name": mcp_upstream,
                                              "input": {"path": "a.txt"}}}], "tool_use")
    second = await _turn(anthropic_sdk, stream, **BODY | {"messages": messages}, tools=tools)
    assert (second.content[0].name, second.content[0].input) == (MCP["name"], {"path": "a.txt"})
    messages += [{"role": "assistant", "content": blocks(second)},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tooluse_2", "is_error": True,
                                               "content": "permission denied"}]}]
    _reply(converse_up, stream, [{"text": "a.txt is unreadable."}], "end_turn", converse_usage(300, 12))
    third = await _turn(anthropic_sdk, stream, **BODY | {"messages": messages}, tools=tools)
    assert third.content[-1].text == "a.txt is unreadable." and third.stop_reason == "end_turn"
    assert converse_up.rejected == []
    sent = converse_up.main_requests[-1].json
    assert [t["toolSpec"]["name"] for t in sent["toolConfig"]["tools"]] == ["Bash", mcp_upstream]
    # Nova takes no reasoning back in its history: the thinking block stayed with the client
    assert sent["messages"][1]["content"] == [{"toolUse": {"toolUseId": "tooluse_1", "name": "Bash",
                                                           "input": {"command": "ls"}}}]
    assert sent["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "a.txt"}]}},
        {"text": "<system-reminder>x</system-reminder>"}]
    assert sent["messages"][4]["content"] == [
        {"toolResult": {"toolUseId": "tooluse_2", "content": [{"text": "permission denied"}], "status": "error"}}]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("reply,status,error_type,text", [
    (bedrock_error(400, "ValidationException", "Input is too long for requested model."), 400,
     "invalid_request_error", "prompt is too long"),
    (bedrock_error(403, "AccessDeniedException", "You don't have access to the model with the specified model ID."),
     502, "api_error", "don't have access"),
    (bedrock_error(503, "ServiceUnavailableException", "Bedrock is unavailable."), 503, "overloaded_error", "unavailable"),
], ids=["too-long", "access-denied", "unavailable"])
async def test_errors_are_mapped(converse_up, gateway_client, stream, reply, status, error_type, text):
    converse_up.enqueue(reply)
    resp = await gateway_client.post("/v1/messages", json={**BODY, "stream": stream})
    assert resp.status_code == status
    assert resp.json()["error"]["type"] == error_type and text in resp.json()["error"]["message"]


async def test_stream_exception_mid_stream_ends_with_error_event(converse_up, gateway_client):
    events = converse_stream_events([{"text": "one two three four"}])[:4]
    converse_up.enqueue(converse_stream(events, exception=("modelStreamErrorException", "The model stream broke.")))
    resp = await gateway_client.post("/v1/messages", json={**BODY, "stream": True})
    assert resp.status_code == 200
    assert "event: error" in resp.text and "The model stream broke." in resp.text
    assert "message_stop" not in resp.text
    await request_log_aflush()
    row = await RequestLog.objects.aget()
    assert row.status == 502 and "The model stream broke." in row.error


async def test_wrong_secret_is_refused_by_the_signature_check(transactional_db, gateway_client):
    with FakeBedrockConverse() as up:
        wrong = dict(FAKE_CREDENTIALS, secret_access_key="not-the-secret")
        provider = await amake_provider("nova", up.base_url, kind="bedrock_converse", key=json.dumps(wrong),
                                        options=OPTIONS)
        await amake_tiers(default=(provider, MODEL))
        resp = await gateway_client.post("/v1/messages", json=BODY)
        assert resp.status_code == 502 and "signature we calculated does not match" in resp.json()["error"]["message"]
        assert "not-the-secret" not in resp.text and len(up.rejected) == 1


@pytest.mark.parametrize("stream", [False, True])
async def test_throttling_falls_back_to_next_provider(transactional_db, anthropic_sdk, stream):
    from tests.fakes import openai_completion, openai_text_chunks

    with FakeBedrockConverse() as up, FakeOpenAI() as other:
        p1 = await amake_provider("nova", up.base_url, kind="bedrock_converse", key=json.dumps(FAKE_CREDENTIALS),
                                  options=OPTIONS)
        p2 = await amake_provider("openai", other.base_url, priority=5)
        await amake_tiers({"middle": [(p1, MODEL), (p2, "gpt-test")]})
        up.enqueue(bedrock_error(429, "ThrottlingException", "Too many requests, please wait before trying again."))
        other.enqueue(Reply.sse(openai_text_chunks("from openai")) if stream else Reply.json(openai_completion("from openai")))
        final = await _turn(anthropic_sdk, stream, **BODY)
        assert final.content[0].text == "from openai" and len(up.main_requests) == 1
    await request_log_aflush()
    rows = [r async for r in RequestLog.objects.order_by("id")]  # one row per client request
    assert [(r.provider, r.status) for r in rows] == [("openai", 200)]
    attempts = [a async for a in RequestAttempt.objects.filter(request=rows[0]).order_by("number")]
    assert [(a.provider, a.status) for a in attempts] == [("nova", 429), ("openai", 200)]


async def test_bedrock_api_key_goes_as_bearer_and_claude_gets_thinking(transactional_db, anthropic_sdk):
    with FakeBedrockConverse(api_key="ABSKQmVkcm9ja0FQSUtleS1mYWtl") as up:
        provider = await amake_provider("claude-converse", up.base_url, kind="bedrock_converse",
                                        key="ABSKQmVkcm9ja0FQSUtleS1mYWtl", options=OPTIONS)
        await amake_tiers(default=(provider, "us.anthropic.claude-sonnet-4-5-20250929-v1:0"))
        up.enqueue(converse_stream(converse_stream_events([
            {"reasoningContent": {"reasoningText": {"text": "Hmm.", "signature": "EqQBsig=="}}}, {"text": "Yes."}])))
        async with anthropic_sdk.messages.stream(**BODY | {"max_tokens": 32000},
                                                 thinking={"type": "enabled", "budget_tokens": 31999}) as s:
            final = await s.get_final_message()
        assert [b.type for b in final.content] == ["thinking", "text"]
        assert (final.content[0].thinking, final.content[0].signature) == ("Hmm.", "EqQBsig==")
        sent = up.main_requests[-1]
        assert sent.headers["authorization"] == "Bearer ABSKQmVkcm9ja0FQSUtleS1mYWtl" and "x-amz-date" not in sent.headers
        assert sent.json["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 31999}}
        assert up.rejected == []


async def test_sdk_error_class_for_a_rate_limit(converse_up, anthropic_sdk):
    converse_up.enqueue(bedrock_error(429, "ThrottlingException", "slow down", headers={"retry-after": "4"}))
    with pytest.raises(anthropic.RateLimitError) as info:
        await anthropic_sdk.messages.create(**BODY)
    assert info.value.response.headers["retry-after"] == "4"


async def test_credentials_from_the_aws_environment(transactional_db, anthropic_sdk, aws_env):  # noqa: F811
    """No stored key: the SigV4 signing and the 'has a credential' check both use the AWS chain."""
    from providers.client import credential_missing

    creds = {"access_key_id": "AKIAENVIRONMENT00002", "secret_access_key": "env/secret/key2"}
    aws_env.setenv("AWS_ACCESS_KEY_ID", creds["access_key_id"])
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", creds["secret_access_key"])
    with FakeBedrockConverse(credentials=creds, region="eu-west-1") as up:
        provider = await amake_provider("nova-eu", up.base_url, kind="bedrock_converse", key="",
                                        options={"region": "eu-west-1", "region_prefix": "eu"})
        assert credential_missing(provider) == ""
        await amake_tiers(default=(provider, "amazon.nova-lite-v1:0"))
        msg = await anthropic_sdk.messages.create(**BODY)
        assert msg.content[0].text and up.rejected == []
        assert unquote(up.main_requests[-1].path) == "/model/eu.amazon.nova-lite-v1:0/converse"
