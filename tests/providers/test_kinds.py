"""Every backend kind answers from its registry entry: auth, URL rules, probe, options, labels, init.

The probe tests run each kind's health check against its strict fake (real loopback servers that
check signatures, tokens, paths and bodies the way the real services do) through the sync seam.
"""

from __future__ import annotations

import json

import httpx
import pytest
from django.core.exceptions import ValidationError

from providers import client as upstream_client
from providers import google_auth
from providers.adapters import REGISTRY, claude_model_name, kind_choices, kind_option_problems, kind_spec
from providers.adapters.anthropic import OAUTH_BETA, v1_url
from providers.adapters.base import Target
from providers.config import ProviderConfig
from providers.models import Provider
from providers.presets import PRESETS
from providers.probes import health_probe, probe_request
from runtime import crypto
from tests.fakes import (
    FakeAnthropic,
    FakeBedrockConverse,
    FakeGemini,
    FakeGeminiVertex,
    FakeOpenAI,
    FakeResponses,
    Reply,
)
from tests.fakes.bedrock_server import FAKE_CREDENTIALS, FakeBedrock
from tests.fakes.gemini_server import FAKE_GEMINI_KEY
from tests.fakes.vertex_server import FakeVertex

KEY = "sk-test-fake-key-0000"


def config(kind: str, base_url: str = "http://127.0.0.1:9", *, key: str = KEY, **fields) -> ProviderConfig:
    return ProviderConfig(id=7, name=f"p-{kind}", kind=kind, base_url=base_url,
                          api_key_encrypted=crypto.encrypt(key) if key else "", **fields)


# --- auth: the header a plain key travels in, per kind --------------------------------------------

@pytest.mark.parametrize(("kind", "expected"), [
    ("anthropic", {"x-api-key": KEY}),
    ("openai_compat", {"authorization": f"Bearer {KEY}"}),
    ("openai_responses", {"authorization": f"Bearer {KEY}"}),
    ("gemini", {"x-goog-api-key": KEY}),
    ("bedrock", {"authorization": f"Bearer {KEY}"}),          # a Bedrock API key
    ("bedrock_converse", {"authorization": f"Bearer {KEY}"}),
    ("vertex", {"authorization": f"Bearer {KEY}"}),           # an access token stored as the key
    ("gemini_vertex", {"authorization": f"Bearer {KEY}"}),
])
def test_auth_headers_for_a_plain_key(kind, expected):
    assert upstream_client.auth_headers(config(kind)) == expected


@pytest.mark.parametrize(("kind", "auth_type", "auth_header", "expected"), [
    ("anthropic", "oauth", "", {"authorization": f"Bearer {KEY}"}),
    ("gemini", "bearer", "", {"authorization": f"Bearer {KEY}"}),
    ("openai_compat", "header", "api-key", {"api-key": KEY}),
    ("anthropic", "none", "", {}),
])
def test_auth_type_wins_over_the_kinds_key_header(kind, auth_type, auth_header, expected):
    cfg = config(kind, auth_type=auth_type, auth_header=auth_header)
    assert upstream_client.auth_headers(cfg) == expected


@pytest.mark.parametrize(("kind", "signed"), [("bedrock", True), ("bedrock_converse", True), ("vertex", True),
                                              ("gemini_vertex", True), ("openai_compat", False),
                                              ("anthropic", False), ("gemini", False)])
def test_json_keys_are_signed_or_minted_only_by_kinds_that_say_so(kind, signed):
    headers = upstream_client.auth_headers(config(kind, key=json.dumps(FAKE_CREDENTIALS)))
    assert (headers == {}) is signed


@pytest.mark.parametrize(("kind", "ambient"), [("bedrock", True), ("bedrock_converse", True), ("vertex", True),
                                               ("gemini_vertex", True), ("anthropic", False), ("openai_compat", False), ("gemini", False)])
def test_only_kinds_with_ambient_credentials_need_no_stored_key(kind, ambient):
    assert (upstream_client.credential_missing(config(kind, key="")) == "") is ambient


# --- URL rules and probes, per kind ---------------------------------------------------------------

@pytest.mark.parametrize(("base", "expected"), [
    ("https://api.anthropic.com", "https://api.anthropic.com/v1/models"),
    ("https://api.anthropic.com/", "https://api.anthropic.com/v1/models"),
    ("https://proxy.example/anthropic/v1", "https://proxy.example/anthropic/v1/models"),
    ("https://proxy.example/anthropic/v1/", "https://proxy.example/anthropic/v1/models"),
])
def test_v1_url_adds_v1_once(base, expected):
    assert v1_url(base, "/models") == expected


TARGETS = {
    "anthropic": Target(kind="anthropic", base_url="https://api.anthropic.com", model=""),
    "openai_compat": Target(kind="openai_compat", base_url="https://api.openai.com/v1", model=""),
    "openai_responses": Target(kind="openai_responses", base_url="https://api.openai.com/v1/", model=""),
    "gemini": Target(kind="gemini", base_url="https://generativelanguage.googleapis.com", model=""),
    "bedrock": Target(kind="bedrock", base_url="https://bedrock-runtime.us-east-1.amazonaws.com",
                      model="claude-haiku-4-5", region_prefix="us"),
    "bedrock_converse": Target(kind="bedrock_converse", base_url="https://bedrock-runtime.us-east-1.amazonaws.com",
                               model="amazon.nova-micro-v1:0", region_prefix="us"),
    "vertex": Target(kind="vertex", base_url="https://aiplatform.googleapis.com", model="claude-haiku-4-5",
                     project="proj", region="us-east5"),
    "gemini_vertex": Target(kind="gemini_vertex", base_url="https://aiplatform.googleapis.com",
                            model="gemini-2.5-flash-lite", project="proj", region="global"),
}
PROBES = {
    "anthropic": ("GET", "https://api.anthropic.com/v1/models"),
    "openai_compat": ("GET", "https://api.openai.com/v1/models"),
    "openai_responses": ("GET", "https://api.openai.com/v1/models"),
    "gemini": ("GET", "https://generativelanguage.googleapis.com/v1beta/models"),
    "bedrock": ("POST", "https://bedrock-runtime.us-east-1.amazonaws.com/model/"
                        "us.anthropic.claude-haiku-4-5-20251001-v1%3A0/invoke"),
    "bedrock_converse": ("POST", "https://bedrock-runtime.us-east-1.amazonaws.com/model/"
                                 "us.amazon.nova-micro-v1%3A0/converse"),
    "vertex": ("POST", "https://us-east5-aiplatform.googleapis.com/v1/projects/proj/locations/us-east5"
                       "/publishers/anthropic/models/count-tokens:rawPredict"),
    "gemini_vertex": ("POST", "https://aiplatform.googleapis.com/v1/projects/proj/locations/global"
                              "/publishers/google/models/gemini-2.5-flash-lite:generateContent"),
}


def test_every_registered_kind_has_a_probe_case():
    assert set(PROBES) == set(TARGETS) == set(REGISTRY)


@pytest.mark.parametrize("kind", sorted(PROBES))
def test_probe_request_per_kind(kind):
    probe = REGISTRY[kind].probe(TARGETS[kind])
    assert (probe.method, probe.url) == PROBES[kind]
    assert probe.stream is False
    if probe.method == "GET":
        assert probe.body == b""
    elif kind == "vertex":  # count-tokens: no max_tokens, the model in the body
        assert json.loads(probe.body) == {"anthropic_version": "vertex-2023-10-16", "model": "claude-haiku-4-5@20251001",
                                          "messages": [{"role": "user", "content": "ping"}]}
    elif kind == "bedrock":
        assert json.loads(probe.body)["max_tokens"] == 1
    elif kind == "gemini_vertex":
        assert json.loads(probe.body)["generationConfig"]["maxOutputTokens"] == 1
    else:
        assert json.loads(probe.body)["inferenceConfig"]["maxTokens"] == 1


def test_anthropic_probe_sends_version_and_the_oauth_beta_for_oauth_providers():
    plain = REGISTRY["anthropic"].probe(TARGETS["anthropic"])
    assert plain.headers == {"anthropic-version": "2023-06-01"}
    oauth = Target(kind="anthropic", base_url="https://api.anthropic.com", model="", oauth=True,
                   headers={"x-team": "core"})
    assert REGISTRY["anthropic"].probe(oauth).headers == {"anthropic-version": "2023-06-01",
                                                          "anthropic-beta": OAUTH_BETA, "x-team": "core"}


def test_probe_model_option_overrides_the_kinds_default():
    cfg = config("bedrock", "https://bedrock-runtime.us-east-1.amazonaws.com",
                 options={"probe_model": "claude-sonnet-4-5", "region_prefix": "eu"})
    assert "/model/eu.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke" in probe_request(cfg).url


def test_probe_of_a_kind_no_entry_serves_is_skipped():
    result = health_probe(config("soap"), timeout=1)
    assert result.ok is None and result.skipped and "soap" in result.error


def test_vertex_probe_without_a_project_is_a_failed_check_not_a_crash():
    result = health_probe(config("vertex", options={"region": "us-east5"}), timeout=1)
    assert result.ok is False and "project" in result.error


def test_health_probe_goes_through_the_sync_seam():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": []})

    upstream_client.set_sync_transport(httpx.MockTransport(handler))
    try:
        result = health_probe(config("openai_compat", "https://api.openai.com/v1"), timeout=1)
    finally:
        upstream_client.set_sync_transport(None)
    assert result.ok and [str(r.url) for r in seen] == ["https://api.openai.com/v1/models"]
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"


# --- probes against the strict fakes --------------------------------------------------------------

@pytest.fixture
def _no_cached_tokens():
    google_auth.google_tokens_forget()
    yield
    google_auth.google_tokens_forget()


def test_probe_openai_compat_fake():
    with FakeOpenAI() as up:
        assert health_probe(config("openai_compat", up.base_url), timeout=5).ok
        rec = up.requests[-1]
    assert (rec.method, rec.path, rec.headers["authorization"]) == ("GET", "/v1/models", f"Bearer {KEY}")


def test_probe_openai_responses_fake():
    with FakeResponses() as up:
        assert health_probe(config("openai_responses", up.base_url), timeout=5).ok
        assert (up.requests[-1].method, up.requests[-1].path) == ("GET", "/v1/models")


def test_probe_anthropic_fake():
    with FakeAnthropic() as up:
        assert health_probe(config("anthropic", up.base_url), timeout=5).ok
        rec = up.requests[-1]
    assert (rec.method, rec.path, rec.headers["x-api-key"]) == ("GET", "/v1/models", KEY)
    assert rec.headers["anthropic-version"] == "2023-06-01"


def test_probe_gemini_fake_and_a_wrong_key():
    with FakeGemini() as up:
        assert health_probe(config("gemini", up.base_url, key=FAKE_GEMINI_KEY), timeout=5).ok
        assert (up.requests[-1].path, up.requests[-1].headers["x-goog-api-key"]) == ("/v1beta/models", FAKE_GEMINI_KEY)
        assert not health_probe(config("gemini", up.base_url, key="wrong-key"), timeout=5).ok


def test_probe_bedrock_fake_is_a_signed_one_token_invoke():
    with FakeBedrock() as up:
        cfg = config("bedrock", up.base_url, key=json.dumps(FAKE_CREDENTIALS),
                     options={"region": "us-east-1", "region_prefix": "us"})
        result = health_probe(cfg, timeout=5)
        assert result.ok and result.status == 200, result
        assert up.rejected == []
        rec = up.main_requests[-1]
    assert rec.path == "/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/invoke"
    assert rec.json["max_tokens"] == 1 and rec.headers["authorization"].startswith("AWS4-HMAC-SHA256")


def test_probe_bedrock_fake_with_wrong_keys_fails_without_a_breaker_status():
    wrong = {**FAKE_CREDENTIALS, "secret_access_key": "wRoNg/sEcReT+kEy/0123456789abcdefghijklm"}
    with FakeBedrock() as up:
        cfg = config("bedrock", up.base_url, key=json.dumps(wrong), options={"region": "us-east-1"})
        result = health_probe(cfg, timeout=5)
    assert result.ok is False and result.status == 403


def test_probe_bedrock_converse_fake_is_a_signed_one_token_converse():
    with FakeBedrockConverse() as up:
        cfg = config("bedrock_converse", up.base_url, key=json.dumps(FAKE_CREDENTIALS),
                     options={"region": "us-east-1", "region_prefix": "us"})
        result = health_probe(cfg, timeout=5)
        assert result.ok and result.status == 200, (result, up.rejected)
        rec = up.main_requests[-1]
    assert rec.path == "/model/us.amazon.nova-micro-v1%3A0/converse"
    assert rec.json["inferenceConfig"]["maxTokens"] == 1


def test_probe_vertex_fake_is_a_count_tokens_with_a_minted_token(_no_cached_tokens):
    with FakeVertex() as up:
        cfg = config("vertex", up.base_url, key=json.dumps(up.service_account()),
                     options={"project": up.project, "region": up.region})
        result = health_probe(cfg, timeout=5)
        assert result.ok and result.status == 200, (result, [r.path for r in up.rejected])
        rec = up.requests[-1]
        assert rec.path.endswith("/publishers/anthropic/models/count-tokens:rawPredict")
        assert rec.headers["authorization"].startswith("Bearer ya29.fake-")
        other = config("vertex", up.base_url, key=json.dumps(up.service_account()),
                       options={"project": "not-mine", "region": up.region})
        assert health_probe(other, timeout=5).status == 404


def test_probe_gemini_vertex_fake_is_a_one_token_generation_with_a_minted_token(_no_cached_tokens):
    with FakeGeminiVertex(models={"gemini-2.5-flash-lite"}) as up:
        cfg = config("gemini_vertex", up.base_url, key=json.dumps(up.service_account()),
                     options={"project": up.project, "region": up.region})
        result = health_probe(cfg, timeout=5)
        assert result.ok and result.status == 200, (result, up.rejected)
        rec = up.main_requests[-1]
        assert rec.path.endswith("/publishers/google/models/gemini-2.5-flash-lite:generateContent")
        assert rec.headers["authorization"].startswith("Bearer ya29.fake-gemini-")
        assert "x-goog-api-key" not in rec.headers
        unserved = config("gemini_vertex", up.base_url, key=json.dumps(up.service_account()),
                          options={"project": up.project, "region": up.region, "probe_model": "gemini-9"})
        assert health_probe(unserved, timeout=5).status == 404


def test_probe_reports_retry_after_of_a_rate_limited_fake():
    with FakeOpenAI() as up:
        up.enqueue(Reply.error(429, headers={"retry-after": "7"}), path="/v1/models")
        result = health_probe(config("openai_compat", up.base_url), timeout=5)
    assert (result.ok, result.status, result.retry_after) == (False, 429, 7.0)


# --- options: typed per kind, unknown keys refused ------------------------------------------------

@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_presets_options_validate_for_its_kind(name):
    spec = PRESETS[name]
    assert kind_option_problems(spec["kind"], spec.get("options", {})) == {}


@pytest.mark.parametrize(("kind", "options", "key", "words"), [
    ("anthropic", {"drop_params": ["top_k"]}, "drop_params", "allowed: anthropic_version, beta_allow, beta_deny"),
    ("openai_compat", {"bogus": 1}, "bogus", "not an option of openai_compat providers"),
    ("openai_compat", {"max_tokens_cap": 1}, "max_tokens_cap", "not an option"),  # a column, not an option
    ("openai_compat", {"reasoning_effort": "high"}, "reasoning_effort", 'true, false or "auto"'),
    ("openai_compat", {"drop_params": "top_k"}, "drop_params", "a list of strings"),
    ("openai_compat", {"tool_id_max": True}, "tool_id_max", "an integer or null"),
    ("gemini", {"path": "/x"}, "path", "not an option of gemini providers"),
    ("bedrock", {"model_map": {"claude-x": 3}}, "model_map", "an object of strings"),
    ("vertex", {"project": 12}, "project", "a string"),
])
def test_option_problems_name_the_key_and_what_fits(kind, options, key, words):
    problems = kind_option_problems(kind, options)
    assert list(problems) == [key] and words in problems[key]


def test_provider_clean_rejects_unknown_options_naming_the_allowed_ones():
    provider = Provider(name="a", kind="anthropic", base_url="https://api.anthropic.com",
                        options={"region": "us-east-1"})
    with pytest.raises(ValidationError) as err:
        provider.clean()
    message = err.value.message_dict["options"][0]
    assert "region: not an option of anthropic providers" in message and "beta_allow" in message
    Provider(name="b", kind="bedrock", base_url="https://b.example", options={"region": "us-east-1"}).clean()


# --- labels, init, model names --------------------------------------------------------------------

def test_kind_choices_are_the_registry_with_each_entrys_label():
    choices = dict(kind_choices())
    assert list(choices) == list(REGISTRY)
    assert "Bedrock" in choices["bedrock"] and "Vertex" in choices["vertex"] and "Gemini" in choices["gemini"]


def test_init_offers_the_kinds_whose_entry_has_a_starter():
    from configuration.management.commands.init import DEFAULT_KIND, KINDS

    assert DEFAULT_KIND == "openai_compat" and set(KINDS) == {"openai_compat", "anthropic", "bedrock"}
    assert KINDS["bedrock"].base_url == "https://bedrock-runtime.us-east-1.amazonaws.com"
    assert kind_spec("vertex").starter is None  # needs a project first


@pytest.mark.parametrize(("model", "expected"), [
    ("us.anthropic.claude-opus-4-8-v1:0", "claude-opus-4-8"),
    ("anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929"),
    ("claude-sonnet-5", "claude-sonnet-5"),
    ("gpt-4.1", "gpt-4.1"),
    ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5@20250929"),  # Vertex ids: the Vertex endpoint's
])
def test_claude_model_name_reads_host_ids_back(model, expected):
    assert claude_model_name(model) == expected
