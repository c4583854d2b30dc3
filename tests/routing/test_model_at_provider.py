"""Two mistakes Claude Code used to retry in silence: ``model@typo`` (now a 400 naming the known
providers) and a provider without a credential (now a 401 naming it and what to set, with
``x-should-retry: false``), both through the real gateway under daphne."""

from __future__ import annotations

import httpx
import pytest
from asgiref.sync import sync_to_async

from providers.config import ProviderConfig
from routing.resolution import RequestMeta, RouteTable, UnknownProvider, resolve
from tests.conftest import amake_tiers, make_provider
from tests.fakes import FakeAnthropic, FakeOpenAI
from tests.support.gateway import start_gateway

pytestmark = pytest.mark.timeout(120)

BODY = {"model": "claude-sonnet-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def keyless_gateway(tmp_path_factory):
    """Seeded with PREFERRED_PROVIDER=anthropic and no ANTHROPIC_API_KEY, upstream a fake."""
    with FakeAnthropic() as upstream, start_gateway(
        {"PREFERRED_PROVIDER": "anthropic", "ANTHROPIC_UPSTREAM_URL": upstream.base_url},
        tmp_path_factory.mktemp("keyless"),
    ) as gw:
        yield gw, upstream


def test_provider_without_key_answers_401_that_claude_code_does_not_retry(keyless_gateway):
    gw, upstream = keyless_gateway
    for stream in (False, True):
        resp = httpx.post(f"{gw.url}/v1/messages?beta=true", headers=gw.headers(), json={**BODY, "stream": stream},
                          timeout=30)
        assert resp.status_code == 401
        assert resp.headers["x-should-retry"] == "false"
        error = resp.json()
        assert error["type"] == "error" and error["error"]["type"] == "authentication_error"
        assert "provider 'anthropic' has no API key" in error["error"]["message"]
        assert "ANTHROPIC_API_KEY" in error["error"]["message"]
    assert upstream.main_requests == []  # nothing was sent without a credential


def test_model_at_unknown_provider_is_400_naming_the_known_ones(keyless_gateway):
    gw, upstream = keyless_gateway
    resp = httpx.post(f"{gw.url}/v1/messages", headers=gw.headers(),
                      json={**BODY, "model": "claude-sonnet-5@antropic"}, timeout=30)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"] == ("model 'claude-sonnet-5@antropic': no provider is called 'antropic' "
                                "(known providers: anthropic); use model@provider with one of them")
    assert upstream.main_requests == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_keyless_provider_falls_back_to_the_next_candidate(gateway_client):
    with FakeOpenAI() as up:
        keyless = await sync_to_async(make_provider)("first", up.base_url, key="")
        keyed = await sync_to_async(make_provider)("second", up.base_url, priority=5)
        await amake_tiers({"middle": [(keyless, "m1"), (keyed, "m2")]})
        resp = await gateway_client.post("/v1/messages", json=BODY)
        assert resp.status_code == 200
        assert [r.json["model"] for r in up.main_requests] == ["m2"]


def _table() -> RouteTable:
    return RouteTable(providers={"ollama": ProviderConfig(1, "ollama", "openai_compat", "http://127.0.0.1:1")})


@pytest.mark.parametrize("model", ["qwen3@olama", "m@my_local-2"])
def test_resolve_rejects_an_unknown_provider_suffix(model):
    with pytest.raises(UnknownProvider, match=r"known providers: ollama"):
        resolve(RequestMeta(model), _table())


@pytest.mark.parametrize("model", ["claude-3-5-sonnet@20240620", "qwen3@ollama", "@ollama"])
def test_resolve_keeps_dates_and_known_providers(model):
    cands = resolve(RequestMeta(model), _table()).candidates
    assert [c.provider.name for c in cands] == ["ollama"]


def test_credential_missing_names_what_to_set(monkeypatch):
    from providers.client import credential_missing
    from runtime import crypto

    def provider(name="team", base_url="https://llm.example.com/v1", auth_type="api_key", key="", kind="openai_compat"):
        return ProviderConfig(1, name, kind, base_url, auth_type=auth_type, api_key_encrypted=crypto.encrypt(key))

    monkeypatch.delenv("GATEWAY_SECRET_TEAM_LLM_KEY", raising=False)
    assert credential_missing(provider(key="sk-test-present")) == ""
    assert credential_missing(provider(auth_type="none", base_url="http://127.0.0.1:11434/v1")) == ""
    assert credential_missing(provider(kind="bedrock")) == ""  # the AWS chain signs it
    assert "Providers → team" in credential_missing(provider())
    assert "set GATEWAY_SECRET_TEAM_LLM_KEY" in credential_missing(provider(key="${GATEWAY_SECRET_TEAM_LLM_KEY}"))
    # a name providers may not read: setting it would not help, so the rule is named instead
    refused = credential_missing(provider(key="${TEAM_LLM_KEY}"))
    assert "${TEAM_LLM_KEY}" in refused and "PROVIDER_ENV_ALLOWLIST" in refused and "set TEAM" not in refused
    # An older seed stored auth "none" for the public API without a key: still named.
    assert "set OPENAI_API_KEY" in credential_missing(provider("openai", "https://api.openai.com/v1", "none"))
