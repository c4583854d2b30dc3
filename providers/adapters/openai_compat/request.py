"""Anthropic Messages request -> OpenAI chat-completions request.

One pass over the request builds the upstream body; every rewrite a backend needs is driven by
``Target`` fields and written to the ledger (counted while walking, summarised once at the end).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from providers.adapters.base import JSON, ChatRequest, Target, UpstreamRequest, dumps
from providers.adapters.common import (
    billing_strip,
    json_schema_format,
    json_upstream,
    ledger_finish,
    max_tokens_resolve,
    user_id,
)
from providers.adapters.openai_compat.common import (
    data_url,
    image_url_counted,
    params_drop,
    tool_result_text,
    upstream_name,
    upstream_tool_id,
)
from providers.adapters.openai_compat.schema import FLATTENED, needs_sanitizing, sanitize_schema

# Anthropic sampling parameter -> OpenAI parameter (simple renames; top_k is taken by vLLM, Ollama
# and OpenRouter; backends that reject it list it in Target.drop_params)
PARAMS: dict[str, str] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "stop_sequences": "stop",
}
# request fields this adapter reads; anything else (context_management, container...) is ignored
KNOWN_FIELDS = frozenset({
    "model", "messages", "system", "max_tokens", "tools", "tool_choice", "thinking", "output_config",
    "metadata", "stream", *PARAMS,
})
EFFORTS: dict[str, str] = {"low": "low", "medium": "medium", "high": "high", "max": "high"}
# thinking.budget_tokens upper bounds -> reasoning_effort (Claude Code: think 4k, hard 10k, ultra 32k)
BUDGET_EFFORTS: tuple[tuple[int, str], ...] = ((4096, "low"), (16384, "medium"))
TOOL_CHOICES: dict[str, str] = {"auto": "auto", "any": "required", "none": "none"}
MOVED_IMAGE_NOTE = "(image attached in the next user message)"


@dataclass(slots=True)
class _Ctx:
    """Per-request state: the target, rename maps and counters for the ledger."""

    target: Target
    ledger: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)      # original -> upstream
    restore: dict[str, str] = field(default_factory=dict)    # upstream -> original (renamed only)
    ids: dict[str, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    image_chars: int = 0
    images: int = 0
    moved_images: int = 0

    def name(self, original: str) -> str:
        name = self.names.get(original)
        if name is None:
            name = self.names[original] = upstream_name(original)
            if name != original:
                self.restore[name] = original
                self.ledger.append(f"renamed tool {original} -> {name}")
        return name

    def tool_id(self, original: str) -> str:
        target = self.target
        if target.tool_id_max is None and not target.tool_id_alnum:
            return original
        mapped = self.ids.get(original)
        if mapped is None:
            mapped = self.ids[original] = upstream_tool_id(original, target.tool_id_max, target.tool_id_alnum)
            if mapped != original:
                self.counts["remapped tool ids"] += 1
        return mapped


def translate_request(req: ChatRequest, target: Target) -> UpstreamRequest:
    body = req.body
    ctx = _Ctx(target)
    out: JSON = {"model": target.model, "messages": _messages(body, ctx)}
    _params(body, out, ctx)
    _tools(body, out, ctx)
    if req.stream:
        out["stream"] = True
        if target.stream_usage:
            out["stream_options"] = {"include_usage": True}
    _finish_ledger(req, body, out, ctx)
    return json_upstream(out, url=target.base_url.rstrip("/") + target.path, body=body, stream=req.stream,
                         state=ctx, headers=target.headers)


def _finish_ledger(req: ChatRequest, body: JSON, out: JSON, ctx: _Ctx) -> None:
    """Apply drop_params/extra_body and summarise the counted rewrites."""
    params_drop(out, ctx.target.drop_params, ctx.target.extra_body, ctx.ledger)
    notes: list[str] = []
    if ctx.moved_images:
        plural = "s" if ctx.moved_images > 1 else ""
        notes.append(f"moved {ctx.moved_images} image{plural} from tool_result to user message")
    ledger_finish(ledger=ctx.ledger, body=body, known=KNOWN_FIELDS, beta=req.beta, counts=ctx.counts, notes=notes)


# -- messages -------------------------------------------------------------------------------------


def _messages(body: JSON, ctx: _Ctx) -> list[JSON]:
    """System text first (top-level system, then system-role messages, in order), then turns."""
    system = _system_texts(body.get("system"), ctx)
    turns: list[JSON] = []
    for msg in body.get("messages") or ():
        if not isinstance(msg, dict):
            continue
        role = msg.get("role")
        if role == "assistant":
            turns.append(_assistant(msg.get("content"), ctx))
        elif role == "system":
            system += _system_texts(msg.get("content"), ctx)
        else:
            _user(msg.get("content"), turns, ctx)
    if system:
        turns.insert(0, {"role": "system", "content": "\n\n".join(system)})
    return turns


def _system_texts(system: Any, ctx: _Ctx) -> list[str]:
    if isinstance(system, str):
        texts = [system]
    elif isinstance(system, list):
        texts = []
        for block in system:
            if isinstance(block, dict):
                if "cache_control" in block:
                    ctx.counts["dropped cache_control"] += 1
                text = block.get("text")
                if isinstance(text, str):
                    texts.append(text)
    else:
        return []
    if ctx.target.drop_billing_header:
        texts = [t for t in (billing_strip(t, ctx.ledger) for t in texts) if t]
    return texts


def _assistant(content: Any, ctx: _Ctx) -> JSON:
    """One assistant message: text as content, tool_use as tool_calls, thinking as reasoning."""
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    calls: list[JSON] = []
    reasoning: list[str] = []
    counts = ctx.counts
    for block in content or ():
        if not isinstance(block, dict):
            continue
        if "cache_control" in block:
            counts["dropped cache_control"] += 1
        kind = block.get("type")
        if kind == "text":
            if block.get("text"):
                texts.append(block["text"])
        elif kind == "tool_use":
            calls.append(_tool_call(block, ctx))
        elif kind == "thinking":
            _thinking(block, reasoning, ctx)
        elif kind == "redacted_thinking":
            counts["dropped redacted_thinking"] += 1
        else:
            counts[f"dropped {kind} blocks"] += 1
    msg: JSON = {"role": "assistant", "content": "\n\n".join(texts) if texts else (None if calls else "")}
    if calls:
        msg["tool_calls"] = calls
    if reasoning or (calls and ctx.target.reasoning_history):
        # DeepSeek-style backends reject a tool-call turn sent back without its reasoning
        msg["reasoning_content"] = "\n\n".join(reasoning)
    return msg


def _thinking(block: JSON, reasoning: list[str], ctx: _Ctx) -> None:
    if block.get("signature"):
        ctx.counts["dropped thinking signatures"] += 1
    if ctx.target.reasoning_history:
        if block.get("thinking"):
            reasoning.append(block["thinking"])
    else:
        ctx.counts["dropped thinking blocks"] += 1


def _tool_call(block: JSON, ctx: _Ctx) -> JSON:
    args = block.get("input")
    return {
        "id": ctx.tool_id(str(block.get("id") or "")),
        "type": "function",
        "function": {
            "name": ctx.name(str(block.get("name") or "")),
            "arguments": dumps(args if args is not None else {}).decode(),
        },
    }


def _user(content: Any, turns: list[JSON], ctx: _Ctx) -> None:
    """Tool results first (OpenAI wants them right after the tool calls), then the other parts."""
    if not isinstance(content, list):
        turns.append({"role": "user", "content": content if isinstance(content, str) else ""})
        return
    parts: list[JSON] = []
    had_results = False
    for block in content:
        if not isinstance(block, dict):
            continue
        if "cache_control" in block:
            ctx.counts["dropped cache_control"] += 1
        if block.get("type") == "tool_result":
            turns.append(_tool_result(block, parts, ctx))
            had_results = True
        else:
            part = _part(block, ctx)
            if part is not None:
                parts.append(part)
    if parts or not had_results:
        turns.append({"role": "user", "content": _collapse(parts)})


def _collapse(parts: list[JSON]) -> str | list[JSON]:
    """Plain string when there are only texts (accepted by every backend), else content parts."""
    if all(p["type"] == "text" for p in parts):
        return "\n\n".join(p["text"] for p in parts)
    return parts


def _tool_result(block: JSON, user_parts: list[JSON], ctx: _Ctx) -> JSON:
    text, images = tool_result_text(block, partial(_result_part, ctx=ctx), "text")
    result: str | list[JSON] = text
    if images and ctx.target.images_in_tool_results:
        result = ([{"type": "text", "text": text}] if text else []) + images
    elif images:
        user_parts.extend(images)
        ctx.moved_images += len(images)
        result = text or MOVED_IMAGE_NOTE
    return {"role": "tool", "tool_call_id": ctx.tool_id(str(block.get("tool_use_id") or "")), "content": result}


def _result_part(block: JSON, ctx: _Ctx) -> JSON | None:
    if "cache_control" in block:
        ctx.counts["dropped cache_control"] += 1
    return _part(block, ctx)


def _part(block: JSON, ctx: _Ctx) -> JSON | None:
    """An OpenAI content part for one Anthropic user block (None when it has no equivalent)."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": block.get("text") or ""}
    if kind == "image":
        return _image(block.get("source"), ctx)
    if kind == "document":
        return _document(block, ctx)
    text = block.get("text")
    if isinstance(text, str):
        return {"type": "text", "text": text}
    ctx.counts[f"dropped {kind} blocks"] += 1
    return None


def _image(source: Any, ctx: _Ctx) -> JSON | None:
    url = image_url_counted(source, ctx)
    return None if url is None else {"type": "image_url", "image_url": {"url": url}}


def _document(block: JSON, ctx: _Ctx) -> JSON | None:
    """Text documents become text; base64 PDFs become an OpenAI ``file`` part."""
    source = block.get("source")
    if not isinstance(source, dict):
        return None
    kind = source.get("type")
    if kind == "text":
        return {"type": "text", "text": str(source.get("data") or "")}
    if kind == "content" and isinstance(source.get("content"), list | str):
        inner = source["content"]
        texts = [inner] if isinstance(inner, str) else [b.get("text") or "" for b in inner if isinstance(b, dict)]
        return {"type": "text", "text": "\n".join(texts)}
    if kind == "base64":
        url, chars = data_url(source, "application/pdf")
        ctx.image_chars += chars
        ctx.images += 1
        name = block.get("title") or "document.pdf"
        return {"type": "file", "file": {"filename": name, "file_data": url}}
    if kind == "url" and source.get("url"):
        return {"type": "text", "text": f"[document: {source['url']}]"}
    ctx.counts["dropped document sources"] += 1
    return None


# -- parameters and tools -------------------------------------------------------------------------


def _params(body: JSON, out: JSON, ctx: _Ctx) -> None:
    target = ctx.target
    max_tokens = max_tokens_resolve(body, default=target.default_max_tokens, cap=target.max_tokens_cap,
                                    ledger=ctx.ledger)
    out["max_completion_tokens" if target.reasoning_model else "max_tokens"] = max_tokens
    for src, dst in PARAMS.items():
        value = body.get(src)
        if value is not None and value != []:
            out[dst] = value
    _reasoning(body, out, ctx)
    _response_format(body, out, ctx)
    user = user_id(body, max_len=target.user_max_len, ledger=ctx.ledger)
    if user is not None:
        out["user"] = user


def _reasoning(body: JSON, out: JSON, ctx: _Ctx) -> None:
    """output_config.effort (preferred) or thinking.budget_tokens -> reasoning_effort."""
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    thinking = body.get("thinking")
    budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
    thinking_on = isinstance(thinking, dict) and thinking.get("type") != "disabled"
    if not ctx.target.reasoning_effort:
        if effort:
            ctx.ledger.append("dropped output_config.effort")
        if thinking_on:
            ctx.ledger.append("dropped thinking")
        return
    if isinstance(effort, str):
        mapped = EFFORTS.get(effort)
        if mapped is None:
            ctx.ledger.append(f"dropped unknown effort {effort}")
            return
        out["reasoning_effort"] = mapped
    elif thinking_on and isinstance(budget, int):
        out["reasoning_effort"] = next((e for limit, e in BUDGET_EFFORTS if budget <= limit), "high")
        ctx.ledger.append(f"thinking budget {budget} -> reasoning_effort {out['reasoning_effort']}")


def _response_format(body: JSON, out: JSON, ctx: _Ctx) -> None:
    """Structured outputs: output_config.format (or output_format) json_schema -> response_format."""
    found = json_schema_format(body, ctx.ledger)
    if found is None:
        return
    name, schema = found
    out["response_format"] = {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def _tools(body: JSON, out: JSON, ctx: _Ctx) -> None:
    tools: list[JSON] = []
    found: set[str] = set()
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict):
            continue
        if "cache_control" in tool:
            ctx.counts["dropped cache_control"] += 1
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            ctx.ledger.append(f"dropped unsupported tool {tool.get('type') or tool.get('name')}")
            continue
        function: JSON = {"name": ctx.name(str(tool.get("name") or ""))}
        if tool.get("description"):
            function["description"] = tool["description"]
        function["parameters"] = _schema(schema, ctx.target, found)
        tools.append({"type": "function", "function": function})
    if found - {FLATTENED}:
        ctx.ledger.append("dropped schema keywords: " + ", ".join(sorted(found - {FLATTENED})))
    if FLATTENED in found:
        ctx.ledger.append("flattened anyOf in tool schemas")
    if tools:
        out["tools"] = tools
        _tool_choice(body.get("tool_choice"), out, ctx)
    elif body.get("tool_choice"):
        ctx.ledger.append("dropped tool_choice (no tools)")


def _schema(schema: JSON, target: Target, found: set[str]) -> JSON:
    drop, flatten = target.schema_drop_keywords, target.schema_flatten_anyof
    if not (drop or flatten) or not needs_sanitizing(schema, drop, flatten):
        return schema
    result: JSON = sanitize_schema(schema, drop, flatten, found)
    return result


def _tool_choice(choice: Any, out: JSON, ctx: _Ctx) -> None:
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "tool":
        name = ctx.name(str(choice.get("name") or ""))
        if any(t["function"]["name"] == name for t in out["tools"]):
            out["tool_choice"] = {"type": "function", "function": {"name": name}}
        else:
            ctx.ledger.append(f"dropped tool_choice for unknown tool {choice.get('name')}")
    elif kind in TOOL_CHOICES:
        out["tool_choice"] = TOOL_CHOICES[kind]
    if choice.get("disable_parallel_tool_use") and kind != "none":
        out["parallel_tool_calls"] = False
