from __future__ import annotations

import pytest

from providers.config import ProviderConfig
from providers.model_limits import output_limit
from providers.targets import target_for


@pytest.mark.parametrize("model,limit", [("gpt-4o-mini-2024", 16_384), ("openai/gpt-4.1", 32_768),
                                         ("deepseek-chat", 8_192), ("my-local-model", None)])
def test_output_limit_longest_prefix(model, limit):
    assert output_limit(model) == limit


def test_target_clamps_to_known_model_limit_unless_provider_sets_a_cap(settings):
    settings.MAX_TOKENS_LIMIT = 0
    p = ProviderConfig(id=1, name="o", kind="openai_compat", base_url="http://x")
    assert target_for(p, "gpt-4o").max_tokens_cap == 16_384
    assert target_for(p, "unknown").max_tokens_cap is None
    capped = ProviderConfig(id=1, name="o", kind="openai_compat", base_url="http://x", max_tokens_cap=50_000)
    assert target_for(capped, "gpt-4o").max_tokens_cap == 50_000


def test_target_options_become_target_fields_but_not_provider_columns():
    p = ProviderConfig(id=1, name="g", kind="openai_compat", base_url="http://x",
                       options={"drop_params": ["top_k"], "reasoning_effort": True, "max_tokens_cap": 1, "bogus": 1})
    t = target_for(p, "m")
    assert t.drop_params == frozenset({"top_k"}) and t.reasoning_effort and t.max_tokens_cap is None


@pytest.mark.parametrize("model,reasons", [("gpt-4.1", False), ("o3-mini", True), ("gpt-5-codex", True),
                                           ("openai/o4-mini", True), ("gpt-4o", False)])
def test_auto_reasoning_only_for_reasoning_models(model, reasons):
    p = ProviderConfig(id=1, name="o", kind="openai_compat", base_url="http://x",
                       options={"reasoning_effort": "auto", "reasoning_model": "auto"})
    t = target_for(p, model)
    assert t.reasoning_effort is reasons and t.reasoning_model is reasons


@pytest.mark.parametrize("message,expected", [
    ("This model's maximum context length is 32768 tokens. However, you requested 66000 tokens "
     "(2000 in the messages, 64000 in the completion).", (30768, False)),
    ("max_tokens is too large: 64000. This model supports at most 16384 completion tokens", (16384, True)),
    ("Invalid 'max_tokens': integer above maximum value. Expected a value <= 8192, but got 64000", (8192, True)),
    ("max_tokens must be less than or equal to 8192", (8192, True)),
    ("This model's maximum context length is 8192 tokens", None),
    ("bad tool schema: at most 5 items", None),
])
def test_output_budget_from_upstream_messages(message, expected):
    from providers.adapters.base import output_budget_from

    assert output_budget_from(message) == expected
