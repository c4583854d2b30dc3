"""Anthropic-side request helpers shared by several backend kinds.

Each one reads a part of the Anthropic Messages body the same way for every backend and writes
what it dropped or changed to the request's ledger; what the backend spells differently stays
with the caller.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from providers.adapters.base import JSON

BILLING_PREFIX = "x-anthropic-billing-header:"


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
