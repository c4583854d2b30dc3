"""Request facts routing needs, read once per request (fingerprints cached per prompt text)."""

from __future__ import annotations

import functools
from typing import Any

from routing.fingerprints import request_fingerprints, system_texts
from routing.resolution import RequestMeta
from runtime import resets

MAX_CACHED_PROMPTS = 512


def prompt_fingerprints(body: dict[str, Any]) -> tuple[tuple[str, ...], str]:
    """(fingerprints, longest prompt text) of a request; normalisation runs once per distinct prompt."""
    texts = system_texts(body.get("system"), body.get("messages") or ())
    if not texts:
        return (), ""
    return _fingerprints_of(tuple(texts)), max(texts, key=len)


@functools.lru_cache(maxsize=MAX_CACHED_PROMPTS)
def _fingerprints_of(texts: tuple[str, ...]) -> tuple[str, ...]:
    return request_fingerprints(texts)


resets.register(_fingerprints_of.cache_clear)


def request_meta(
    body: dict[str, Any],
    *,
    url_provider: str | None,
    url_model: str | None,
    agent_name: str,
    prints: tuple[str, ...],
    input_estimate: int,
) -> RequestMeta:
    thinking = body.get("thinking")
    return RequestMeta(
        model=str(body.get("model", "")),
        url_provider=url_provider,
        url_model=url_model,
        agent_name=agent_name,
        fingerprints=prints,
        input_tokens=input_estimate,
        thinking=isinstance(thinking, dict) and thinking.get("type") == "enabled",
    )
