"""Anthropic Messages request -> OpenAI Responses request (``POST /v1/responses``).

System text becomes ``instructions``; turns become ``input`` items in order: messages,
``function_call`` / ``function_call_output`` pairs, and the reasoning items carried in thinking
signatures. ``store: false`` always (nothing is kept upstream; the history is the state).

``Target.reasoning_effort`` says whether the model reasons (the preset's "auto": models known to
reason); only then are ``reasoning`` / ``include`` sent and reasoning items carried, since other
models on /v1/responses (gpt-4.1...) reject them. ``Target.path`` is chat's by default; a provider
that sets another one (Azure's ``/responses?api-version=...``) is served at that path.
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
    tool_name,
    tool_result_text,
    upstream_tool_id,
)
from providers.adapters.openai_compat.request import (
    BUDGET_EFFORTS,
    EFFORTS,
    MOVED_IMAGE_NOTE,
    TOOL_CHOICES,
)
from providers.adapters.openai_compat.schema import needs_sanitizing, sanitize_schema
from providers.adapters.openai_responses.common import signature_decode

PATH = "/responses"
CHAT_PATH = "/chat/completions"  # Target.path's default, meaning "not set" here
PARAMS: dict[str, str] = {"temperature": "temperature", "top_p": "top_p"}
# Anthropic fields the Responses API has no equivalent for (dropped, noted in the ledger)
UNSUPPORTED = ("top_k", "stop_sequences")
KNOWN_FIELDS = frozenset({
    "model", "messages", "system", "max_tokens", "tools", "tool_choice", "thinking", "output_config",
    "metadata", "stream", "output_format", *PARAMS, *UNSUPPORTED,
})
ENCRYPTED_REASONING = "reasoning.encrypted_content"


@dataclass(slots=True)
class _Ctx:
    target: Target
    ledger: list[str] = field(default_factory=list)
    restore: dict[str, str] = field(default_factory=dict)  # upstream name -> original (renamed only)
    counts: Counter[str] = field(default_factory=Counter)
    reasoning: bool = False  # the target reasons: carry reasoning items
    image_chars: int = 0
    images: int = 0

    def name(self, original: str) -> str:
        return tool_name(original, self.restore, self.ledger)

    def tool_id(self, original: str) -> str:
        target = self.target
        if target.tool_id_max is None and not target.tool_id_alnum:
            return original
        return upstream_tool_id(original, target.tool_id_max, target.tool_id_alnum)


def translate_request(req: ChatRequest, target: Target) -> UpstreamRequest:
    body = req.body
    ctx = _Ctx(target, reasoning=target.reasoning_effort)
    out: JSON = {"model": target.model}
    instructions, items = _input(body, ctx)
    if instructions:
        out["instructions"] = instructions
    out["input"] = items
    _params(body, out, ctx)
    _reasoning(body, out, ctx)
    _text_format(body, out, ctx)
    _tools(body, out, ctx)
    out["store"] = False
    if req.stream:
        out["stream"] = True
    _finish_ledger(req, body, out, ctx)
    url = target.base_url.rstrip("/") + (PATH if target.path == CHAT_PATH else target.path)
    return json_upstream(out, url=url, body=body, stream=req.stream, state=ctx, headers=target.headers)


def _finish_ledger(req: ChatRequest, body: JSON, out: JSON, ctx: _Ctx) -> None:
    params_drop(out, ctx.target.drop_params, ctx.target.extra_body, ctx.ledger)
    unsupported = [k for k in UNSUPPORTED if body.get(k) not in (None, [])]
    ledger_finish(
        ledger=ctx.ledger, body=body, known=KNOWN_FIELDS, beta=req.beta, counts=ctx.counts, dropped=unsupported,
    )


# -- input items ----------------------------------------------------------------------------------


def _input(body: JSON, ctx: _Ctx) -> tuple[str, list[JSON]]:
    """(instructions, input items): system text in order, then the turns."""
    system = _system_texts(body.get("system"), ctx)
    items: list[JSON] = []
    for msg in body.get("messages") or ():
        if not isinstance(msg, dict):
            continue
        role = msg.get("role")
        if role == "system":
            system += _system_texts(msg.get("content"), ctx)
        elif role == "assistant":
            _assistant(msg.get("content"), items, ctx)
        else:
            _user(msg.get("content"), items, ctx)
    return "\n\n".join(system), items


def _system_texts(system: Any, ctx: _Ctx) -> list[str]:
    if isinstance(system, str):
        texts = [system]
    elif isinstance(system, list):
        texts = [b["text"] for b in system if isinstance(b, dict) and isinstance(b.get("text"), str)]
    else:
        return []
    if ctx.target.drop_billing_header:
        texts = [t for t in (billing_strip(t, ctx.ledger) for t in texts) if t]
    return texts


def _assistant(content: Any, items: list[JSON], ctx: _Ctx) -> None:
    """Blocks in order; consecutive texts make one assistant message between the other items."""
    if isinstance(content, str):
        if content:
            items.append({"role": "assistant", "content": content})
        return
    texts: list[str] = []
    start = len(items)
    for block in content or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            if block.get("text"):
                texts.append(block["text"])
            continue
        if texts:
            items.append({"role": "assistant", "content": "\n\n".join(texts)})
            texts = []
        if kind == "tool_use":
            args = block.get("input")
            items.append({
                "type": "function_call",
                "call_id": ctx.tool_id(str(block.get("id") or "")),
                "name": ctx.name(str(block.get("name") or "")),
                "arguments": dumps(args if args is not None else {}).decode(),
            })
        elif kind == "thinking":
            _thinking(block, items, ctx)
        else:
            ctx.counts[f"dropped {kind} blocks"] += 1
    if texts:
        items.append({"role": "assistant", "content": "\n\n".join(texts)})
    _drop_trailing_reasoning(items, start, ctx)


def _drop_trailing_reasoning(items: list[JSON], start: int, ctx: _Ctx) -> None:
    """The service rejects a reasoning item without the output item it led to (a reply cut off
    while reasoning leaves one at the end of its turn): drop those."""
    while len(items) > start and items[-1].get("type") == "reasoning":
        items.pop()
        ctx.counts["dropped reasoning without a following item"] += 1


def _thinking(block: JSON, items: list[JSON], ctx: _Ctx) -> None:
    """A thinking block of ours goes back as its reasoning item (summary = the thinking text)."""
    carried = signature_decode(block.get("signature"))
    if carried is None or not ctx.reasoning:
        ctx.counts["dropped thinking blocks"] += 1
        return
    text = block.get("thinking")
    summary = [{"type": "summary_text", "text": text}] if isinstance(text, str) and text else []
    item: JSON = {"type": "reasoning", "summary": summary, "encrypted_content": carried["encrypted_content"]}
    if carried.get("id"):
        item = {"type": "reasoning", "id": carried["id"], **item}
    items.append(item)


def _user(content: Any, items: list[JSON], ctx: _Ctx) -> None:
    """Tool results first (as function_call_output items), then the other parts as one message."""
    if not isinstance(content, list):
        items.append({"role": "user", "content": content if isinstance(content, str) else ""})
        return
    parts: list[JSON] = []
    had_results = False
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_result":
            items.append(_tool_result(block, parts, ctx))
            had_results = True
        else:
            part = _part(block, ctx)
            if part is not None:
                parts.append(part)
    if parts or not had_results:
        items.append({"role": "user", "content": parts or ""})


def _tool_result(block: JSON, user_parts: list[JSON], ctx: _Ctx) -> JSON:
    text, images = tool_result_text(block, partial(_part, ctx=ctx), "input_text")
    output: str | list[JSON] = text
    if images and ctx.target.images_in_tool_results:
        output = ([{"type": "input_text", "text": text}] if text else []) + images
    elif images:
        user_parts.extend(images)
        ctx.counts["moved tool_result images to user message"] += len(images)
        output = text or MOVED_IMAGE_NOTE
    call_id = ctx.tool_id(str(block.get("tool_use_id") or ""))
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def _part(block: JSON, ctx: _Ctx) -> JSON | None:
    """A Responses input content part for one Anthropic user block (None: no equivalent)."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "input_text", "text": block.get("text") or ""}
    if kind == "image":
        return _image(block.get("source"), ctx)
    if kind == "document":
        return _document(block.get("source"), block, ctx)
    if isinstance(block.get("text"), str):
        return {"type": "input_text", "text": block["text"]}
    ctx.counts[f"dropped {kind} blocks"] += 1
    return None


def _image(source: Any, ctx: _Ctx) -> JSON | None:
    url = image_url_counted(source, ctx)
    return None if url is None else {"type": "input_image", "image_url": url, "detail": "auto"}


def _document(source: Any, block: JSON, ctx: _Ctx) -> JSON | None:
    """Text documents become text; base64 PDFs an ``input_file``; URLs a file_url."""
    if not isinstance(source, dict):
        return None
    kind = source.get("type")
    if kind == "text":
        return {"type": "input_text", "text": str(source.get("data") or "")}
    if kind == "base64":
        url, chars = data_url(source, "application/pdf")
        ctx.image_chars += chars
        ctx.images += 1
        return {"type": "input_file", "filename": block.get("title") or "document.pdf", "file_data": url}
    if kind == "url" and source.get("url"):
        return {"type": "input_file", "file_url": source["url"]}
    ctx.counts["dropped document sources"] += 1
    return None


# -- parameters, reasoning and tools --------------------------------------------------------------


def _params(body: JSON, out: JSON, ctx: _Ctx) -> None:
    target = ctx.target
    max_tokens = max_tokens_resolve(body, default=target.default_max_tokens, cap=target.max_tokens_cap,
                                    ledger=ctx.ledger)
    out["max_output_tokens"] = max_tokens
    for src, dst in PARAMS.items():
        if body.get(src) is not None:
            out[dst] = body[src]
    user = user_id(body, max_len=target.user_max_len, ledger=ctx.ledger)
    if user is not None:
        out["safety_identifier"] = user


def _reasoning(body: JSON, out: JSON, ctx: _Ctx) -> None:
    """thinking / output_config.effort -> reasoning {effort, summary}; encrypted items always
    requested from a reasoning target, since with store=false they are the only way back."""
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    thinking = body.get("thinking")
    thinking_on = isinstance(thinking, dict) and thinking.get("type") != "disabled"
    if not ctx.reasoning:
        if effort or thinking_on:
            ctx.ledger.append("dropped thinking (model does not reason)")
        return
    reasoning: JSON = {}
    budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
    if isinstance(effort, str) and effort in EFFORTS:
        reasoning["effort"] = EFFORTS[effort]
    elif isinstance(effort, str):
        ctx.ledger.append(f"dropped unknown effort {effort}")
    elif thinking_on and isinstance(budget, int):
        reasoning["effort"] = next((e for limit, e in BUDGET_EFFORTS if budget <= limit), "high")
    if thinking_on or effort:
        reasoning["summary"] = "auto"
    if reasoning:
        out["reasoning"] = reasoning
    out["include"] = [ENCRYPTED_REASONING]


def _text_format(body: JSON, out: JSON, ctx: _Ctx) -> None:
    """Structured outputs (Claude Code's session titles): output_config.format (or output_format)
    json_schema -> text.format, the Responses spelling of chat's response_format."""
    found = json_schema_format(body, ctx.ledger)
    if found is None:
        return
    name, schema = found
    out["text"] = {"format": {"type": "json_schema", "name": name, "schema": schema, "strict": True}}


def _tools(body: JSON, out: JSON, ctx: _Ctx) -> None:
    tools: list[JSON] = []
    found: set[str] = set()
    drop, flatten = ctx.target.schema_drop_keywords, ctx.target.schema_flatten_anyof
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict):
            continue
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            ctx.ledger.append(f"dropped unsupported tool {tool.get('type') or tool.get('name')}")
            continue
        if (drop or flatten) and needs_sanitizing(schema, drop, flatten):
            schema = sanitize_schema(schema, drop, flatten, found)
        entry: JSON = {"type": "function", "name": ctx.name(str(tool.get("name") or ""))}
        if tool.get("description"):
            entry["description"] = tool["description"]
        entry["parameters"] = schema
        entry["strict"] = False  # strict mode rejects the optional properties Claude Code's schemas have
        tools.append(entry)
    if found:
        ctx.ledger.append("sanitised tool schemas: " + ", ".join(sorted(found)))
    if tools:
        out["tools"] = tools
        _tool_choice(body.get("tool_choice"), out, ctx)
    elif body.get("tool_choice"):
        ctx.ledger.append("dropped tool_choice (no tools)")


def _tool_choice(choice: Any, out: JSON, ctx: _Ctx) -> None:
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "tool":
        name = ctx.name(str(choice.get("name") or ""))
        if any(t["name"] == name for t in out["tools"]):
            out["tool_choice"] = {"type": "function", "name": name}
        else:
            ctx.ledger.append(f"dropped tool_choice for unknown tool {choice.get('name')}")
    elif kind in TOOL_CHOICES:
        out["tool_choice"] = TOOL_CHOICES[kind]
    if choice.get("disable_parallel_tool_use") and kind != "none":
        out["parallel_tool_calls"] = False
