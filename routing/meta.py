"""Request facts routing needs, read once per request (fingerprints cached per prompt text)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from routing.fingerprints import request_fingerprints, system_texts
from routing.resolution import RequestMeta, RouteTable

_prints: OrderedDict[str, tuple[str, ...]] = OrderedDict()
MAX_CACHED_PROMPTS = 512


def prompt_fingerprints(body: dict[str, Any]) -> tuple[tuple[str, ...], str]:
    """(fingerprints, longest prompt text) of a request; normalisation runs once per distinct prompt."""
    texts = system_texts(body.get("system"), body.get("messages") or ())
    if not texts:
        return (), ""
    key = "\x00".join(texts)
    prints = _prints.get(key)
    if prints is None:
        prints = request_fingerprints(texts)
        _prints[key] = prints
        if len(_prints) > MAX_CACHED_PROMPTS:
            _prints.popitem(last=False)
    return prints, max(texts, key=len)


def request_meta(
    body: dict[str, Any],
    table: RouteTable,
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
