"""Anthropic-side request helpers shared by several backend kinds.

Each one reads a part of the Anthropic Messages body the same way for every backend and writes
what it dropped or changed to the request's ledger; what the backend spells differently stays
with the caller.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from providers.adapters.base import JSON, UpstreamRequest, body_dumps

BILLING_PREFIX = "x-anthropic-billing-header:"
IMAGE_TOKENS = 1600  # rough cost of one image, for input estimates


def input_estimate(raw: bytes, image_chars: int, images: int) -> int:
    """Input tokens, roughly: a token per four characters of the body, a flat cost per image
    (whose inline base64 would count far too much)."""
    return max(1, (len(raw) - image_chars) // 4 + images * IMAGE_TOKENS)


class Translated(Protocol):
    """What a request translator kept while it wrote the upstream body."""

    ledger: list[str]
    restore: dict[str, str]  # upstream tool name -> original (renamed only)
    image_chars: int
    images: int


def json_upstream(out: JSON, *, url: str, body: JSON, stream: bool, state: Translated,
                  headers: Mapping[str, str]) -> UpstreamRequest:
    """The upstream request for a JSON body ``out`` (encoded once here), translated from ``body``."""
    raw = body_dumps(out)
    return UpstreamRequest(
        url=url,
        body=raw,
        headers={"content-type": "application/json", **headers},
        stream=stream,
        tool_names=state.restore,
        ledger=state.ledger,
        input_estimate=input_estimate(raw, state.image_chars, state.images),
        requested_model=str(body.get("model") or ""),
    )


def billing_strip(text: str, ledger: list[str]) -> str:
    """Claude Code's per-request billing line defeats prefix caching; drop just that line."""
    if not text.startswith(BILLING_PREFIX):
        return text
    ledger.append("dropped billing header line")
    return text.partition("\n")[2].lstrip("\n")


def max_tokens_resolve(body: JSON, *, default: int, cap: int | None, ledger: list[str]) -> int:
    """The output budget to send: the request's ``max_tokens`` when it is a positive integer, else
    ``default`` (the target's), clamped to ``cap`` (noted in the ledger)."""
    asked = body.get("max_tokens")
    budget = asked if isinstance(asked, int) and not isinstance(asked, bool) and asked > 0 else default
    if cap and budget > cap:
        ledger.append(f"clamped max_tokens {budget} -> {cap}")
        return cap
    return budget


def json_schema_format(body: JSON, ledger: list[str], *, refuse: bool = False) -> tuple[str, JSON] | None:
    """(name, schema) of a json_schema structured output (output_config.format, else the older
    output_format); any other format, or any format when ``refuse``, is dropped to the ledger."""
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if fmt is None:
        fmt = body.get("output_format")
    if not isinstance(fmt, dict):
        return None
    schema = fmt.get("schema")
    if fmt.get("type") != "json_schema" or not isinstance(schema, dict) or refuse:
        ledger.append(f"dropped output format {fmt.get('type')}")
        return None
    return str(fmt.get("name") or "output"), schema


def ledger_finish(
    *,
    ledger: list[str],
    body: JSON,
    known: frozenset[str],
    beta: Sequence[str],
    counts: Counter[str],
    dropped: Iterable[str] = (),
    notes: Iterable[str] = (),
) -> None:
    """The closing ledger lines: dropped fields (``dropped`` first, then unknown ones sorted), the
    dropped anthropic-beta values, the caller's ``notes``, then every counted rewrite."""
    fields = [*dropped, *sorted(k for k in body if k not in known)]
    if fields:
        ledger.append("dropped fields: " + ", ".join(fields))
    if beta:
        ledger.append("dropped anthropic-beta: " + ",".join(beta))
    ledger.extend(notes)
    ledger.extend(f"{what} x{n}" for what, n in counts.items())


def user_id(body: JSON, *, max_len: int, ledger: list[str]) -> str | None:
    """metadata.user_id when the backend can take it (too long ones are dropped to the ledger)."""
    metadata = body.get("metadata")
    user: Any = metadata.get("user_id") if isinstance(metadata, dict) else None
    if not (isinstance(user, str) and user):
        return None
    if len(user) <= max_len:
        return user
    ledger.append("dropped metadata.user_id")
    return None
