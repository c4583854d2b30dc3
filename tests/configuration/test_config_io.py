"""Config import/export: each seed format parsed, round-tripped through export, errors that name
the file, the line and key, and imports that write all or nothing."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from configuration.services import ConfigError, ConfigErrors, config_export, config_import, config_load
from providers.models import ModelPrice, Provider
from routing.models import AgentFingerprint, ModelTier, Route, TierEntry

HASH_A = "a" * 64
HASH_B = "b" * 64

CLAUDE_PROXY_YAML = f"""\
# claude-proxy: model aliases and per-agent routing
upstream:
  api_key: sk-ant-api03-upstream-test
routing:
  model_routing:
    haiku: claude-haiku-4-5
    sonnet: claude-sonnet-4-5
    opus: claude-opus-4-1
    gpt-4: claude-sonnet-4-5
  agent_routing:
    code-reviewer: opus
    test-runner: haiku
    {HASH_B}: sonnet
  fallback:
    claude-opus-4-1: [claude-sonnet-4-5]
"""

AGENT_HASHES = {
    "code-reviewer": {"hash": HASH_A, "model": "", "description": "Reviews code"},
}

CCPROXY_USER = {
    "providers": {
        "openai": {"apiKey": "sk-user-key", "baseURL": "https://api.openai.com/v1", "responseStyle": "openai"},
        "claude": {"apiKey": "sk-ant-api03-x", "responseStyle": "claude"},
    },
    "models": {"bigModel": "gpt-4.1", "smallModel": "gpt-4.1-mini"},
}
CCPROXY_PROJECT = {"models": {"bigModel": "claude-opus-4-1@claude"}}
CCPROXY_MANAGED = {"providers": {"openai": {"apiKey": "sk-managed-key"}}}

PROVIDERS_JSON = {
    "providers": [
        {"name": "backup", "base_url": "https://backup.example.com/v1", "api_key": "sk-b", "priority": 2,
         "models": {"big": "b-big", "middle": "b-mid", "small": "b-small"}, "timeout": 90, "max_retries": 1,
         "custom_headers": {"X-Team": "gw"}},
        {"name": "primary", "base_url": "https://primary.example.com/v1", "api_key": "sk-p", "priority": 1,
         "models": {"big": "p-big", "small": "p-small"}},
    ],
    "fallback_strategy": "round_robin",
    "circuit_breaker": {"failure_threshold": 3, "recovery_timeout": 45},
}


def write(tmp_path: Path, name: str, content: object) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2))
    return path


def snapshot() -> dict[str, list[tuple]]:
    """The imported state, without ids, timestamps or ciphertexts."""
    return {
        "providers": sorted(
            (p.name, p.kind, p.base_url, p.auth_type, p.enabled, p.priority, p.timeout, p.max_retries,
             json.dumps(p.headers, sort_keys=True), json.dumps(p.options, sort_keys=True))
            for p in Provider.objects.all()),
        "tiers": sorted((t.name, t.patterns, t.strategy) for t in ModelTier.objects.all()),
        "entries": sorted((e.tier.name, e.position, e.provider.name, e.model, e.enabled)
                          for e in TierEntry.objects.select_related("tier", "provider")),
        "routes": sorted((r.name, r.scenario, r.pattern, r.provider.name, r.model, r.enabled)
                         for r in Route.objects.select_related("provider")),
        "agents": sorted((a.fingerprint, a.name, a.model) for a in AgentFingerprint.objects.all()),
    }


def wipe() -> None:
    for model in (AgentFingerprint, Route, TierEntry, ModelTier, ModelPrice, Provider):
        model.objects.all().delete()


def round_trip(tmp_path: Path, files: list[Path]) -> dict:
    """import files -> export A; wipe; import A -> export B; import A again -> export C. A == B == C."""
    config_import(data=config_load(files), source="seed")
    first_state = snapshot()
    exported = config_export()
    path = write(tmp_path, "export.json", exported)
    wipe()
    config_import(data=config_load([path]), source=str(path))
    assert config_export() == exported
    assert snapshot() == first_state
    config_import(data=config_load([path]), source=str(path))
    assert config_export() == exported
    assert snapshot() == first_state
    return exported


# --- parsing (pure) ------------------------------------------------------------------------------

def test_claude_proxy_yaml_becomes_tiers_routes_and_agents(tmp_path):
    data = config_load([write(tmp_path, "claude-proxy.yaml", CLAUDE_PROXY_YAML)])
    assert data["providers"][0]["name"] == "anthropic"
    assert data["providers"][0]["api_key"] == "sk-ant-api03-upstream-test"
    big = next(t for t in data["tiers"] if t["name"] == "big")
    assert [e["model"] for e in big["entries"]] == ["claude-opus-4-1", "claude-sonnet-4-5"]
    assert data["routes"] == [{"name": "model:gpt-4", "scenario": "model", "pattern": "gpt-4",
                               "provider": "anthropic", "model": "claude-sonnet-4-5"}]
    agents = {a["name"] or a["fingerprint"]: a for a in data["agents"]}
    assert agents["code-reviewer"]["fingerprint"] == "agent:code-reviewer"  # by name until a hash is known
    assert agents[HASH_B]["model"] == "sonnet"


def test_claude_proxy_yaml_with_agent_hashes_uses_real_fingerprints(tmp_path):
    files = [write(tmp_path, "claude-proxy.yaml", CLAUDE_PROXY_YAML),
             write(tmp_path, "agent_hashes.json", AGENT_HASHES)]
    agents = {a["name"]: a for a in config_load(files)["agents"] if a["name"]}
    assert agents["code-reviewer"]["fingerprint"] == HASH_A
    assert agents["code-reviewer"]["model"] == "opus"  # the YAML's model, the hash file's fingerprint
    assert agents["test-runner"]["fingerprint"] == "agent:test-runner"


def test_ccproxy_layers_merge_key_by_key_later_files_win(tmp_path):
    files = [write(tmp_path, "user.json", CCPROXY_USER), write(tmp_path, "project.json", CCPROXY_PROJECT),
             write(tmp_path, "managed.json", CCPROXY_MANAGED)]
    data = config_load(files)
    providers = {p["name"]: p for p in data["providers"]}
    assert providers["openai"]["api_key"] == "sk-managed-key"  # managed wins
    assert providers["openai"]["base_url"] == "https://api.openai.com/v1"  # kept from user
    assert providers["claude"]["kind"] == "anthropic"
    tiers = {t["name"]: t["entries"] for t in data["tiers"]}
    assert tiers["big"] == [{"provider": "claude", "model": "claude-opus-4-1", "enabled": True}]
    assert tiers["middle"] == tiers["big"]  # ccproxy's big model serves sonnet too
    assert tiers["small"] == [{"provider": "openai", "model": "gpt-4.1-mini", "enabled": True}]


def test_providers_json_orders_by_priority_and_reports_circuit_settings(tmp_path):
    data = config_load([write(tmp_path, "providers.json", PROVIDERS_JSON)])
    tiers = {t["name"]: t for t in data["tiers"]}
    assert [e["provider"] for e in tiers["big"]["entries"]] == ["primary", "backup"]
    assert [e["provider"] for e in tiers["middle"]["entries"]] == ["backup"]  # primary has no middle model
    assert tiers["small"]["strategy"] == "round_robin"
    assert data["notes"] == [
        "circuit_breaker.failure_threshold: set CIRCUIT_FAILURE_THRESHOLD=3 in the environment (a global setting)",
        "circuit_breaker.recovery_timeout: set CIRCUIT_RECOVERY_TIMEOUT=45 in the environment (a global setting)",
    ]
    backup = next(p for p in data["providers"] if p["name"] == "backup")
    assert backup["headers"] == {"X-Team": "gw"} and backup["timeout"] == 90.0


def test_agent_hashes_reads_generate_hashes_output_and_hash_keyed_maps(tmp_path):
    data = config_load([write(tmp_path, "a.json", AGENT_HASHES)])
    assert data["agents"] == [{"fingerprint": HASH_A, "name": "code-reviewer", "description": "Reviews code",
                               "model": ""}]
    data = config_load([write(tmp_path, "b.json", {HASH_B: "planner"})])
    assert data["agents"][0]["name"] == "planner" and data["agents"][0]["fingerprint"] == HASH_B


# --- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad.yaml", "routing:\n  model_routing:\n    haiku: [oops\n", "bad.yaml:4: (top level): expected valid YAML"),
        ("bad.json", '{"providers": {\n  "x": {,}\n}}', "bad.json:2: (top level): expected valid JSON"),
        ("style.json", '{\n  "providers": {\n    "x": {"responseStyle": "soap"}\n  },\n  "models": {}\n}',
         "style.json:3: providers.x.responseStyle: expected one of openai"),
        ("models.json", '{"providers": {"openai": {}},\n "models": {"bigModel": "m@nowhere", "smallModel": "s"}}',
         "models.json:2: models.bigModel: expected model@provider with a provider defined under providers (openai)"),
        ("cp.yaml", "routing:\n  model_routing:\n    haiku: claude-haiku\n  agent_routing:\n    x:\n      hash: nothex\n",
         "cp.yaml:6: routing.agent_routing.x.hash: expected a 16- or 64-character hex prompt fingerprint"),
        ("pj.json", '{"providers": [\n  {"name": "a", "base_url": "ftp://x", "models": {"big": "m"}}\n]}',
         "pj.json:2: providers[0].base_url: expected an http(s) URL"),
        ("what.json", '{"hello": 1}', "what.json:1: (top level): expected a known format"),
        ("gw.json", '{"version": 1,\n "providers": [{"name": "p", "kind": "nope", "base_url": "https://x"}]}',
         "gw.json:2: providers[0].kind: expected one of anthropic"),
    ],
)
def test_config_errors_name_file_line_key_and_expectation(tmp_path, name, content, expected):
    with pytest.raises(ConfigError) as info:
        config_load([write(tmp_path, name, content)])
    assert str(info.value).startswith(str(tmp_path / expected.split(":")[0]) + expected[len(expected.split(":")[0]):])


def test_ccproxy_layer_errors_name_the_file_that_supplied_the_key(tmp_path):
    files = [write(tmp_path, "user.json", CCPROXY_USER),
             write(tmp_path, "managed.json", {"providers": {"openai": {"responseStyle": "grpc"}}})]
    with pytest.raises(ConfigError) as info:
        config_load(files)
    assert info.value.source == str(tmp_path / "managed.json")
    assert "providers.openai.responseStyle" in str(info.value)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="expected a readable UTF-8 file"):
        config_load([tmp_path / "nope.json"])


# --- database: round trips, atomicity, progress --------------------------------------------------

@pytest.mark.django_db
def test_claude_proxy_round_trips_through_export(tmp_path):
    exported = round_trip(tmp_path, [write(tmp_path, "claude-proxy.yaml", CLAUDE_PROXY_YAML),
                                     write(tmp_path, "agent_hashes.json", AGENT_HASHES)])
    assert {a["fingerprint"] for a in exported["agents"]} == {HASH_A, HASH_B, "agent:test-runner"}
    assert exported["providers"][0]["api_key"] == "sk-ant-api03-upstream-test"


@pytest.mark.django_db
def test_ccproxy_round_trips_through_export(tmp_path):
    exported = round_trip(tmp_path, [write(tmp_path, "user.json", CCPROXY_USER),
                                     write(tmp_path, "project.json", CCPROXY_PROJECT),
                                     write(tmp_path, "managed.json", CCPROXY_MANAGED)])
    assert [p["name"] for p in exported["providers"]] == ["claude", "openai"]


@pytest.mark.django_db
def test_providers_json_round_trips_through_export(tmp_path):
    exported = round_trip(tmp_path, [write(tmp_path, "providers.json", PROVIDERS_JSON)])
    assert [t["strategy"] for t in exported["tiers"]] == ["round_robin"] * 3


@pytest.mark.django_db
def test_agent_hashes_round_trip_through_export(tmp_path):
    exported = round_trip(tmp_path, [write(tmp_path, "agent_hashes.json", AGENT_HASHES)])
    assert exported["agents"][0]["fingerprint"] == HASH_A


@pytest.mark.django_db
def test_a_later_hash_file_replaces_the_by_name_placeholder(tmp_path):
    config_import(data=config_load([write(tmp_path, "cp.yaml", CLAUDE_PROXY_YAML)]))
    assert AgentFingerprint.objects.filter(fingerprint="agent:code-reviewer", model="opus").exists()
    config_import(data=config_load([write(tmp_path, "h.json", AGENT_HASHES)]))
    assert not AgentFingerprint.objects.filter(fingerprint="agent:code-reviewer").exists()
    assert AgentFingerprint.objects.get(fingerprint=HASH_A).model == "opus"


@pytest.mark.django_db
def test_import_is_all_or_nothing(tmp_path):
    data = {"version": 1,
            "providers": [{"name": "ok", "kind": "openai_compat", "base_url": "https://ok.example.com/v1"}],
            "tiers": [{"name": "big", "entries": [{"provider": "ok", "model": "m"},
                                                  {"provider": "missing", "model": "m"}]}]}
    with pytest.raises(ConfigError) as info:
        config_import(data=data, source="team.json")
    assert str(info.value) == ("team.json: tiers[0].entries[1].provider: expected a provider defined in the "
                               "file or the database, got 'missing'")
    assert not Provider.objects.exists() and not ModelTier.objects.exists()


@pytest.mark.django_db
def test_replace_deletes_what_the_file_does_not_name(tmp_path):
    config_import(data=config_load([write(tmp_path, "p.json", PROVIDERS_JSON)]))
    data = {"version": 1, "providers": [{"name": "primary", "kind": "openai_compat",
                                         "base_url": "https://primary.example.com/v1"}], "tiers": []}
    config_import(data=data)
    assert Provider.objects.count() == 2  # merge keeps "backup"
    config_import(data=data, replace=True)
    assert list(Provider.objects.values_list("name", flat=True)) == ["primary"]
    assert not ModelTier.objects.exists()


@pytest.mark.django_db
def test_large_import_reports_progress():
    agents = [{"fingerprint": f"{i:064x}", "name": f"agent-{i}", "model": "haiku"} for i in range(450)]
    seen: list[str] = []
    report = config_import(data={"version": 1, "agents": agents}, progress=seen.append)
    assert report.counts["agents"] == 450
    assert seen[-3:] == ["agents: 200/450", "agents: 400/450", "agents: 450"]


@pytest.mark.django_db
def test_export_without_secrets_keeps_stored_keys_on_import(tmp_path):
    config_import(data=config_load([write(tmp_path, "p.json", PROVIDERS_JSON)]))
    exported = config_export(secrets=False)
    assert all("api_key" not in p for p in exported["providers"])
    config_import(data=exported)
    assert config_export()["providers"][0]["api_key"] == "sk-b"


# --- commands ------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_import_and_export_commands(tmp_path, capsys):
    source = write(tmp_path, "providers.json", PROVIDERS_JSON)
    call_command("import_config", str(source), "--dry-run")
    assert not Provider.objects.exists()
    call_command("import_config", str(source))
    out = capsys.readouterr()
    assert "imported 2 providers, 3 tiers, 0 agents" in out.out
    assert "note: circuit_breaker.failure_threshold" in out.out
    target = tmp_path / "out.json"
    call_command("export_config", "--output", str(target))
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert json.loads(target.read_text()) == config_export()
    wipe()
    call_command("import_config", str(target))
    assert json.loads(target.read_text()) == config_export()


@pytest.mark.django_db
def test_import_command_error_names_the_file_and_line(tmp_path):
    source = write(tmp_path, "bad.json", '{\n  "providers": [\n    {"name": "x y", "base_url": "https://x"}\n  ]\n}')
    with pytest.raises(CommandError, match=r"bad\.json:3: providers\[0\]\.name: expected a name of letters"):
        call_command("import_config", str(source))


# --- round trips of every format, families, Azure, all errors at once ----------------------------

PRINT_A = "0123456789abcdef"  # what generate_hashes writes (16 hex characters)

CLAUDE_PROXY_DATED = """\
routing:
  model_routing:
    claude-3-5-haiku-20241022: qwen3:4b
    claude-3-7-sonnet-20250219: qwen3-coder:30b
    sonnet: qwen3:14b
    claude-opus-4-1-20250805: qwen3-coder:480b
"""

PROVIDERS_JSON_AZURE = {
    "providers": [
        {"name": "azure-east", "type": "azure", "base_url": "https://east.openai.azure.com/openai/deployments/gpt4o",
         "api_key": "${AZURE_OPENAI_KEY}", "api_version": "2024-02-15-preview", "priority": 1,
         "models": {"big": "gpt-4o", "middle": "gpt-4o", "small": "gpt-4o-mini"},
         "custom_headers": {"X-Team": "platform", "X-Trace": "${GATEWAY_SECRET_TRACE_ID}"}},
        {"name": "openai", "type": "openai", "base_url": "https://api.openai.com/v1", "api_key": "${OPENAI_API_KEY}",
         "priority": 2, "models": {"big": "gpt-4.1", "small": "gpt-4.1-mini"}},
    ],
    "fallback_strategy": "priority",
}


@pytest.mark.django_db
def test_gateway_format_round_trips_with_agents_under_both_names(tmp_path):
    """An agent known by name (routed by its agent header) and by fingerprint is two rows; an
    export of both imports back to both (it used to keep two of four)."""
    provider = Provider(name="p", kind="openai_compat", base_url="https://p.example.com/v1")
    provider.set_api_key("sk-test-p")
    provider.save()
    for fingerprint, name, model in [("agent:reviewer", "reviewer", "opus"), (PRINT_A, "reviewer", "sonnet"),
                                     ("agent:writer", "writer", "haiku"), (HASH_B, "writer", "")]:
        AgentFingerprint.objects.create(fingerprint=fingerprint, name=name, model=model)
    before = snapshot()
    exported = config_export()
    assert len(exported["agents"]) == 4
    path = write(tmp_path, "export.json", exported)
    wipe()
    config_import(data=config_load([path]), source=str(path))
    assert snapshot() == before and config_export() == exported
    config_import(data=config_load([path]), source=str(path))  # twice: still the same rows
    assert snapshot() == before and config_export() == exported


@pytest.mark.django_db
def test_init_output_round_trips_through_export(tmp_path):
    target = tmp_path / "gateway.json"
    call_command("init", "--no-input", "--kind", "openai_compat", "--name", "local",
                 "--base-url", "http://127.0.0.1:11434/v1", "--big-model", "qwen3-coder:30b",
                 "--small-model", "qwen3:4b", "--output", str(target))
    data = json.loads(target.read_text())
    assert {t["name"]: t["entries"][0]["model"] for t in data["tiers"]} == {
        "small": "qwen3:4b", "middle": "qwen3-coder:30b", "big": "qwen3-coder:30b"}  # middle follows big
    round_trip(tmp_path, [target])


@pytest.mark.django_db
def test_16_character_hashes_round_trip(tmp_path):
    exported = round_trip(tmp_path, [write(tmp_path, "agent_hashes.json",
                                           {"reviewer": {"hash": PRINT_A, "model": "opus", "description": "r"}})])
    assert exported["agents"] == [{"fingerprint": PRINT_A, "name": "reviewer", "description": "r", "model": "opus"}]


@pytest.mark.django_db
def test_claude_proxy_dated_keys_match_todays_models_by_family(tmp_path):
    from routing.resolution import TierConfig, tier_for

    exported = round_trip(tmp_path, [write(tmp_path, "cp.yaml", CLAUDE_PROXY_DATED)])
    tiers = {t["name"]: t for t in exported["tiers"]}
    assert {name: t["patterns"] for name, t in tiers.items()} == {"small": "haiku", "middle": "sonnet", "big": "opus"}
    # Two sonnet keys: both models, in file order (the second a fallback of the first).
    assert [e["model"] for e in tiers["middle"]["entries"]] == ["qwen3-coder:30b", "qwen3:14b"]
    assert exported["routes"] == []
    configs = tuple(TierConfig(t.name, tuple(t.pattern_list())) for t in ModelTier.objects.all())
    for model, tier in [("claude-haiku-4-5-20251001", "small"), ("claude-sonnet-5", "middle"),
                        ("claude-opus-4-8", "big"), ("claude-3-5-haiku-20241022", "small")]:
        assert tier_for(model, configs).name == tier


@pytest.mark.django_db
def test_providers_json_azure_headers_and_env_references(tmp_path):
    data = config_load([write(tmp_path, "providers.json", PROVIDERS_JSON_AZURE)])
    azure = next(p for p in data["providers"] if p["name"] == "azure-east")
    assert (azure["kind"], azure["preset"], azure["auth_type"], azure["auth_header"]) == (
        "openai_compat", "azure_openai", "header", "api-key")
    assert azure["options"]["path"] == "/chat/completions?api-version=2024-02-15-preview"
    assert azure["api_key"] == "${AZURE_OPENAI_KEY}"  # kept as written: expanded (or not) at run time
    assert azure["headers"] == {"X-Team": "platform", "X-Trace": "${GATEWAY_SECRET_TRACE_ID}"}
    exported = round_trip(tmp_path, [write(tmp_path, "providers.json", PROVIDERS_JSON_AZURE)])
    stored = {p["name"]: p for p in exported["providers"]}
    assert stored["azure-east"]["api_key"] == "${AZURE_OPENAI_KEY}"
    assert stored["openai"]["auth_type"] == "api_key"


BAD_PROVIDERS_JSON = """\
{
  "providers": [
    {"name": "ok", "base_url": "https://ok.example.com/v1", "models": {"big": "m"}},
    {"name": "bad url", "base_url": "https://x.example.com/v1", "models": {"big": "m"}},
    {"name": "c", "base_url": "ftp://nowhere", "models": {"big": "m"}},
    {"name": "d", "type": "soap", "base_url": "https://d.example.com/v1", "models": {"big": "m"}}
  ],
  "fallback_strategy": "sideways"
}
"""


def test_every_error_of_a_bad_file_is_listed_with_its_line(tmp_path):
    path = write(tmp_path, "providers.json", BAD_PROVIDERS_JSON)
    with pytest.raises(ConfigErrors) as info:
        config_load([path])
    lines = str(info.value).splitlines()
    assert [line.split(": expected")[0] for line in lines] == [
        f"{path}:4: providers[1].name", f"{path}:5: providers[2].base_url",
        f"{path}:6: providers[3].type", f"{path}:8: fallback_strategy"]
    assert [e.line for e in info.value.errors] == [4, 5, 6, 8]


def test_every_error_across_sections_and_files_is_listed(tmp_path):
    gateway = write(tmp_path, "gw.yaml", "version: 1\nproviders:\n  - name: p\n    kind: nope\n    base_url: https://x\n"
                                         "agents:\n  - fingerprint: abc\n    nmae: typo\n")
    hashes = write(tmp_path, "h.json", '{\n  "a": {"hash": "zz"},\n  "b": {"hash": "' + PRINT_A + '"}\n}')
    bad_yaml = write(tmp_path, "cp.yaml", "routing:\n  model_routing:\n    haiku: [oops\n")
    with pytest.raises(ConfigErrors) as info:
        config_load([gateway, hashes, bad_yaml])
    found = [(Path(e.source).name, e.line, e.path) for e in info.value.errors]
    assert found == [("cp.yaml", 4, ()), ("gw.yaml", 4, ("providers", 0, "kind")),
                     ("gw.yaml", 8, ("agents", 0, "nmae")), ("h.json", 2, ("a", "hash"))]  # unreadable files first


@pytest.mark.django_db
def test_import_command_lists_every_error(tmp_path):
    path = write(tmp_path, "providers.json", BAD_PROVIDERS_JSON)
    with pytest.raises(CommandError) as info:
        call_command("import_config", str(path))
    assert len(str(info.value).splitlines()) == 4
    assert not Provider.objects.exists()


PRICED = {
    "version": 1,
    "providers": [{"name": "openrouter", "kind": "openai_compat", "base_url": "https://openrouter.example/api/v1"}],
    "prices": [
        {"provider": "", "model": "claude-sonnet-4-5", "input": 3, "output": 15, "cache_write": "3.75",
         "cache_read": 0.3, "long_context_threshold": 200000, "long_context_input": 6, "long_context_output": 22.5,
         "note": "list price"},
        {"provider": "openrouter", "model": "claude-sonnet-4-5", "input": 3.3, "output": 16.5,
         "cache_read": 0.000001, "note": "with the router's fee"},
    ],
}


@pytest.mark.django_db
def test_prices_round_trip_exactly_through_export(tmp_path):
    exported = round_trip(tmp_path, [write(tmp_path, "priced.json", PRICED)])
    assert [(p["provider"], p["model"]) for p in exported["prices"]] in (
        [("", "claude-sonnet-4-5"), ("openrouter", "claude-sonnet-4-5")],
        [("openrouter", "claude-sonnet-4-5"), ("", "claude-sonnet-4-5")])  # NULL sorts first or last by database
    every = ModelPrice.objects.get(provider=None)
    assert (every.input, every.output, every.cache_write, every.cache_read, every.cache_write_1h) == (
        Decimal("3"), Decimal("15"), Decimal("3.75"), Decimal("0.3"), None)
    assert (every.long_context_threshold, every.long_context_output, every.note) == (200000, Decimal("22.5"), "list price")
    assert ModelPrice.objects.get(provider__name="openrouter").cache_read == Decimal("0.000001")


@pytest.mark.django_db
def test_a_file_without_prices_keeps_them_and_replace_drops_the_unnamed(tmp_path):
    config_import(data=PRICED)
    config_import(data={"version": 1, "providers": PRICED["providers"]}, replace=True)
    assert ModelPrice.objects.count() == 2  # no "prices" list: the stored prices stay
    config_import(data={**PRICED, "prices": PRICED["prices"][1:]}, replace=True)
    assert list(ModelPrice.objects.values_list("provider__name", flat=True)) == ["openrouter"]


@pytest.mark.django_db
@pytest.mark.parametrize(("price", "expected"), [
    ({"model": "m", "output": 1}, "prices[0].input: expected a price in USD per million tokens"),
    ({"model": "m", "input": -1, "output": 1}, "prices[0].input: expected a price"),
    ({"model": "m", "input": "1.0000001", "output": 1}, "at most 6 decimals"),
    ({"model": "m", "input": "cheap", "output": 1}, "got 'cheap'"),
    ({"model": "m", "input": 1, "output": 1, "provider": "nowhere"}, "prices[0].provider: expected a provider defined"),
    ({"model": "m", "input": 1, "output": 1, "currency": "EUR"}, "currency"),
])
def test_bad_prices_are_refused_with_their_path_and_nothing_is_written(price, expected):
    with pytest.raises(ConfigError) as err:
        config_import(data={"version": 1, "prices": [price]})
    assert expected in str(err.value)
    assert not ModelPrice.objects.exists()


@pytest.mark.django_db
def test_a_price_named_twice_for_one_provider_is_refused():
    twice = [{"model": "m", "input": 1, "output": 2}, {"model": "m", "input": 3, "output": 4}]
    with pytest.raises(ConfigError, match="one price per model and provider, got 'm' twice for every provider"):
        config_import(data={"version": 1, "prices": twice})
