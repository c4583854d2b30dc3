"""The native Gemini kind through the real ASGI app, the official anthropic SDK and a strict fake Gemini."""

from __future__ import annotations

import anthropic
import pytest

from tests.conftest import make_provider, make_tiers
from tests.fakes import FakeGemini, Reply, gemini_error, gemini_response, gemini_stream, gemini_stream_chunks
from tests.fakes.gemini_server import FAKE_GEMINI_KEY, gemini_usage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

MODEL = "gemini-3-pro-preview"  # a thinking model: the fake enforces thought signatures on tool turns
BODY = {"model": "claude-sonnet-5", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]}
BASH = {"name": "Bash", "description": "Run a command",
        "input_schema": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                         "additionalProperties": False, "required": ["command"],
                         "properties": {"command": {"type": "string"}, "timeout": {"type": "number", "default": 5}}}}


@pytest.fixture
def gemini_up(transactional_db):
    with FakeGemini() as up:
        up.provider = make_provider("gemini", up.base_url, kind="gemini", key=FAKE_GEMINI_KEY)
        make_tiers(default=(up.provider, MODEL))
        yield up


def blocks(message):
    return [b.model_dump(exclude_none=True) for b in message.content]


async def test_non_stream_text_usage_and_key_header(gemini_up, anthropic_sdk):
    gemini_up.enqueue(Reply.json(gemini_response([{"text": "Bonjour 👋"}], usage=gemini_usage(1000, 7, 600, 30))))
    msg = await anthropic_sdk.messages.create(
        **BODY, system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        extra_body={"temperature": 0.2, "stop_sequences": ["END"]})
    assert msg.content[0].text == "Bonjour 👋" and msg.stop_reason == "end_turn" and msg.model == "claude-sonnet-5"
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens, msg.usage.output_tokens) == (400, 600, 37)
    sent = gemini_up.main_requests[-1]
    assert sent.path == f"/v1beta/models/{MODEL}:generateContent"
    assert sent.headers["x-goog-api-key"] == FAKE_GEMINI_KEY
    assert "authorization" not in sent.headers and "x-api-key" not in sent.headers
    assert sent.json == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                         "systemInstruction": {"parts": [{"text": "Be brief."}]},
                         "generationConfig": {"maxOutputTokens": 1000, "temperature": 0.2, "stopSequences": ["END"]}}
    assert gemini_up.rejected == []


async def test_stream_text_arrives_in_order(gemini_up, anthropic_sdk):
    gemini_up.enqueue(gemini_stream(gemini_stream_chunks([{"text": "Hello streaming 🌍 world"}],
                                                         usage=gemini_usage(50, 9)), split=5))
    async with anthropic_sdk.messages.stream(**BODY) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Hello streaming 🌍 world"
    assert final.stop_reason == "end_turn" and (final.usage.input_tokens, final.usage.output_tokens) == (50, 9)
    sent = gemini_up.main_requests[-1]
    assert sent.path == f"/v1beta/models/{MODEL}:streamGenerateContent" and sent.query == {"alt": "sse"}


async def _turn(sdk, stream, **body):
    if not stream:
        return await sdk.messages.create(**body)
    async with sdk.messages.stream(**body) as s:
        return await s.get_final_message()


def _reply(up, stream, parts, usage=None):
    if stream:
        up.enqueue(gemini_stream(gemini_stream_chunks(parts, usage=usage), split=9))
    else:
        up.enqueue(Reply.json(gemini_response(parts, usage=usage)))


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_tool_turns_round_trip_thought_signatures(gemini_up, anthropic_sdk, stream):
    """Two tool steps then an answer; each step's signature comes back on its own functionCall part."""
    sig1, sig2 = gemini_up.issue_signature(), gemini_up.issue_signature()
    thinking = {"type": "enabled", "budget_tokens": 2048}
    _reply(gemini_up, stream, [{"text": "I should list files.", "thought": True},
                               {"functionCall": {"name": "Bash", "args": {"command": "ls"}}, "thoughtSignature": sig1}])
    messages = [{"role": "user", "content": "What is here?"}]
    first = await _turn(anthropic_sdk, stream, **BODY | {"messages": messages, "max_tokens": 4000}, tools=[BASH], thinking=thinking)
    assert [b.type for b in first.content] == ["thinking", "tool_use"] and first.stop_reason == "tool_use"
    assert first.content[0].thinking == "I should list files."
    call = first.content[1]
    assert (call.name, call.input) == ("Bash", {"command": "ls"}) and call.id.startswith("toolu_")
    messages += [{"role": "assistant", "content": blocks(first)},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "a.txt"},
                                              {"type": "text", "text": "<system-reminder>x</system-reminder>"}]}]
    _reply(gemini_up, stream, [{"functionCall": {"name": "Bash", "args": {"command": "cat a.txt"}},
                                "thoughtSignature": sig2}])
    second = await _turn(anthropic_sdk, stream, **BODY | {"messages": messages, "max_tokens": 4000}, tools=[BASH], thinking=thinking)
    assert [b.type for b in second.content] == ["thinking", "tool_use"]
    messages += [{"role": "assistant", "content": blocks(second)},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": second.content[1].id,
                                               "content": "hello"}]}]
    _reply(gemini_up, stream, [{"text": "a.txt says hello."}])
    third = await _turn(anthropic_sdk, stream, **BODY | {"messages": messages, "max_tokens": 4000}, tools=[BASH], thinking=thinking)
    assert third.content[-1].text == "a.txt says hello." and third.stop_reason == "end_turn"
    assert gemini_up.rejected == []
    sent = gemini_up.main_requests[-1].json
    model_turns = [c["parts"] for c in sent["contents"] if c["role"] == "model"]
    assert model_turns == [
        [{"text": "I should list files.", "thought": True},
         {"functionCall": {"name": "Bash", "args": {"command": "ls"}}, "thoughtSignature": sig1}],
        [{"functionCall": {"name": "Bash", "args": {"command": "cat a.txt"}}, "thoughtSignature": sig2}]]
    assert sent["contents"][2]["parts"][0] == {"functionResponse": {"name": "Bash", "response": {"content": "a.txt"}}}
    assert sent["tools"][0]["functionDeclarations"][0]["parameters"] == {
        "type": "object", "required": ["command"], "properties": {"command": {"type": "string"},
                                                                  "timeout": {"type": "number"}}}
    assert sent["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 2048, "includeThoughts": True}


async def test_history_without_signatures_gets_the_stand_in(gemini_up, anthropic_sdk):
    """A tool turn from another backend (no Gemini signature) is not refused by a thinking model."""
    messages = [{"role": "user", "content": "go"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "claude's", "signature": "EqQBCkgIBRABGAIiQAnthropicSig"},
                    {"type": "tool_use", "id": "toolu_01XYZ", "name": "Bash", "input": {"command": "pwd"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01XYZ", "content": "/"}]}]
    msg = await anthropic_sdk.messages.create(**BODY | {"messages": messages}, tools=[BASH])
    assert msg.content[0].text == "Hello from the fake Gemini upstream."
    assert gemini_up.rejected == []
    part = gemini_up.main_requests[-1].json["contents"][1]["parts"][0]
    assert part["thoughtSignature"] == "skip_thought_signature_validator"


async def test_a_lost_signature_is_what_the_fake_refuses(gemini_up, gateway_client):
    """The fake really enforces the rule the adapter works around (a raw request, straight to it)."""
    import httpx
    body = {"contents": [{"role": "user", "parts": [{"text": "go"}]},
                         {"role": "model", "parts": [{"functionCall": {"name": "Bash", "args": {}}}]},
                         {"role": "user", "parts": [{"functionResponse": {"name": "Bash", "response": {}}}]}]}
    async with httpx.AsyncClient(base_url=gemini_up.base_url) as http:
        resp = await http.post(f"/v1beta/models/{MODEL}:generateContent", json=body,
                               headers={"x-goog-api-key": FAKE_GEMINI_KEY})
    assert resp.status_code == 400 and "thought_signature" in resp.json()["error"]["message"]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("reply,status,error_type,text", [
    (gemini_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."), 429,
     "rate_limit_error", "exhausted"),
    (gemini_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."), 529,
     "overloaded_error", "overloaded"),
    (gemini_error(400, "INVALID_ARGUMENT", "The input token count (2000000) exceeds the maximum number of tokens "
                  "allowed (1048576)."), 400, "invalid_request_error", "prompt is too long"),
], ids=["429", "503", "too-long"])
async def test_errors_are_mapped(gemini_up, gateway_client, stream, reply, status, error_type, text):
    gemini_up.enqueue(reply)
    resp = await gateway_client.post("/v1/messages", json={**BODY, "stream": stream})
    assert resp.status_code == status
    assert resp.json()["error"]["type"] == error_type and text in resp.json()["error"]["message"]


async def test_wrong_key_is_a_gateway_credential_error(gemini_up, anthropic_sdk):
    provider = gemini_up.provider
    provider.set_api_key("wrong-key")
    await provider.asave()
    from routing.selectors import route_table_invalidate
    route_table_invalidate()
    with pytest.raises(anthropic.APIStatusError) as info:
        await anthropic_sdk.messages.create(**BODY)
    # Google says 400 INVALID_ARGUMENT for a bad key; it is the gateway's fault, and never echoed
    assert info.value.status_code == 502 and "credentials" in str(info.value)
    assert len(gemini_up.rejected) == 1


@pytest.mark.parametrize("spec,kind,base", [
    ({"apiKey": "k", "responseStyle": "gemini"}, "gemini", "https://generativelanguage.googleapis.com"),
    ({"apiKey": "k", "baseURL": "https://generativelanguage.googleapis.com/v1beta"}, "gemini",
     "https://generativelanguage.googleapis.com/v1beta"),
    ({"apiKey": "k", "baseURL": "https://generativelanguage.googleapis.com/v1beta/openai"}, "openai_compat",
     "https://generativelanguage.googleapis.com/v1beta/openai"),
], ids=["style", "native-url", "openai-layer-url"])
async def test_import_config_ccproxy_gemini_provider_maps_to_the_native_kind(tmp_path, spec, kind, base):
    import json

    from configuration.services import config_load
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"providers": {"gemini": spec}, "models": {"bigModel": "gemini-3-pro-preview",
                                                                          "smallModel": "gemini-2.5-flash"}}))
    provider = config_load([path])["providers"][0]
    assert (provider["kind"], provider["base_url"]) == (kind, base)


async def test_health_probe_lists_models_with_the_key(gemini_up):
    from asgiref.sync import sync_to_async

    from providers.probes import health_probe
    from providers.selectors import provider_config

    cfg = provider_config(gemini_up.provider)
    result = await sync_to_async(health_probe)(cfg, timeout=5)
    assert result.ok and result.status == 200
    probe = gemini_up.requests[-1]
    assert (probe.method, probe.path, probe.headers["x-goog-api-key"]) == ("GET", "/v1beta/models", FAKE_GEMINI_KEY)
    gemini_up.provider.set_api_key("wrong-key")
    result = await sync_to_async(health_probe)(provider_config(gemini_up.provider), timeout=5)
    assert not result.ok and result.status == 400


async def test_mcp_schemas_with_refs_and_formats_pass_the_strict_fake(gemini_up, anthropic_sdk):
    import httpx
    schema = {"type": "object", "$defs": {"Item": {"type": "object", "properties": {"url": {"type": "string",
                                                                                           "format": "uri"}}}},
              "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}}}
    msg = await anthropic_sdk.messages.create(**BODY, tools=[{"name": "mcp__srv__fetch", "input_schema": schema}])
    assert msg.content[0].type == "text" and gemini_up.rejected == []
    sent = gemini_up.main_requests[-1].json["tools"][0]["functionDeclarations"][0]["parameters"]
    assert sent == {"type": "object", "properties": {"items": {"type": "array", "items": {
        "type": "object", "properties": {"url": {"type": "string"}}}}}}
    raw = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
           "tools": [{"functionDeclarations": [{"name": "f", "parameters": schema}]}]}
    async with httpx.AsyncClient(base_url=gemini_up.base_url) as http:
        resp = await http.post(f"/v1beta/models/{MODEL}:generateContent", json=raw,
                               headers={"x-goog-api-key": FAKE_GEMINI_KEY})
    assert resp.status_code == 400 and "$defs" in resp.json()["error"]["message"]


async def test_stream_cut_mid_way_ends_in_an_error_event(gemini_up, gateway_client):
    chunks = gemini_stream_chunks([{"text": "This answer will be cut off before it ends."}])
    gemini_up.enqueue(gemini_stream(chunks, drop_after=2))
    resp = await gateway_client.post("/v1/messages", json={**BODY, "stream": True})
    assert resp.status_code == 200 and "event: content_block_delta" in resp.text
    assert "event: error" in resp.text and "event: message_stop" not in resp.text


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_rate_limit_falls_back_to_the_next_provider(transactional_db, anthropic_sdk, stream):
    from tests.conftest import amake_provider, amake_tiers
    from tests.fakes import FakeOpenAI, openai_completion, openai_text_chunks
    with FakeGemini() as up, FakeOpenAI() as other:
        first = await amake_provider("gemini", up.base_url, kind="gemini", key=FAKE_GEMINI_KEY)
        second = await amake_provider("openai", other.base_url, priority=5)
        await amake_tiers({"middle": [(first, MODEL), (second, "gpt-test")]})
        up.enqueue(gemini_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."))
        other.enqueue(Reply.sse(openai_text_chunks("from openai")) if stream else Reply.json(openai_completion("from openai")))
        final = await _turn(anthropic_sdk, stream, **BODY)
        assert final.content[0].text == "from openai"
        assert len(up.main_requests) == 1 and up.rejected == []
