"""Small pieces shared by the request, response and stream halves of the OpenAI-compatible adapter.

Tool names and ids are rewritten with hashes of the original value, so the same Anthropic name or
id maps to the same upstream spelling on every turn without any state kept between requests.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

# usage_body lives with the other Anthropic event builders; many modules import it from here
from providers.adapters.events import usage_body as usage_body

NAME_MAX = 64
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
NAME_HASH_LEN = 8
ID_DEFAULT_LEN = 24
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# OpenAI finish_reason -> Anthropic stop_reason (anything unknown ends the turn)
FINISH_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "eos": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

TOOL_ERROR_PREFIX = "Error: "


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def name_ok(name: str) -> bool:
    return 0 < len(name) <= NAME_MAX and NAME_CHARS.issuperset(name)


def upstream_name(name: str) -> str:
    """A name the backend accepts: unchanged when valid, else sanitised prefix + short hash."""
    if name_ok(name):
        return name
    clean = "".join(c if c in NAME_CHARS else "_" for c in name) or "tool"
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:NAME_HASH_LEN]
    return clean[: NAME_MAX - NAME_HASH_LEN - 1] + "_" + digest


def tool_id_ok(tool_id: str, max_len: int | None, alnum: bool) -> bool:
    if max_len is not None and len(tool_id) > max_len:
        return False
    return not alnum or (tool_id.isascii() and tool_id.isalnum())


def tool_name(original: str, restore: dict[str, str], ledger: list[str]) -> str:
    """``upstream_name``, remembering each rename in ``restore`` (and the ledger) once."""
    name = upstream_name(original)
    if name != original and name not in restore:
        restore[name] = original
        ledger.append(f"renamed tool {original} -> {name}")
    return name


def upstream_tool_id(tool_id: str, max_len: int | None, alnum: bool) -> str:
    """A deterministic id within the backend's limits (ids already within them stay as they are,
    so ids the backend minted itself round-trip unchanged)."""
    if tool_id and tool_id_ok(tool_id, max_len, alnum):
        return tool_id
    length = min(max_len or ID_DEFAULT_LEN, 40)
    value = int.from_bytes(hashlib.sha256(tool_id.encode()).digest(), "big")
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 62)
        chars.append(BASE62[rem])
    return "".join(chars)


def data_url(source: Mapping[str, Any], default_type: str) -> tuple[str, int]:
    """(data URL, length of its base64) of a base64 Anthropic source."""
    data = source.get("data") or ""
    return f"data:{source.get('media_type') or default_type};base64,{data}", len(data)


def image_url(source: Mapping[str, Any]) -> tuple[str, int] | None:
    """(URL, inline base64 length) of an Anthropic image source; None when it has neither."""
    if source.get("type") == "base64":
        return data_url(source, "image/png")
    if source.get("type") == "url" and source.get("url"):
        return source["url"], 0
    return None


class ImageTally(Protocol):
    """What a request translation counts about images (for the ledger and the input estimate)."""

    counts: Counter[str]
    image_chars: int
    images: int


def image_url_counted(source: Any, tally: ImageTally) -> str | None:
    """The URL of an Anthropic image source, counted on ``tally``; None (and counted as dropped)
    when the source has neither inline data nor a URL."""
    if not isinstance(source, dict):
        return None
    found = image_url(source)
    if found is None:
        tally.counts["dropped image sources"] += 1
        return None
    url, chars = found
    tally.image_chars += chars
    tally.images += 1
    return url


def tool_result_text(
    block: Mapping[str, Any], part: Callable[[dict[str, Any]], dict[str, Any] | None], text_type: str,
) -> tuple[str, list[dict[str, Any]]]:
    """(text, other parts) of an Anthropic tool_result: its text parts joined by newlines (with
    the error prefix when ``is_error``), the rest (images, files) as converted by ``part``."""
    texts: list[str] = []
    others: list[dict[str, Any]] = []
    content = block.get("content")
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for sub in content:
            converted = part(sub) if isinstance(sub, dict) else None
            if converted is None:
                continue
            if converted["type"] == text_type:
                texts.append(converted["text"])
            else:
                others.append(converted)
    text = "\n".join(texts)
    return (TOOL_ERROR_PREFIX + text if block.get("is_error") else text), others


def params_drop(out: dict[str, Any], drop: Iterable[str], extra: Mapping[str, Any], ledger: list[str]) -> None:
    """Remove the params a backend rejects (``Target.drop_params``), then add its ``extra_body``."""
    dropped = sorted(p for p in drop if p in out)
    for param in dropped:
        del out[param]
    out.update(extra)
    if dropped:
        ledger.append("dropped params: " + ", ".join(dropped))


def as_int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def usage_tokens(usage: Mapping[str, Any]) -> tuple[int, int, int]:
    """(uncached input, output, cached input) from an OpenAI usage object.

    Cached tokens come from ``prompt_tokens_details.cached_tokens`` (OpenAI, vLLM) or
    ``prompt_cache_hit_tokens`` (DeepSeek).
    """
    prompt = as_int(usage.get("prompt_tokens"))
    details = usage.get("prompt_tokens_details")
    cached = as_int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    if not cached:
        cached = as_int(usage.get("prompt_cache_hit_tokens"))
    cached = min(cached, prompt) if prompt else cached
    return max(prompt - cached, 0), as_int(usage.get("completion_tokens")), cached


def usage_or_estimate(usage: Any, input_estimate: int, output_chars: int) -> tuple[int, int, int]:
    """Reported usage, with estimates where the backend reports none or zeros (zero usage would
    blind Claude Code's context accounting and auto-compaction)."""
    inp, outp, cached = usage_tokens(usage) if isinstance(usage, Mapping) else (0, 0, 0)
    if not inp and not cached:
        inp = input_estimate
    if not outp and output_chars:
        outp = max(1, output_chars // 4)
    return inp, outp, cached


def stop_reason(finishes: list[str], stop_string: str | None, has_tool_use: bool) -> tuple[str, str | None]:
    """Anthropic (stop_reason, stop_sequence) from the finish reasons of every choice.

    A refusal or truncation wins; tool calls win over a plain stop (several backends say ``stop``
    after tool calls, and a ``tool_calls`` finish without a usable call ends the turn cleanly).
    """
    mapped = {FINISH_REASONS.get(f, "end_turn") for f in finishes}
    if "refusal" in mapped:
        return "refusal", None
    if "max_tokens" in mapped:
        return "max_tokens", None
    if has_tool_use:
        return "tool_use", None
    if stop_string:
        return "stop_sequence", stop_string
    return "end_turn", None
