"""The price table and cost computation (providers/pricing): pure, no database."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources

import pytest

from providers.adapters.base import StreamStats
from providers.pricing import (
    Price,
    PriceTable,
    TokenUsage,
    cost,
    cost_breakdown,
    cost_ceiling,
    default_table,
    format_usd,
    normalise_model,
)

D = Decimal


def price(inp, out, write=None, read=None, **extra):
    row = {"input": inp, "output": out, **extra}
    if write is not None:
        row["cache_write"] = write
    if read is not None:
        row["cache_read"] = read
    return Price.from_dict(row)


# --- lookup ---------------------------------------------------------------------------------

LOOKUPS = [
    # (provider, model as the backend is asked for it, key expected or None)
    (None, "claude-sonnet-4-5", "claude-sonnet-4-5"),
    (None, "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    (None, "claude-haiku-4-5-20251001", "claude-haiku-4-5"),
    (None, "CLAUDE-OPUS-4-1-20250805", "claude-opus-4-1"),
    (None, "claude-opus-4-20250514", "claude-opus-4"),
    (None, "claude-opus-4-0", "claude-opus-4-0"),
    (None, "claude-3-5-haiku-latest", "claude-3-5-haiku"),
    (None, "claude-sonnet-4-5[1m]", "claude-sonnet-4-5"),
    (None, "claude-opus-5-5", "claude-opus-5-5"),
    (None, "claude-sonnet-5-5[1m]", "claude-sonnet-5-5"),
    (None, "claude-fable-5-1", "claude-fable-5-1"),
    (None, "claude-fable-5", "claude-fable-5"),
    # Bedrock: vendor and cross-region prefixes, version tags, inference-profile ARNs
    ("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
    ("bedrock", "us.anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1"),
    ("bedrock", "global.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5"),
    ("bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku"),
    ("bedrock", "anthropic.claude-opus-4-6-v1", "claude-opus-4-6"),
    ("bedrock", "arn:aws:bedrock:us-east-1:000000000000:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0",
     "claude-sonnet-4"),
    # Vertex: @date
    ("vertex", "claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
    ("vertex", "claude-opus-4-1@20250805", "claude-opus-4-1"),
    ("vertex", "claude-3-5-haiku@20241022", "claude-3-5-haiku"),
    # OpenRouter and Gemini paths, dotted Claude versions
    ("openrouter", "anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"),
    ("openrouter", "anthropic/claude-opus-4.1", "claude-opus-4-1"),
    ("gemini", "models/gemini-2.5-pro", "gemini-2.5-pro"),
    ("gemini", "gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash"),
    ("gemini", "gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
    # OpenAI dated snapshots pick the longest key that only differs by the date
    ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
    ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("openai", "gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
    ("openai", "gpt-4.1-2025-04-14", "gpt-4.1"),
    ("openai", "gpt-5-2025-08-07", "gpt-5"),
    ("openai", "gpt-5-nano", "gpt-5-nano"),
    ("openai", "o3-2025-04-16", "o3"),
    ("openai", "o4-mini-2025-04-16", "o4-mini"),
    ("deepseek", "deepseek-v4-flash", "deepseek-v4-flash"),
    ("mistral", "codestral-2508", "codestral-2508"),
    # unknown: another version or variant never falls back to a shorter key's price
    (None, "claude-opus-4-9", None),
    (None, "claude-opus-5-7", None),
    (None, "claude-mythos-5", None),  # limited availability: no public list price here
    ("openai", "gpt-5.5", None),
    ("openai", "o3-pro", None),
    ("openai", "o3-mini", None),
    ("openai", "gpt-5-codex", None),
    ("gemini", "gemini-2.5-pro-exp-03-25", None),  # experimental: free, not Pro's price
    ("openrouter", "anthropic/claude-sonnet-4.5:free", None),
    ("mistral", "mistral-large-latest", None),  # the alias moves between versions
    ("ollama", "llama3:8b", None),
    (None, "", None),
    (None, "   ", None),
]


@pytest.mark.parametrize(("provider", "model", "key"), LOOKUPS)
def test_default_table_lookup(provider, model, key):
    found = default_table().match(provider, model)
    assert (found.key if found else None) == key
    assert (default_table().lookup(provider, model) is None) == (key is None)


def test_lookup_bedrock_and_vertex_ids_price_as_anthropic():
    table = default_table()
    direct = table.lookup("anthropic", "claude-sonnet-4-5-20250929")
    assert direct is not None
    assert table.lookup("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0") == direct
    assert table.lookup("vertex", "claude-sonnet-4-5@20250929") == direct
    assert direct.input == D(3) and direct.cache_write == D("3.75") and direct.cache_read == D("0.30")


def test_lookup_match_reports_exactness():
    table = default_table()
    assert table.match(None, "claude-haiku-4-5").exact
    assert not table.match(None, "claude-haiku-4-5-20251001").exact


def test_lookup_provider_row_wins_over_defaults():
    eu = price("3.30", "16.50", "4.125", "0.33")
    table = default_table().with_overrides([("Bedrock-EU", "claude-sonnet-4-5", eu)])
    found = table.match("bedrock-eu", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert (found.price, found.provider, found.exact) == (eu, "bedrock-eu", False)
    # other providers keep the default; a provider row for one model leaves the others alone
    assert table.lookup("bedrock", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0").input == D(3)
    assert table.lookup("bedrock-eu", "claude-haiku-4-5").input == D(1)


def test_lookup_provider_prefix_beats_global_exact():
    """An operator's price for a provider applies to every spelling of the model there."""
    mine = price(1, 2)
    table = PriceTable({"claude-sonnet-4-5-20250929": price(3, 15)}, {"proxy": {"claude-sonnet-4-5": mine}})
    assert table.lookup("proxy", "claude-sonnet-4-5-20250929") == mine
    assert table.lookup("other", "claude-sonnet-4-5-20250929").input == D(3)


def test_lookup_global_override_replaces_default_and_adds_models():
    table = default_table().with_overrides([
        (None, "claude-sonnet-4-5", price(2, 10)),
        ("", "my-local-model", price(0, 0)),  # an explicit $0 is a price; absence is not
    ])
    assert table.lookup("anthropic", "claude-sonnet-4-5-20250929").input == D(2)
    assert cost(TokenUsage(input_tokens=10**6), table.lookup("vllm", "my-local-model")) == D(0)
    assert default_table().lookup(None, "claude-sonnet-4-5").input == D(3)  # defaults untouched


def test_lookup_longest_prefix_wins():
    table = PriceTable({"gpt-4o": price(5, 5), "gpt-4o-mini": price(1, 1)})
    assert table.lookup(None, "gpt-4o-mini-2024-07-18").input == D(1)
    assert table.lookup(None, "gpt-4o-2024-08-06").input == D(5)


@pytest.mark.parametrize(("raw", "normal"), [
    ("anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"),
    ("us.anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku-20241022-v1:0"),
    ("publishers/google/models/gemini-2.5-pro", "gemini-2.5-pro"),
    ("gpt-4.1", "gpt-4.1"),  # dots stay outside Claude ids
    ("  GPT-5  ", "gpt-5"),
])
def test_normalise_model(raw, normal):
    assert normalise_model(raw) == normal


# --- cost -----------------------------------------------------------------------------------

SONNET_45 = default_table().lookup(None, "claude-sonnet-4-5")
COSTS = [
    # (model, input, output, cache write, cache read, expected USD) — hand computed from the table
    ("claude-sonnet-4-5", 50, 800, 3_000, 150_000, "0.068400"),  # 150+12000+11250+45000 µ$
    ("claude-sonnet-4-6", 1_000_000, 0, 0, 0, "3.000000"),  # 1M context at standard rates
    ("claude-sonnet-4-5", 1_000_000, 0, 0, 0, "6.000000"),  # past 200k: the long-context tier
    ("claude-opus-4-1", 3, 1_200, 40_000, 1_500_000, "3.090045"),
    ("claude-haiku-4-5", 1, 0, 0, 0, "0.000001"),
    ("gpt-4.1", 2_000, 500, 0, 8_000, "0.012000"),  # 4000 + 4000 + 4000 µ$
    ("gemini-2.5-flash", 10_000, 1_000, 0, 90_000, "0.008200"),  # 3000 + 2500 + 2700 µ$
    ("deepseek-v4-flash", 1_000_000, 1_000_000, 0, 1_000_000, "0.422800"),
]


@pytest.mark.parametrize(("model", "inp", "out", "write", "read", "expected"), COSTS)
def test_cost_matches_hand_computation(model, inp, out, write, read, expected):
    usage = TokenUsage(input_tokens=inp, output_tokens=out, cache_creation_input_tokens=write,
                       cache_read_input_tokens=read)
    assert cost(usage, default_table().lookup(None, model)) == D(expected)


def test_cost_prices_cache_tokens_when_they_dominate():
    """A day of Claude Code: ignoring cache tokens shows $0.54 for $5.94 spent."""
    usage = TokenUsage(input_tokens=30_000, output_tokens=30_000, cache_creation_input_tokens=640_000,
                       cache_read_input_tokens=10_000_000)
    sonnet = default_table().lookup("anthropic", "claude-sonnet-4-6")
    uncached_view = cost(TokenUsage(input_tokens=30_000, output_tokens=30_000), sonnet)
    assert uncached_view == D("0.540000")
    breakdown = cost_breakdown(usage, sonnet)
    assert breakdown.total == D("5.940000")
    assert (breakdown.cache_write, breakdown.cache_read) == (D("2.40"), D("3.00"))
    # the cache saved 10M reads x ($3.00 - $0.30) less the write premium 640k x $0.75
    assert breakdown.cache_saved == D("26.520000")


def test_cost_long_context_tier_prices_the_whole_request():
    """Past 200k prompt tokens (cache reads and writes included), every token pays the tier."""
    over = TokenUsage(input_tokens=10_000, output_tokens=1_000, cache_read_input_tokens=195_000)
    at = TokenUsage(input_tokens=5_000, output_tokens=1_000, cache_read_input_tokens=195_000)
    assert cost(over, SONNET_45) == D("0.199500")  # 60000 + 22500 + 117000 µ$
    assert cost_breakdown(over, SONNET_45).long_context
    assert cost(at, SONNET_45) == D("0.088500")  # exactly 200k: 15000 + 15000 + 58500 µ$
    assert not cost_breakdown(at, SONNET_45).long_context


def test_cost_haiku_55_prompt_length_tier():
    haiku = default_table().lookup("anthropic", "claude-haiku-5-5")
    short = TokenUsage(input_tokens=1_000, output_tokens=1_000, cache_read_input_tokens=99_000)
    long = TokenUsage(input_tokens=1_000, output_tokens=1_000, cache_read_input_tokens=99_001)
    assert cost(short, haiku) == D("0.001590")  # 100 + 500 + 990 µ$
    assert cost(long, haiku) == D("0.007950")  # 500 + 2500 + 4950.05 µ$, rounded once


def test_cost_gemini_long_prompt_counts_cached_tokens():
    pro = default_table().lookup("gemini", "gemini-2.5-pro")
    usage = TokenUsage(input_tokens=150_000, output_tokens=2_000, cache_read_input_tokens=100_000)
    assert cost(usage, pro) == D("0.430000")  # 375000 + 30000 + 25000 µ$ at the >200k rates


def test_cost_one_hour_cache_writes_use_their_price():
    opus = default_table().lookup(None, "claude-opus-4-5")
    usage = TokenUsage(cache_creation_input_tokens=10_000, cache_creation_1h_input_tokens=4_000)
    assert cost(usage, opus) == D("0.077500")  # 6000 x 6.25 + 4000 x 10 µ$
    # without a 1h price the 1h share pays the 5m write price
    assert cost(usage, price(5, 25, "6.25", "0.5")) == D("0.062500")


def test_cost_from_anthropic_usage_object():
    usage = TokenUsage.from_anthropic({
        "input_tokens": 12, "output_tokens": 300, "cache_read_input_tokens": 20_000,
        "cache_creation_input_tokens": 2_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 1_500},
        "service_tier": "standard",
    })
    assert usage == TokenUsage(12, 300, 2_000, 20_000, 1_500)
    assert cost(usage, SONNET_45) == D("0.021411")  # 36 + 4500 + 6000 + 500 x 3.75 + 1500 x 6 µ$


def test_cost_accepts_stream_stats():
    stats = StreamStats(input_tokens=100, output_tokens=10, cache_read_input_tokens=1_000,
                        cache_creation_input_tokens=0)
    assert cost(stats, SONNET_45) == D("0.000750")  # 300 + 150 + 300 µ$


def test_cost_rounds_once_at_the_end():
    nano = default_table().lookup("openai", "gpt-5-nano")
    # 8 x 0.05 + 1 x 0.40 = 0.8 µ$: each part alone would round to 0, the sum rounds to 1 µ$
    assert cost(TokenUsage(input_tokens=8, output_tokens=1), nano) == D("0.000001")
    # half a micro-dollar rounds up, just under it rounds down
    nano41 = default_table().lookup("openai", "gpt-4.1-nano")
    assert cost(TokenUsage(cache_read_input_tokens=20), nano41) == D("0.000001")
    assert cost(TokenUsage(cache_read_input_tokens=19), nano41) == D("0.000000")
    assert cost(TokenUsage(input_tokens=1), nano).as_tuple().exponent == -6


def test_cost_zero_usage_is_zero_and_unknown_price_is_none():
    assert cost(TokenUsage(), SONNET_45) == D(0)
    assert cost(TokenUsage(), None) is None
    assert cost(TokenUsage(input_tokens=10**6), None) is None
    assert cost_breakdown(TokenUsage(input_tokens=5), None) is None


@pytest.mark.parametrize("bad", [
    TokenUsage(input_tokens=-1),
    TokenUsage(cache_read_input_tokens=-5),
])
def test_cost_refuses_negative_counts(bad):
    with pytest.raises(ValueError, match="token counts"):
        cost(bad, SONNET_45)


def test_cost_ceiling_bounds_the_request_before_it_is_sent():
    # 10k prompt at the 1h write rate ($6) + 4k output at $15
    assert cost_ceiling(SONNET_45, prompt_tokens=10_000, max_output_tokens=4_000) == D("0.120000")
    # a 300k prompt selects the long-context tier: 300k x $12 + 1k x $22.50
    assert cost_ceiling(SONNET_45, prompt_tokens=300_000, max_output_tokens=1_000) == D("3.622500")
    # no write premium: plain input is the dearest input-side rate
    assert cost_ceiling(price(2, 8, read="0.5"), prompt_tokens=1_000, max_output_tokens=0) == D("0.002000")
    assert cost_ceiling(None, prompt_tokens=1, max_output_tokens=1) is None
    usage = TokenUsage(input_tokens=2_000, output_tokens=4_000, cache_creation_input_tokens=8_000)
    assert cost(usage, SONNET_45) <= cost_ceiling(SONNET_45, prompt_tokens=10_000, max_output_tokens=4_000)


def test_format_usd():
    assert format_usd(None) == "unknown"
    assert format_usd(D("5.94")) == "$5.940000"
    assert format_usd(D(0)) == "$0.000000"


# --- rows and defaults ----------------------------------------------------------------------

@pytest.mark.parametrize("row", [
    {"input": "0.40", "output": 2},
    {"input": "0.40", "output": 2, "cache_write": None, "cache_read": None, "cache_write_1h": None},  # blank fields
])
def test_price_from_dict_defaults_cache_prices_to_input(row):
    p = Price.from_dict(row)
    assert (p.cache_write, p.cache_read, p.cache_write_1h, p.long_context) == (D("0.40"), D("0.40"), None, None)


def test_price_from_dict_accepts_floats_and_decimals_exactly():
    assert Price.from_dict({"input": 0.1, "output": D("0.3")}).input == D("0.1")


@pytest.mark.parametrize(("row", "message"), [
    ({"input": 1}, "required"),
    ({"input": 1, "output": 2, "cache_reads": 0.1}, "unknown fields"),
    ({"input": -1, "output": 2}, ">= 0"),
    ({"input": "abc", "output": 2}, "not a number"),
    ({"input": True, "output": 2}, "expected a number"),
    ({"input": "NaN", "output": 2}, "finite"),
    ({"input": 1, "output": 2, "long_context": {"threshold": 0, "input": 2, "output": 4}}, "threshold"),
    ({"input": 1, "output": 2, "long_context": {"threshold": 9, "input": 2, "output": 4,
                                                 "long_context": {"threshold": 99, "input": 3, "output": 6}}},
     "nest"),
])
def test_price_from_dict_rejects_bad_rows(row, message):
    with pytest.raises(ValueError, match=message):
        Price.from_dict(row)


def test_default_table_is_read_only():
    with pytest.raises(TypeError):
        default_table().models["claude-sonnet-4-5"] = price(0, 0)


def test_price_table_json_round_trip():
    table = default_table()
    assert PriceTable.from_json(json.loads(json.dumps(table.to_json()))) == table


def _shipped():
    text = resources.files("providers.pricing").joinpath("defaults.json").read_text(encoding="utf-8")
    return json.loads(text)


def test_defaults_are_canonical_dated_and_sourced():
    data = _shipped()
    assert data["checked"] and data["currency"] == "USD"
    for key, row in data["models"].items():
        assert normalise_model(key) == key, key
        assert row["source"] in data["sources"], key


def test_defaults_claude_cache_prices_follow_anthropic_multipliers():
    """5m writes 1.25x input, 1h writes 2x, reads 0.1x (or less on the newest models), in both
    tiers of every Claude row."""
    for key, row in _shipped()["models"].items():
        if not key.startswith("claude-") or key == "claude-3-haiku":  # listed at $0.30 / $0.03
            continue
        for tier in (row, row.get("long_context") or row):
            base = D(tier["input"])
            assert D(tier["cache_write"]) == base * D("1.25"), key
            assert D(tier["cache_write_1h"]) == base * 2, key
            assert D(tier["cache_read"]) <= base / 10, key
        if key in {"claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1", "claude-3-5-haiku"}:
            assert D(row["cache_read"]) == D(row["input"]) / 10, key


def test_defaults_cached_input_is_cheaper_than_input():
    for key, price_ in default_table().models.items():
        assert price_.cache_read <= price_.input, key
