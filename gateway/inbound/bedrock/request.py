"""A Bedrock invoke body (or Vertex rawPredict body) -> the canonical Anthropic Messages body.

Bedrock's body is Anthropic's minus ``model`` (it is in the URL), plus ``anthropic_version``
(``bedrock-2023-05-31``) and beta flags as an ``anthropic_beta`` list; ``stream`` is the URL's
action. The caller checks the result against the Messages schema.
"""

from __future__ import annotations

from typing import Any

from providers.adapters.base import JSON
from providers.adapters.bedrock import normalize_model


class BedrockBodyError(ValueError):
    """The body cannot become a Messages request; ``param`` names the field."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def beta_flags(flags: Any, header_beta: str) -> tuple[str, ...]:
    """The ``anthropic-beta`` header's flags then the body's list (or comma string), deduplicated."""
    flags = flags or []
    if isinstance(flags, str):
        flags = flags.split(",")
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise BedrockBodyError("anthropic_beta: Input should be a valid list of strings", "anthropic_beta")
    beta = [f.strip() for f in [*header_beta.split(","), *flags] if f.strip()]
    return tuple(dict.fromkeys(beta))


def to_anthropic(body: JSON, model_id: str, *, stream: bool, header_beta: str = "") -> tuple[JSON, tuple[str, ...]]:
    """(the Anthropic body, its beta flags) for ``body`` posted to ``model_id``. The URL's model
    id becomes the Claude name (``us.anthropic.claude-sonnet-4-5-20250929-v1:0`` ->
    ``claude-sonnet-4-5-20250929``); Claude Code sends ``claude-code-20250219`` in the header even
    in Bedrock mode, so both sources of flags count. ``body`` is changed in place and returned."""
    body.pop("anthropic_version", None)
    beta = beta_flags(body.pop("anthropic_beta", None), header_beta)
    body["model"] = normalize_model(model_id)
    body["stream"] = stream
    return body, beta
