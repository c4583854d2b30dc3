"""Seed files naming backends: claude-proxy's LiteLLM model names (``gemini/…``, ``vertex_ai/…``,
``bedrock/…``...) and ccproxy's ``gemini`` provider (or a Vertex AI URL) become providers of the
right kind with the right model, import, and round-trip through export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings

from configuration.litellm import PLAIN, backend_provider, litellm_model
from configuration.services import config_export, config_import, config_load
from providers.models import Provider
from routing.models import AgentFingerprint, ModelTier, Route, TierEntry

# LiteLLM name -> (provider, kind, model sent); provider None: the claude-proxy file's own upstream
LITELLM_NAMES = [
    ("anthropic/claude-sonnet-4-5", None, "anthropic", "claude-sonnet-4-5"),
    ("gemini/gemini-2.5-pro", "gemini", "gemini", "gemini-2.5-pro"),
    ("gemini/gemini-3-pro-preview", "gemini", "gemini", "gemini-3-pro-preview"),
    ("vertex_ai/gemini-2.5-flash", "vertex-gemini", "gemini_vertex", "gemini-2.5-flash"),
    ("vertex_ai/claude-sonnet-4-5@20250929", "vertex", "vertex", "claude-sonnet-4-5@20250929"),
    ("vertex_ai/claude-opus-4-6", "vertex", "vertex", "claude-opus-4-6"),
    ("bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0", "bedrock", "bedrock",
     "anthropic.claude-3-5-sonnet-20240620-v1:0"),
    ("bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock", "bedrock",
     "us.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("bedrock/invoke/anthropic.claude-3-haiku-20240307-v1:0", "bedrock", "bedrock",
     "anthropic.claude-3-haiku-20240307-v1:0"),
    ("bedrock/converse/anthropic.claude-3-haiku-20240307-v1:0", "bedrock-converse", "bedrock_converse",
     "anthropic.claude-3-haiku-20240307-v1:0"),
    ("bedrock/amazon.nova-pro-v1:0", "bedrock-converse", "bedrock_converse", "amazon.nova-pro-v1:0"),
    ("bedrock/us.meta.llama3-3-70b-instruct-v1:0", "bedrock-converse", "bedrock_converse",
     "us.meta.llama3-3-70b-instruct-v1:0"),
    ("openai/gpt-4o", "openai", "openai_compat", "gpt-4o"),
    ("openai/o3-mini", "openai", "openai_compat", "o3-mini"),
    ("deepseek/deepseek-chat", "deepseek", "openai_compat", "deepseek-chat"),
    ("deepseek/deepseek-reasoner", "deepseek", "openai_compat", "deepseek-reasoner"),
    ("openrouter/anthropic/claude-3.5-sonnet", "openrouter", "openai_compat", "anthropic/claude-3.5-sonnet"),
    ("openrouter/qwen/qwen3-coder", "openrouter", "openai_compat", "qwen/qwen3-coder"),
    ("azure/gpt-4o-prod", "azure-gpt-4o-prod", "openai_compat", "gpt-4o-prod"),
    ("mistral/codestral-latest", "mistral", "openai_compat", "codestral-latest"),
    ("ollama_chat/qwen3-coder:30b", "ollama", "openai_compat", "qwen3-coder:30b"),
]
# names that are not LiteLLM names this import maps: kept as written, on the upstream
UNMAPPED = ["claude-sonnet-4-5", "qwen3:4b", "groq/llama-3.3-70b", "vertex_ai/meta/llama-4-maverick",
            "Qwen/Qwen3-Coder-480B"]


def write(tmp_path: Path, name: str, content: object) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2))
    return path


@pytest.mark.parametrize("name,provider,kind,model", LITELLM_NAMES, ids=[n[0] for n in LITELLM_NAMES])
def test_litellm_name_maps_to_kind_and_model(name, provider, kind, model):
    mapped = litellm_model(name)
    assert mapped is not None and mapped.model == model
    if provider is None:
        assert mapped.backend is None
        return
    assert mapped.backend.name == provider
    assert backend_provider(mapped.backend, 10)["kind"] == kind


@pytest.mark.parametrize("name", UNMAPPED)
def test_other_names_are_not_guessed_at(name):
    assert litellm_model(name) is None


def test_litellm_key_variables_are_readable_by_default():
    """Each ${VAR} a LiteLLM prefix brings is on the default allowlist, so the import is not refused."""
    default = settings.PROVIDER_ENV_ALLOWLIST
    for backend in PLAIN.values():
        assert not backend.key_var or backend.key_var in default, backend
    azure = litellm_model("azure/x")
    assert azure is not None and azure.backend.key_var in default


CLAUDE_PROXY_LITELLM = """\
upstream:
  api_key: sk-ant-api03-upstream-test
routing:
  model_routing:
    haiku: gemini/gemini-2.5-flash
    sonnet: vertex_ai/gemini-2.5-pro
    opus: anthropic/claude-opus-4-1
    gpt-4: openai/gpt-4o
    nova: bedrock/amazon.nova-pro-v1:0
    fast: groq/llama-3.3-70b
  agent_routing:
    code-reviewer: deepseek/deepseek-reasoner
    test-runner: haiku
  fallback:
    anthropic/claude-opus-4-1: [bedrock/us.anthropic.claude-opus-4-1-20250805-v1:0, openrouter/anthropic/claude-opus-4.1]
    vertex_ai/gemini-2.5-pro: [gemini/gemini-2.5-pro]
"""


def test_claude_proxy_litellm_names_become_providers_of_their_kind(tmp_path):
    data = config_load([write(tmp_path, "claude-proxy.yaml", CLAUDE_PROXY_LITELLM)])
    providers = {p["name"]: p for p in data["providers"]}
    assert {n: (p["kind"], p["priority"]) for n, p in providers.items()} == {
        "anthropic": ("anthropic", 0), "gemini": ("gemini", 10), "vertex-gemini": ("gemini_vertex", 20),
        "bedrock": ("bedrock", 30), "openrouter": ("openai_compat", 40), "openai": ("openai_compat", 50),
        "bedrock-converse": ("bedrock_converse", 60), "deepseek": ("openai_compat", 70)}
    assert providers["gemini"]["api_key"] == "${GEMINI_API_KEY}"
    assert (providers["gemini"]["base_url"], providers["gemini"]["preset"]) == (
        "https://generativelanguage.googleapis.com", "gemini_native")
    assert "api_key" not in providers["vertex-gemini"]  # ADC unless a key is stored: never overwritten
    assert providers["vertex-gemini"]["options"] == {"project": "", "region": "global"}
    assert providers["openrouter"]["api_key"] == "${OPENROUTER_API_KEY}"
    tiers = {t["name"]: [(e["provider"], e["model"]) for e in t["entries"]] for t in data["tiers"]}
    assert tiers == {
        "small": [("gemini", "gemini-2.5-flash")],
        "middle": [("vertex-gemini", "gemini-2.5-pro"), ("gemini", "gemini-2.5-pro")],
        "big": [("anthropic", "claude-opus-4-1"), ("bedrock", "us.anthropic.claude-opus-4-1-20250805-v1:0"),
                ("openrouter", "anthropic/claude-opus-4.1")]}
    routes = {r["pattern"]: (r["provider"], r["model"]) for r in data["routes"]}
    assert routes == {"gpt-4": ("openai", "gpt-4o"), "nova": ("bedrock-converse", "amazon.nova-pro-v1:0"),
                      "fast": ("anthropic", "groq/llama-3.3-70b")}
    agents = {a["name"]: a["model"] for a in data["agents"]}
    assert agents == {"code-reviewer": "deepseek-reasoner@deepseek", "test-runner": "haiku"}
    notes = "\n".join(data["notes"])
    assert "vertex-gemini" in notes and "options.project" in notes and "bedrock" in notes
    assert "'groq/llama-3.3-70b'" in notes and "sent to anthropic as written" in notes


@pytest.mark.django_db
def test_claude_proxy_litellm_import_round_trips_through_export(tmp_path, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "fake-gemini-key-for-tests")
    config_import(data=config_load([write(tmp_path, "cp.yaml", CLAUDE_PROXY_LITELLM)]), source="seed")
    gemini = Provider.objects.get(name="gemini")
    assert gemini.kind == "gemini" and gemini.preset == "gemini_native"
    vertex = Provider.objects.get(name="vertex-gemini")
    assert (vertex.kind, vertex.api_key_encrypted, vertex.options["region"]) == ("gemini_vertex", "", "global")
    exported = config_export()
    path = write(tmp_path, "export.json", exported)
    for model in (AgentFingerprint, Route, TierEntry, ModelTier, Provider):
        model.objects.all().delete()
    config_import(data=config_load([path]), source=str(path))
    assert config_export() == exported


@pytest.mark.django_db
def test_azure_deployment_is_imported_disabled_on_a_host_that_never_resolves(tmp_path):
    yaml = "routing:\n  model_routing:\n    sonnet: azure/gpt-4o-prod\n"
    data = config_load([write(tmp_path, "cp.yaml", yaml)])
    azure = next(p for p in data["providers"] if p["name"] == "azure-gpt-4o-prod")
    assert (azure["enabled"], azure["auth_type"], azure["auth_header"], azure["api_key"]) == (
        False, "header", "api-key", "${AZURE_API_KEY}")
    assert azure["base_url"] == "https://set-your-resource.invalid/openai/deployments/gpt-4o-prod"
    assert azure["options"]["path"].startswith("/chat/completions?api-version=")
    assert any("AZURE_API_BASE" in n for n in data["notes"])
    config_import(data=data, source="seed")
    assert not Provider.objects.get(name="azure-gpt-4o-prod").enabled


# ccproxy provider spec -> (kind, base_url, options, auth_type)
CCPROXY_GEMINI = [
    ("gemini", {"apiKey": "k"}, ("gemini", "https://generativelanguage.googleapis.com", {}, "api_key")),
    ("google", {"apiKey": "k"}, ("gemini", "https://generativelanguage.googleapis.com", {}, "api_key")),
    ("gemini", {"apiKey": "k", "responseStyle": "gemini"},
     ("gemini", "https://generativelanguage.googleapis.com", {}, "api_key")),
    ("gemini", {"apiKey": "k", "baseURL": "https://generativelanguage.googleapis.com/v1beta/openai"},
     ("openai_compat", "https://generativelanguage.googleapis.com/v1beta/openai", {}, "api_key")),
    ("gemini", {"baseURL": "https://us-central1-aiplatform.googleapis.com/v1/projects/team-p/locations/us-central1"
                           "/publishers/google"},
     ("gemini_vertex", "https://us-central1-aiplatform.googleapis.com",
      {"project": "team-p", "region": "us-central1"}, "api_key")),
    ("vertex", {"responseStyle": "gemini", "baseURL": "https://aiplatform.googleapis.com/v1/projects/p/locations/global"},
     ("gemini_vertex", "https://aiplatform.googleapis.com", {"project": "p", "region": "global"}, "api_key")),
    ("vertex-claude", {"responseStyle": "claude",
                       "baseURL": "https://us-east5-aiplatform.googleapis.com/v1/projects/p/locations/us-east5"},
     ("vertex", "https://us-east5-aiplatform.googleapis.com", {"project": "p", "region": "us-east5"}, "api_key")),
    ("openai", {"apiKey": "k"}, ("openai_compat", "https://api.openai.com/v1", {}, "api_key")),
]


@pytest.mark.parametrize("name,spec,expected", CCPROXY_GEMINI, ids=[f"{c[0]}-{i}" for i, c in enumerate(CCPROXY_GEMINI)])
def test_ccproxy_google_providers_map_to_their_kind(tmp_path, name, spec, expected):
    path = write(tmp_path, "settings.json", {"providers": {name: spec},
                                             "models": {"bigModel": "gemini-2.5-pro", "smallModel": "gemini-2.5-flash"}})
    provider = config_load([path])["providers"][0]
    assert (provider["kind"], provider["base_url"], provider["options"], provider["auth_type"]) == expected


def test_ccproxy_vertex_notes_name_what_is_missing(tmp_path):
    path = write(tmp_path, "settings.json", {
        "providers": {"gemini": {"apiKey": "ya29.fake-access-token", "baseURL": "https://aiplatform.googleapis.com"}},
        "models": {"bigModel": "gemini-2.5-pro", "smallModel": "gemini-2.5-flash"}})
    notes = "\n".join(config_load([path])["notes"])
    assert "options.project" in notes and "access token" in notes and "ya29" not in notes


@pytest.mark.django_db
def test_ccproxy_vertex_provider_imports_and_round_trips(tmp_path):
    spec = {"baseURL": "https://europe-west4-aiplatform.googleapis.com/v1/projects/team-p/locations/europe-west4"}
    path = write(tmp_path, "settings.json", {"providers": {"gemini": spec},
                                             "models": {"bigModel": "gemini-2.5-pro", "smallModel": "gemini-2.5-flash"}})
    config_import(data=config_load([path]), source="seed")
    row = Provider.objects.get(name="gemini")
    assert (row.kind, row.options, row.auth_type) == ("gemini_vertex", {"project": "team-p", "region": "europe-west4"},
                                                      "api_key")
    exported = config_export()
    config_import(data=config_load([write(tmp_path, "export.json", exported)]), source="export")
    assert config_export() == exported


def test_names_with_braces_are_text_not_templates(tmp_path):
    data = config_load([write(tmp_path, "cp.yaml", "routing:\n  model_routing:\n    sonnet: 'azure/{deploy}'\n")])
    assert any("deployments/{deploy}" in n for n in data["notes"])
