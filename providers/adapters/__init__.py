"""The registry of backend kinds: the one place kinds are listed (admin choices derive from it).

Each entry answers for its kind: translation (``translate_request`` ...), the health probe
(``probe``) and everything else a kind decides (``spec``: label, auth, stream framing, options,
init defaults; providers/adapters/spec.py). Code outside this package asks an entry; it never
compares kind strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.adapters.anthropic import AnthropicAdapter
from providers.adapters.base import Adapter
from providers.adapters.bedrock import BedrockAdapter
from providers.adapters.bedrock_converse import BedrockConverseAdapter
from providers.adapters.gemini import GeminiAdapter, GeminiVertexAdapter
from providers.adapters.openai_compat import OpenAICompatAdapter
from providers.adapters.openai_responses import OpenAIResponsesAdapter
from providers.adapters.spec import KindSpec, options_problems
from providers.adapters.vertex import VertexAdapter

REGISTRY: dict[str, Adapter] = {
    AnthropicAdapter.kind: AnthropicAdapter(),
    OpenAICompatAdapter.kind: OpenAICompatAdapter(),
    BedrockAdapter.kind: BedrockAdapter(),
    OpenAIResponsesAdapter.kind: OpenAIResponsesAdapter(),
    GeminiAdapter.kind: GeminiAdapter(),
    GeminiVertexAdapter.kind: GeminiVertexAdapter(),
    VertexAdapter.kind: VertexAdapter(),
    BedrockConverseAdapter.kind: BedrockConverseAdapter(),
}


def kind_spec(kind: str) -> KindSpec | None:
    """The entry's spec; None for a kind no entry serves (a row written before a kind was removed)."""
    adapter = REGISTRY.get(kind)
    return adapter.spec if adapter is not None else None


def kind_choices() -> list[tuple[str, str]]:
    """(kind, label) of every entry, in registry order: the admin's and the API's choices."""
    return [(kind, adapter.spec.label) for kind, adapter in REGISTRY.items()]


def kind_option_problems(kind: str, options: Mapping[str, Any]) -> dict[str, str]:
    """{option: why} for the options ``kind`` does not take or whose value has the wrong type."""
    spec = kind_spec(kind)
    if spec is None:
        return {}  # the kind itself is refused (choices)
    return options_problems(options, spec.options, kind)


def starter_models(kind: str) -> dict[str, str]:
    """The kind's starter models per tier (big/middle/small); {} when it names none."""
    spec = kind_spec(kind)
    return spec.starter.models() if spec is not None and spec.starter is not None else {}


def claude_model_name(model: str) -> str:
    """The Claude model a host's own id names (Bedrock's ``us.anthropic.claude-…-v1:0``), else ``model``.

    Clients configured for a cloud host (``ANTHROPIC_MODEL`` set to a Bedrock id) keep sending its
    spelling when pointed at the Anthropic endpoint; routing tiers, pricing and the reply's model
    speak Claude names.
    """
    for adapter in REGISTRY.values():
        read = adapter.spec.claude_name
        if read is not None:
            name = read(model)
            if name != model:
                return name
    return model
