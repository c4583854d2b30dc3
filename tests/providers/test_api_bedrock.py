"""Bedrock through the real ASGI app, the official anthropic SDK and a SigV4-verifying fake Bedrock."""

from __future__ import annotations

import json
from urllib.parse import unquote

import anthropic
import httpx
import pytest

from dashboard.models import RequestAttempt, RequestLog
from dashboard.services import request_log_aflush
from providers import client as upstream_client
from providers.config import ProviderConfig
from tests.conftest import amake_provider, amake_tiers, make_provider, make_tiers
from tests.fakes import FakeOpenAI, Reply, openai_completion, openai_text_chunks
from tests.fakes.bedrock_server import (
    FAKE_CREDENTIALS,
    FakeBedrock,
    bedrock_error,
    bedrock_message,
    bedrock_stream,
    bedrock_stream_events,
    exception_frame,
    model_id,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

BODY = {"model": "claude-sonnet-5", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]}
OPTIONS = {"region": "us-east-1", "region_prefix": "us"}
US_SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def bedrock_provider(up: FakeBedrock, name: str = "bedrock", *, key: str | None = None, **fields):
    return make_provider(name, up.base_url, kind="bedrock",
                         key=json.dumps(FAKE_CREDENTIALS) if key is None else key,
                         options=fields.pop("options", OPTIONS), **fields)


@pytest.fixture
def bedrock_up(transactional_db):
    with FakeBedrock() as up:
        up.provider = bedrock_provider(up)
        make_tiers(default=(up.provider, "claude-sonnet-4-5"))
        yield up


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Only the AWS environment variables as credentials (no profile files, no instance metadata)."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN",
                "AWS_SECURITY_TOKEN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(upstream_client, "_aws_chain", None)
    upstream_client._botocore_session.cache_clear()
    yield monkeypatch
    upstream_client._botocore_session.cache_clear()
    monkeypatch.setattr(upstream_client, "_aws_chain", None)


async def test_non_stream_is_signed_and_shaped_for_bedrock(bedrock_up, anthropic_sdk):
    bedrock_up.enqueue(Reply.json(bedrock_message("Bonjour 👋", usage=(120, 7))))
    msg = await anthropic_sdk.messages.create(
        **BODY, system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        extra_headers={"anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14"},
    )
    assert msg.content[0].text == "Bonjour 👋"
    assert msg.model == "claude-sonnet-5"
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (120, 7)
    sent = bedrock_up.main_requests[-1]
    assert sent.path == "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke"
    assert model_id(sent) == US_SONNET
    assert sent.json == {"max_tokens": 1000, "messages": BODY["messages"],
                         "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
                         "anthropic_version": "bedrock-2023-05-31",
                         "anthropic_beta": ["interleaved-thinking-2025-05-14"]}
    assert sent.headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={FAKE_CREDENTIALS['access_key_id']}/")
    assert "/us-east-1/bedrock/aws4_request" in sent.headers["authorization"]
    assert sent.headers["x-amz-security-token"] == FAKE_CREDENTIALS["session_token"]
    assert "x-api-key" not in sent.headers and "anthropic-version" not in sent.headers
    assert FAKE_CREDENTIALS["secret_access_key"] not in json.dumps(sent.headers)
    assert bedrock_up.rejected == []


async def test_stream_event_stream_becomes_anthropic_sse(bedrock_up, anthropic_sdk, gateway_client):
    bedrock_up.enqueue(bedrock_stream(bedrock_stream_events("Hello streaming 🌍 world", usage=(50, 9)), split=7))
    async with anthropic_sdk.messages.stream(**BODY) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Hello streaming 🌍 world"
    assert final.stop_reason == "end_turn" and final.model == "claude-sonnet-5"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (50, 9)
    sent = bedrock_up.main_requests[-1]
    assert sent.path.endswith("/invoke-with-response-stream")
    assert "stream" not in sent.json and "model" not in sent.json
    # the raw SSE the client sees: Anthropic events only, nothing Bedrock-specific
    bedrock_up.enqueue(bedrock_stream(bedrock_stream_events("again")))
    resp = await gateway_client.post("/v1/messages", json={**BODY, "stream": True})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    assert "event: message_stop" in resp.text and "invocationMetrics" not in resp.text
    assert "\nevent: error" not in resp.text


async def test_stream_tool_use(bedrock_up, anthropic_sdk):
    tools = [("toolu_bdrk_1", "Write", {"file_path": "/tmp/a.txt", "content": "x"}), ("toolu_bdrk_2", "Read", {})]
    bedrock_up.enqueue(bedrock_stream(bedrock_stream_events("Let me write.", tool_uses=tools), split=3))
    schema = {"type": "object", "properties": {}}
    async with anthropic_sdk.messages.stream(**BODY, tools=[{"name": "Write", "input_schema": schema},
                                                            {"name": "Read", "input_schema": schema}]) as stream:
        final = await stream.get_final_message()
    assert [b.type for b in final.content] == ["text", "tool_use", "tool_use"]
    assert final.content[1].input == {"file_path": "/tmp/a.txt", "content": "x"}
    assert final.content[2].input == {} and final.stop_reason == "tool_use"
    assert bedrock_up.main_requests[-1].json["tools"][0]["name"] == "Write"


async def test_non_stream_tool_use(bedrock_up, anthropic_sdk):
    bedrock_up.enqueue(Reply.json(bedrock_message(None, tool_uses=[("toolu_bdrk_9", "Bash", {"command": "ls"})])))
    msg = await anthropic_sdk.messages.create(**BODY, tools=[{"name": "Bash", "input_schema": {"type": "object"}}])
    assert msg.stop_reason == "tool_use"
    assert (msg.content[0].id, msg.content[0].name, msg.content[0].input) == ("toolu_bdrk_9", "Bash", {"command": "ls"})


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("reply,status,error_type,text", [
    (bedrock_error(400, "ValidationException", "Input is too long for requested model."), 400,
     "invalid_request_error", "prompt is too long"),
    (bedrock_error(403, "AccessDeniedException", "You don't have access to the model with the specified model ID."),
     502, "api_error", "don't have access"),
    (bedrock_error(404, "ResourceNotFoundException", "Model not found."), 404, "not_found_error", "Model not found"),
    (bedrock_error(503, "ServiceUnavailableException", "Bedrock is unavailable."), 503, "overloaded_error", "unavailable"),
], ids=["too-long", "access-denied", "not-found", "unavailable"])
async def test_errors_are_mapped(bedrock_up, gateway_client, stream, reply, status, error_type, text):
    bedrock_up.enqueue(reply)
    resp = await gateway_client.post("/v1/messages", json={**BODY, "stream": stream})
    assert resp.status_code == status
    assert resp.json()["error"]["type"] == error_type
    assert text in resp.json()["error"]["message"]


async def test_beta_flags_default_allow_list_and_provider_override(bedrock_up, gateway_client):
    resp = await gateway_client.post("/v1/messages", json=BODY, headers={"anthropic-beta": "fine-grained-tool-streaming-2025-05-14"})
    assert resp.status_code == 200  # not in the default Bedrock allow-list: dropped, not forwarded
    assert "anthropic_beta" not in bedrock_up.main_requests[-1].json
    provider = bedrock_up.provider
    provider.options = {**OPTIONS, "beta_allow": ["fine-grained-tool-streaming-"]}
    await provider.asave()
    from routing.selectors import route_table_invalidate
    route_table_invalidate()
    resp = await gateway_client.post("/v1/messages", json=BODY, headers={"anthropic-beta": "fine-grained-tool-streaming-2025-05-14"})
    assert resp.status_code == 200
    assert bedrock_up.main_requests[-1].json["anthropic_beta"] == ["fine-grained-tool-streaming-2025-05-14"]


async def test_stream_exception_mid_stream_ends_with_error_event(bedrock_up, gateway_client):
    events = bedrock_stream_events("one two three four")[:4]
    bedrock_up.enqueue(bedrock_stream([*events, exception_frame("modelStreamErrorException", "The model stream broke.")]))
    resp = await gateway_client.post("/v1/messages", json={**BODY, "stream": True})
    assert resp.status_code == 200
    assert "event: error" in resp.text and "The model stream broke." in resp.text
    assert "message_stop" not in resp.text
    await request_log_aflush()
    row = await RequestLog.objects.aget()
    assert row.status == 502 and "The model stream broke." in row.error


async def test_wrong_secret_is_rejected_by_signature_check_and_not_retried(transactional_db, gateway_client):
    with FakeBedrock() as up, FakeOpenAI() as other:
        wrong = dict(FAKE_CREDENTIALS, secret_access_key="not-the-secret")
        p1 = await amake_provider("bedrock", up.base_url, kind="bedrock", key=json.dumps(wrong), options=OPTIONS)
        p2 = await amake_provider("openai", other.base_url, priority=5)
        await amake_tiers({"middle": [(p1, "claude-sonnet-4-5"), (p2, "gpt-test")]})
        resp = await gateway_client.post("/v1/messages", json=BODY)
        assert resp.status_code == 502
        assert resp.json()["error"]["type"] == "api_error"
        assert "signature we calculated does not match" in resp.json()["error"]["message"]
        assert "not-the-secret" not in resp.text
        assert len(up.rejected) == 1 and other.requests == []


@pytest.mark.parametrize("stream", [False, True])
async def test_throttling_falls_back_to_next_provider(transactional_db, anthropic_sdk, stream):
    with FakeBedrock() as up, FakeOpenAI() as other:
        p1 = await amake_provider("bedrock", up.base_url, kind="bedrock", key=json.dumps(FAKE_CREDENTIALS),
                                  options=OPTIONS)
        p2 = await amake_provider("openai", other.base_url, priority=5)
        await amake_tiers({"middle": [(p1, "claude-sonnet-4-5"), (p2, "gpt-test")]})
        up.enqueue(bedrock_error(429, "ThrottlingException", "Too many requests, please wait before trying again."))
        if stream:
            other.enqueue(Reply.sse(openai_text_chunks("from openai")))
            async with anthropic_sdk.messages.stream(**BODY) as s:
                final = await s.get_final_message()
        else:
            other.enqueue(Reply.json(openai_completion("from openai")))
            final = await anthropic_sdk.messages.create(**BODY)
        assert final.content[0].text == "from openai"
        assert len(up.main_requests) == 1 and up.rejected == []
        assert other.requests[-1].json["model"] == "gpt-test"
    await request_log_aflush()
    rows = [r async for r in RequestLog.objects.order_by("id")]
    assert [(r.provider, r.status) for r in rows] == [("openai", 200)]  # one row per client request
    attempts = [(a.provider, a.status) async for a in RequestAttempt.objects.filter(request=rows[0])]
    assert attempts == [("bedrock", 429), ("openai", 200)]
    assert "fallback: bedrock 429 -> openai" in rows[-1].route_reason


async def test_throttling_as_last_candidate_is_a_rate_limit_error(bedrock_up, anthropic_sdk):
    bedrock_up.enqueue(bedrock_error(429, "ThrottlingException", "Too many requests", headers={"retry-after": "4"}))
    with pytest.raises(anthropic.RateLimitError) as info:
        await anthropic_sdk.messages.create(**BODY)
    assert info.value.body["error"]["type"] == "rate_limit_error"
    assert info.value.response.headers["retry-after"] == "4"


async def test_credentials_from_the_aws_environment(transactional_db, anthropic_sdk, aws_env):
    creds = {"access_key_id": "AKIAENVIRONMENT00001", "secret_access_key": "env/secret/key"}
    aws_env.setenv("AWS_ACCESS_KEY_ID", creds["access_key_id"])
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", creds["secret_access_key"])
    with FakeBedrock(credentials=creds, region="eu-west-1") as up:
        provider = await amake_provider("bedrock", up.base_url, kind="bedrock", key="",
                                        options={"region": "eu-west-1"})
        await amake_tiers(default=(provider, "eu.anthropic.claude-sonnet-4-20250514-v1:0"))
        msg = await anthropic_sdk.messages.create(**BODY)
        assert msg.content[0].text
        sent = up.main_requests[-1]
        assert unquote(sent.path) == "/model/eu.anthropic.claude-sonnet-4-20250514-v1:0/invoke"
        assert "x-amz-security-token" not in sent.headers and up.rejected == []


async def test_no_aws_credentials_is_a_provider_failure(transactional_db, gateway_client, aws_env):
    aws_env.delenv("AWS_ACCESS_KEY_ID", raising=False)
    aws_env.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with FakeBedrock() as up:
        provider = await amake_provider("bedrock", up.base_url, kind="bedrock", key="", options=OPTIONS)
        await amake_tiers(default=(provider, "claude-sonnet-4-5"))
        resp = await gateway_client.post("/v1/messages", json=BODY)
        assert resp.status_code == 502
        assert "AWSCredentialsError" in resp.json()["error"]["message"]
        assert up.requests == []


async def test_bedrock_api_key_goes_as_bearer_without_signing(transactional_db, anthropic_sdk):
    with FakeBedrock(api_key="ABSKQmVkcm9ja0FQSUtleS1mYWtl") as up:
        provider = await amake_provider("bedrock", up.base_url, kind="bedrock", key="ABSKQmVkcm9ja0FQSUtleS1mYWtl",
                                        options=OPTIONS)
        await amake_tiers(default=(provider, "claude-haiku-4-5"))
        async with anthropic_sdk.messages.stream(**BODY) as s:
            final = await s.get_final_message()
        assert final.content[0].text
        sent = up.main_requests[-1]
        assert sent.headers["authorization"] == "Bearer ABSKQmVkcm9ja0FQSUtleS1mYWtl"
        assert "x-amz-date" not in sent.headers
        assert model_id(sent) == "us.anthropic.claude-haiku-4-5-20251001-v1:0"


async def test_request_log_has_no_aws_secret(bedrock_up, gateway_client):
    resp = await gateway_client.post("/v1/messages", json=BODY)
    assert resp.status_code == 200
    await request_log_aflush()
    row = await RequestLog.objects.aget()
    assert (row.provider, row.upstream_model, row.status) == ("bedrock", "claude-sonnet-4-5", 200)
    assert f"bedrock model id: {US_SONNET}" in row.ledger
    dump = str(row.__dict__)
    for secret in FAKE_CREDENTIALS.values():
        assert secret not in dump


async def test_fake_bedrock_checks_signature_and_body(bedrock_up):
    """The fake is only as good as its checks: tampered bodies and Bedrock-invalid bodies are refused."""
    from providers.adapters.base import UpstreamRequest

    config = ProviderConfig(id=1, name="bedrock", kind="bedrock", base_url=bedrock_up.base_url,
                            api_key_encrypted=bedrock_up.provider.api_key_encrypted, options=OPTIONS)
    url = f"{bedrock_up.base_url}/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"
    good = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5, "messages": BODY["messages"]}
    reply = await upstream_client.send(UpstreamRequest(url, json.dumps(good).encode(), {}, False), config)
    assert reply.status == 200
    bad = await upstream_client.send(UpstreamRequest(url, json.dumps({**good, "model": "x"}).encode(), {}, False),
                                     config)
    assert bad.status == 400 and b"extraneous key [model]" in bad.body
    assert bad.headers["x-amzn-errortype"].startswith("ValidationException:")
    request = await upstream_client._request(UpstreamRequest(url, json.dumps(good).encode(), {}, False), config)
    request.stream = httpx.ByteStream(json.dumps({**good, "max_tokens": 6}).encode())
    tampered = await upstream_client.get_client().send(request)
    assert tampered.status_code == 403 and b"signature we calculated does not match" in tampered.content
    assert len(bedrock_up.rejected) == 2


@pytest.mark.parametrize("base_url,options,region", [
    ("https://bedrock-runtime.eu-west-1.amazonaws.com", {}, "eu-west-1"),
    ("https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com", {}, "us-gov-west-1"),
    ("https://vpce-0a1b.bedrock-runtime.ap-northeast-1.vpce.amazonaws.com", {}, "ap-northeast-1"),
    ("https://bedrock-runtime.eu-west-1.amazonaws.com", {"region": "eu-central-1"}, "eu-central-1"),
])
async def test_region_from_options_or_host(base_url, options, region):
    config = ProviderConfig(id=1, name="b", kind="bedrock", base_url=base_url, options=options)
    assert upstream_client._aws_region(config) == region
