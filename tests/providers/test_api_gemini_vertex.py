"""Gemini on Vertex AI through the real ASGI app, the official anthropic SDK and a strict fake Vertex
(Bearer tokens its own OAuth endpoint issued against the service-account JWT the gateway signs)."""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest

from providers import google_auth
from tests.conftest import make_provider, make_tiers
from tests.fakes import Reply, gemini_error, gemini_response, gemini_stream, gemini_stream_chunks
from tests.fakes.gemini_server import gemini_usage
from tests.fakes.gemini_vertex_server import FakeGeminiVertex

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

MODEL = "gemini-3-pro-preview"  # a thinking model: the fake enforces thought signatures on tool turns
PATH = f"/v1/projects/fake-project/locations/us-central1/publishers/google/models/{MODEL}"
BODY = {"model": "claude-sonnet-5", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]}
BASH = {"name": "Bash", "description": "Run a command",
        "input_schema": {"type": "object", "additionalProperties": False, "required": ["command"],
                         "properties": {"command": {"type": "string"}}}}


@pytest.fixture(autouse=True)
def _no_cached_tokens():
    google_auth.google_tokens_forget()
    yield
    google_auth.google_tokens_forget()


@pytest.fixture
def vtx(transactional_db):
    with FakeGeminiVertex(models={MODEL}) as up:
        up.provider = make_provider("gemini-vertex", up.base_url, kind="gemini_vertex",
                                    key=json.dumps(up.service_account()),
                                    options={"project": up.project, "region": up.region})
        make_tiers(default=(up.provider, MODEL))
        yield up


def _reply(up, stream, parts, usage=None):
    if stream:
        up.enqueue(gemini_stream(gemini_stream_chunks(parts, usage=usage, model=MODEL), split=7))
    else:
        up.enqueue(Reply.json(gemini_response(parts, usage=usage, model=MODEL)))


async def _turn(sdk, stream, **body):
    if not stream:
        return await sdk.messages.create(**body)
    async with sdk.messages.stream(**body) as s:
        return await s.get_final_message()


async def test_non_stream_carries_a_minted_token_and_the_gemini_body(vtx, anthropic_sdk):
    _reply(vtx, False, [{"text": "Bonjour 👋"}], gemini_usage(1000, 7, 600, 30))
    msg = await anthropic_sdk.messages.create(**BODY, system="Be brief.")
    assert msg.content[0].text == "Bonjour 👋" and msg.model == "claude-sonnet-5" and msg.stop_reason == "end_turn"
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens, msg.usage.output_tokens) == (400, 600, 37)
    assert vtx.rejected == []
    (sent,) = vtx.main_requests
    assert sent.path == PATH + ":generateContent"
    assert sent.headers["authorization"] == "Bearer ya29.fake-gemini-1"
    assert "x-goog-api-key" not in sent.headers and "x-api-key" not in sent.headers
    assert sent.json == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                         "systemInstruction": {"parts": [{"text": "Be brief."}]},
                         "generationConfig": {"maxOutputTokens": 1000}}
    assert len(vtx.token_requests) == 1 and "BEGIN PRIVATE KEY" not in json.dumps(sent.headers)


async def test_stream_text_arrives_in_order_and_the_token_is_reused(vtx, anthropic_sdk):
    for _ in range(2):
        _reply(vtx, True, [{"text": "Hello streaming 🌍 world"}], gemini_usage(50, 9))
        async with anthropic_sdk.messages.stream(**BODY) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
        assert text == "Hello streaming 🌍 world"
        assert final.stop_reason == "end_turn" and (final.usage.input_tokens, final.usage.output_tokens) == (50, 9)
    sent = vtx.main_requests[-1]
    assert sent.path == PATH + ":streamGenerateContent" and sent.query == {"alt": "sse"}
    assert len(vtx.token_requests) == 1 and vtx.rejected == []


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_tool_turns_round_trip_thought_signatures(vtx, anthropic_sdk, stream):
    """A tool step then an answer; the step's signature comes back on its functionCall part."""
    sig = vtx.issue_signature()
    thinking = {"type": "enabled", "budget_tokens": 2048}
    _reply(vtx, stream, [{"text": "I should list files.", "thought": True},
                         {"functionCall": {"name": "Bash", "args": {"command": "ls"}}, "thoughtSignature": sig}])
    messages = [{"role": "user", "content": "What is here?"}]
    first = await _turn(anthropic_sdk, stream, **BODY | {"messages": messages, "max_tokens": 4000},
                        tools=[BASH], thinking=thinking)
    assert [b.type for b in first.content] == ["thinking", "tool_use"] and first.stop_reason == "tool_use"
    call = first.content[1]
    assert (call.name, call.input) == ("Bash", {"command": "ls"})
    messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "a.txt"}]}]
    _reply(vtx, stream, [{"text": "There is a.txt."}])
    second = await _turn(anthropic_sdk, stream, **BODY | {"messages": messages, "max_tokens": 4000},
                         tools=[BASH], thinking=thinking)
    assert second.content[-1].text == "There is a.txt." and vtx.rejected == []
    sent = vtx.main_requests[-1].json
    assert [c["role"] for c in sent["contents"]] == ["user", "model", "user"]
    assert sent["contents"][1]["parts"][1] == {"functionCall": {"name": "Bash", "args": {"command": "ls"}},
                                               "thoughtSignature": sig}


async def test_the_fake_refuses_what_vertex_refuses(vtx):
    """A raw call straight to the fake: API key instead of a token, a missing role, a foreign project."""
    token = google_auth.google_token_get(cache_key="raw", info=vtx.service_account())
    body = {"contents": [{"parts": [{"text": "go"}]}]}
    async with httpx.AsyncClient(base_url=vtx.base_url) as http:
        keyed = await http.post(PATH + ":generateContent", json=body, headers={"x-goog-api-key": "fake-key"})
        roleless = await http.post(PATH + ":generateContent", json=body, headers={"authorization": f"Bearer {token}"})
        other = await http.post(PATH.replace("fake-project", "elsewhere") + ":generateContent",
                                json={"contents": [{"role": "user", "parts": [{"text": "go"}]}]},
                                headers={"authorization": f"Bearer {token}"})
    assert keyed.status_code == 401 and keyed.json()["error"]["status"] == "UNAUTHENTICATED"
    assert roleless.status_code == 400 and "valid role: user, model" in roleless.json()["error"]["message"]
    assert other.status_code == 404


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_errors_are_mapped(vtx, gateway_client, stream):
    vtx.enqueue(gemini_error(429, "RESOURCE_EXHAUSTED", "Resource exhausted. Please try again later."))
    resp = await gateway_client.post("/v1/messages", json={**BODY, "stream": stream})
    assert resp.status_code == 429 and resp.json()["error"]["type"] == "rate_limit_error"


async def test_missing_project_fails_the_provider_before_anything_is_sent(vtx, anthropic_sdk):
    from routing.selectors import route_table_invalidate

    vtx.provider.options = {"region": vtx.region}  # no project: nothing is sent
    await vtx.provider.asave()
    route_table_invalidate()
    with pytest.raises(anthropic.APIStatusError) as info:
        await anthropic_sdk.messages.create(**BODY)
    assert info.value.status_code in (502, 503) and vtx.main_requests == []


async def test_adc_is_used_when_no_key_is_stored(vtx, anthropic_sdk, monkeypatch, tmp_path):
    """No stored key: Application Default Credentials (here a key file named by the environment)."""
    from routing.selectors import route_table_invalidate

    key_file = tmp_path / "adc.json"
    key_file.write_text(json.dumps(vtx.service_account()))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    vtx.provider.api_key_encrypted = ""
    await vtx.provider.asave()
    route_table_invalidate()
    _reply(vtx, False, [{"text": "via ADC"}])
    msg = await anthropic_sdk.messages.create(**BODY)
    assert msg.content[0].text == "via ADC" and vtx.rejected == []
    assert vtx.main_requests[-1].headers["authorization"].startswith("Bearer ya29.fake-gemini-")


async def test_admin_preset_with_a_pasted_key_serves_through_the_gateway(transactional_db, anthropic_sdk):
    """The admin's gemini_vertex preset: project from the pasted service-account key, the region
    typed, the base URL Google's generic one (the adapter picks the region's host; here the fake's)."""
    from asgiref.sync import sync_to_async
    from django.contrib.auth.models import User
    from django.test import Client

    from providers.models import Provider
    from routing.selectors import route_table_invalidate

    def add_through_admin(up):
        User.objects.create_superuser("root", "root@example.com", "pw-admin-tests")
        client = Client()
        client.login(username="root", password="pw-admin-tests")
        form = {"name": "gv", "kind": "", "base_url": "", "auth_type": "api_key", "auth_header": "", "priority": "100",
                "max_retries": "0", "headers": "{}", "options": "{}", "preset": "gemini_vertex", "api_key": "",
                "enabled": "on", "vertex_project": "", "vertex_region": up.region,
                "service_account_json": json.dumps(up.service_account())}
        response = client.post("/admin/providers/provider/add/", form)
        assert response.status_code == 302, response.content[:2000]
        provider = Provider.objects.get(name="gv")
        assert (provider.kind, provider.base_url) == ("gemini_vertex", "https://aiplatform.googleapis.com")
        assert provider.options == {"project": up.project, "region": up.region}
        provider.base_url = up.base_url  # the fake stands in for {region}-aiplatform.googleapis.com
        provider.save()
        make_tiers(default=(provider, MODEL))

    with FakeGeminiVertex(models={MODEL}) as up:
        await sync_to_async(add_through_admin)(up)
        route_table_invalidate()
        _reply(up, True, [{"text": "configured in the admin"}])
        async with anthropic_sdk.messages.stream(**BODY) as stream:
            text = "".join([t async for t in stream.text_stream])
        assert text == "configured in the admin" and up.rejected == [] and len(up.token_requests) == 1
