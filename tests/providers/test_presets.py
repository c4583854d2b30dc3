"""Each preset's request shape, against a real fake OpenAI-compatible server."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from providers.models import Provider
from providers.presets import PRESETS
from providers.services import provider_preset_apply
from tests.conftest import amake_tiers
from tests.fakes import FakeOpenAI, openai_text_reply

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

TOOLS = [{"name": "Edit", "description": "edit", "input_schema": {
    "$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": False,
    "properties": {"path": {"type": "string"}, "n": {"type": "integer", "exclusiveMinimum": 0}}}}]
HISTORY = [
    {"role": "user", "content": "do it"},
    {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "I should edit.", "signature": "sig-abc"},
        {"type": "tool_use", "id": "toolu_01ABCDEFGHIJKLMNOPQRSTUV", "name": "Edit", "input": {"path": "a"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01ABCDEFGHIJKLMNOPQRSTUV",
                                  "content": "ok"}]},
]
BODY = {"model": "claude-sonnet-5", "max_tokens": 64000, "messages": HISTORY, "tools": TOOLS, "top_k": 5,
        "output_config": {"effort": "high"}, "metadata": {"user_id": "user_abc"}}


async def send_with_preset(preset, gateway_client, key="sk-test-preset-key", base_path="/v1"):
    with FakeOpenAI() as up:
        up.main_paths = {"/v1/chat/completions", "/openai/deployments/dep/chat/completions"}
        up.handler = openai_text_reply

        def create():
            provider = Provider(name=preset.replace("_", "-"))
            provider_preset_apply(provider=provider, preset=preset)
            provider.base_url = up.origin + (base_path if "{" not in PRESETS[preset]["base_url"]
                                             else "/openai/deployments/dep")
            provider.set_api_key(key)
            provider.save()
            return provider

        provider = await sync_to_async(create)()
        await amake_tiers(default=(provider, "upstream-model"))
        resp = await gateway_client.post("/v1/messages", json=BODY)
        assert resp.status_code == 200, resp.text
        return up.requests[-1]


async def test_preset_openai(gateway_client):
    sent = await send_with_preset("openai", gateway_client)
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test-preset-key"
    # a chat model (not o-series/gpt-5) would refuse reasoning_effort: "auto" leaves it out
    assert "reasoning_effort" not in sent.json and "max_tokens" in sent.json


async def test_preset_azure_uses_api_key_header_and_api_version(gateway_client):
    sent = await send_with_preset("azure_openai", gateway_client)
    assert sent.path == "/openai/deployments/dep/chat/completions"
    assert sent.query.get("api-version") in ("2024-10-21", ["2024-10-21"])
    assert sent.headers["api-key"] == "sk-test-preset-key" and "authorization" not in sent.headers


async def test_preset_gemini_sanitises_schemas_and_drops_top_k(gateway_client):
    sent = await send_with_preset("gemini", gateway_client)
    params = sent.json["tools"][0]["function"]["parameters"]
    text = str(params)
    assert "$schema" not in text and "additionalProperties" not in text and "exclusiveMinimum" not in text
    assert params["properties"]["path"] == {"type": "string"}
    assert "top_k" not in sent.json and "user" not in sent.json


async def test_preset_nvidia_nim_sends_thinking_switch(gateway_client):
    sent = await send_with_preset("nvidia_nim", gateway_client)
    assert sent.json["chat_template_kwargs"] == {"thinking": True}


async def test_preset_ollama_sends_num_ctx_and_no_key(gateway_client):
    sent = await send_with_preset("ollama", gateway_client)
    assert sent.json["options"] == {"num_ctx": 32768}
    assert "authorization" not in sent.headers


async def test_preset_vllm_passes_schema_unchanged(gateway_client):
    sent = await send_with_preset("vllm", gateway_client)
    assert sent.json["tools"][0]["function"]["parameters"] == TOOLS[0]["input_schema"]


async def test_preset_deepseek_returns_reasoning_and_clamps_max_tokens(gateway_client):
    sent = await send_with_preset("deepseek", gateway_client)
    assistant = next(m for m in sent.json["messages"] if m["role"] == "assistant")
    assert assistant["reasoning_content"] == "I should edit."
    assert sent.json["max_tokens"] == 8192


async def test_preset_mistral_short_alphanumeric_tool_ids_stable(gateway_client):
    sent = await send_with_preset("mistral", gateway_client)
    assistant = next(m for m in sent.json["messages"] if m["role"] == "assistant")
    tool = next(m for m in sent.json["messages"] if m["role"] == "tool")
    call_id = assistant["tool_calls"][0]["id"]
    assert len(call_id) == 9 and call_id.isalnum() and tool["tool_call_id"] == call_id


async def test_preset_openrouter_headers(gateway_client):
    sent = await send_with_preset("openrouter", gateway_client)
    assert sent.headers["x-title"] == "Claude Code gateway"


async def test_env_var_substitution_in_key_url_and_headers(gateway_client, monkeypatch):
    monkeypatch.setenv("GATEWAY_SECRET_TEST_KEY", "sk-from-env-1234")
    monkeypatch.setenv("GATEWAY_SECRET_TEST_TEAM", "team-a")
    with FakeOpenAI() as up:
        def create():
            provider = Provider(name="envy", kind="openai_compat", base_url="${GATEWAY_SECRET_TEST_ORIGIN:-" + up.origin + "}/v1",
                                headers={"X-Team": "${GATEWAY_SECRET_TEST_TEAM}"})
            provider.set_api_key("${GATEWAY_SECRET_TEST_KEY}")
            provider.save()
            return provider

        provider = await sync_to_async(create)()
        await amake_tiers(default=(provider, "m"))
        assert (await gateway_client.post("/v1/messages", json={**BODY, "tools": []})).status_code == 200
        sent = up.requests[-1]
    assert sent.headers["authorization"] == "Bearer sk-from-env-1234"
    assert sent.headers["x-team"] == "team-a"
