"""Anthropic Messages request -> Bedrock ``Converse`` / ``ConverseStream`` request.

The model id is in the URL and streaming is the endpoint, so the body carries neither. Converse
requires a ``toolConfig`` whenever the history holds toolUse/toolResult blocks, alternating roles
starting with the user, and a toolResult only for a toolUse named earlier: the translation keeps
all three true (tool specs for names the history uses, merged turns, orphan results as text).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from providers.adapters.base import JSON, ChatRequest, Target, UpstreamRequest
from providers.adapters.bedrock_converse.common import (
    Family,
    base_model,
    family_of,
    output_limit,
    thinking_fields,
)
from providers.adapters.common import billing_strip, json_upstream, ledger_finish, max_tokens_resolve
from providers.adapters.openai_compat.common import tool_name

# Anthropic sampling parameter -> inferenceConfig field (simple renames)
PARAMS: dict[str, str] = {"temperature": "temperature", "top_p": "topP"}
KNOWN_FIELDS = frozenset({
    "model", "messages", "system", "max_tokens", "tools", "tool_choice", "thinking", "metadata",
    "stream", "stop_sequences", "top_k", *PARAMS,
})
IMAGE_FORMATS: dict[str, str] = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg",
                                 "image/gif": "gif", "image/webp": "webp"}
DOCUMENT_FORMATS: dict[str, str] = {"application/pdf": "pdf", "text/plain": "txt", "text/csv": "csv",
                                    "text/html": "html", "text/markdown": "md"}
EMPTY_RESULT = "(no output)"  # Converse refuses a blank text block; a tool may print nothing
EMPTY_SCHEMA: JSON = {"type": "object", "properties": {}}
ASSISTANT_KINDS = frozenset({"tool_use", "thinking", "redacted_thinking"})
TOOL_CHOICES: dict[str, str] = {"auto": "auto", "any": "any", "tool": "tool"}
CACHE_POINT: JSON = {"cachePoint": {"type": "default"}}
MAX_CACHE_POINTS = 4  # per request, as for Anthropic's cache_control breakpoints


@dataclass(slots=True)
class _Ctx:
    target: Target
    model: str  # the Bedrock model id
    family: Family
    ledger: list[str] = field(default_factory=list)
    restore: dict[str, str] = field(default_factory=dict)  # upstream name -> original (renamed only)
    tool_ids: set[str] = field(default_factory=set)       # toolUse ids seen so far in the history
    used_names: list[str] = field(default_factory=list)   # upstream names the history calls
    counts: Counter[str] = field(default_factory=Counter)
    image_chars: int = 0
    images: int = 0
    documents: int = 0
    cache_left: int = MAX_CACHE_POINTS

    def name(self, original: str) -> str:
        return tool_name(original, self.restore, self.ledger)


def model_id(target: Target) -> str:
    """``Target.model`` (or its ``model_map`` entry) with the cross-region prefix where it has none."""
    mapped = target.model_map.get(target.model) or target.model
    prefix = target.region_prefix.strip(".")
    if prefix and not mapped.startswith("arn:") and base_model(mapped) == mapped:
        mapped = f"{prefix}.{mapped}"
    return mapped


def upstream_url(target: Target, stream: bool) -> str:
    action = "converse-stream" if stream else "converse"
    return f"{target.base_url.rstrip('/')}/model/{quote(model_id(target), safe='')}/{action}"


def translate_request(req: ChatRequest, target: Target) -> UpstreamRequest:
    body = req.body
    model = model_id(target)
    ctx = _Ctx(target, model, family_of(model))
    system, messages = _messages(body, ctx)
    out: JSON = {"messages": messages}
    if system:
        out["system"] = system
    out["inferenceConfig"] = _inference_config(body, ctx)
    tool_config = _tool_config(body, ctx)
    if tool_config:
        out["toolConfig"] = tool_config
    extra = _additional_fields(body, out["inferenceConfig"]["maxTokens"], ctx)
    if extra:
        out["additionalModelRequestFields"] = extra
    out.update(target.extra_body)
    _finish_ledger(req, body, ctx)
    accept = "application/vnd.amazon.eventstream" if req.stream else "application/json"
    return json_upstream(out, url=upstream_url(target, req.stream), body=body, stream=req.stream, state=ctx,
                         headers={"accept": accept, **target.headers})


def _finish_ledger(req: ChatRequest, body: JSON, ctx: _Ctx) -> None:
    ledger_finish(ledger=ctx.ledger, body=body, known=KNOWN_FIELDS, beta=req.beta, counts=ctx.counts)


# -- messages -------------------------------------------------------------------------------------


def _messages(body: JSON, ctx: _Ctx) -> tuple[list[JSON], list[JSON]]:
    """System blocks (top level, then system-role messages) and alternating user/assistant turns."""
    system = _system_blocks(body.get("system"), ctx)
    messages: list[JSON] = []
    for msg in body.get("messages") or ():
        if not isinstance(msg, dict):
            continue
        role = msg.get("role")
        if role == "system":
            system += _system_blocks(msg.get("content"), ctx)
            continue
        role = "assistant" if role == "assistant" else "user"
        blocks = _blocks(msg.get("content"), role, ctx)
        if not blocks:
            continue
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})
    if messages and messages[0]["role"] != "user":
        ctx.ledger.append("added an opening user turn")
        messages.insert(0, {"role": "user", "content": [{"text": "."}]})
    return system, messages


def _system_blocks(system: Any, ctx: _Ctx) -> list[JSON]:
    if isinstance(system, str):
        system = [{"type": "text", "text": system}]
    if not isinstance(system, list):
        return []
    out: list[JSON] = []
    for block in system:
        if not isinstance(block, dict) or not isinstance(block.get("text"), str):
            continue
        text = block["text"]
        if ctx.target.drop_billing_header:
            text = billing_strip(text, ctx.ledger)
        if text.strip():
            out.append({"text": text})
            _cache_point(block, out, ctx)
    return out


def _cache_point(block: JSON, out: list[JSON], ctx: _Ctx) -> None:
    """A ``cachePoint`` after a block marked with ``cache_control``, where the family caches
    (Claude, Nova), up to the four a request may carry."""
    if not isinstance(block.get("cache_control"), dict):
        return
    if not ctx.family.cache_points:
        ctx.counts["dropped cache_control (no prompt caching for this model)"] += 1
    elif ctx.cache_left <= 0:
        ctx.counts["dropped cache_control beyond 4 cache points"] += 1
    else:
        ctx.cache_left -= 1
        out.append(dict(CACHE_POINT))


def _blocks(content: Any, role: str, ctx: _Ctx) -> list[JSON]:
    """Content blocks; a user turn's tool results first (they answer the previous assistant turn)."""
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []
    results: list[JSON] = []
    blocks: list[JSON] = []
    for block in content or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "tool_result" and role == "user":
            converted = _tool_result(block, ctx)
            into = results if "toolResult" in converted else blocks
            into.append(converted)
            _cache_point(block, into, ctx)
            continue
        converted_block = (_assistant_block(block, ctx) if role == "assistant" and kind in ASSISTANT_KINDS
                           else _part(block, ctx))
        if converted_block:
            blocks.append(converted_block)
            _cache_point(block, blocks, ctx)
    return results + blocks


def _assistant_block(block: JSON, ctx: _Ctx) -> JSON | None:
    """A tool_use or reasoning block of the model's own turn (None: dropped, counted)."""
    kind = block.get("type")
    if kind == "tool_use":
        name = ctx.name(str(block.get("name") or ""))
        tool_id = str(block.get("id") or "")
        ctx.tool_ids.add(tool_id)
        if name not in ctx.used_names:
            ctx.used_names.append(name)
        args = block.get("input")
        return {"toolUse": {"toolUseId": tool_id, "name": name, "input": args if isinstance(args, dict) else {}}}
    if kind == "thinking":
        return _reasoning(block, ctx)
    if kind == "redacted_thinking":
        if ctx.family.redacted_history and block.get("data"):
            return {"reasoningContent": {"redactedContent": str(block["data"])}}
        ctx.counts["dropped redacted_thinking blocks"] += 1
    return None


def _reasoning(block: JSON, ctx: _Ctx) -> JSON | None:
    text = block.get("thinking")
    if not ctx.family.reasoning_history or not isinstance(text, str) or not text:
        ctx.counts["dropped thinking blocks"] += 1
        return None
    reasoning: JSON = {"text": text}
    signature = block.get("signature")
    if isinstance(signature, str) and signature:
        reasoning["signature"] = signature
    return {"reasoningContent": {"reasoningText": reasoning}}


def _tool_result(block: JSON, ctx: _Ctx) -> JSON:
    content: list[JSON] = []
    raw = block.get("content")
    if isinstance(raw, str) and raw:
        content.append({"text": raw})
    elif isinstance(raw, list):
        for sub in raw:
            part = _part(sub, ctx) if isinstance(sub, dict) else None
            if part and ("text" in part or "image" in part or "document" in part):
                content.append(part)
    tool_id = str(block.get("tool_use_id") or "")
    if tool_id not in ctx.tool_ids:
        # Converse refuses a toolResult no earlier toolUse named: keep the result as text
        ctx.counts["tool results without a tool call, sent as text"] += 1
        texts = "\n".join(str(c["text"]) for c in content if "text" in c)
        return {"text": f"[tool result {tool_id}]\n{texts}"}
    if not content:
        content.append({"text": EMPTY_RESULT})
    result: JSON = {"toolUseId": tool_id, "content": content}
    if block.get("is_error"):
        result["status"] = "error"
    return {"toolResult": result}


def _part(block: JSON, ctx: _Ctx) -> JSON | None:
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return {"text": text} if isinstance(text, str) and text.strip() else None
    if kind in ("image", "document"):
        return _media(block, ctx)
    if kind in ("thinking", "redacted_thinking"):  # reasoning in a user turn: not the model's own
        ctx.counts[f"dropped {kind} blocks"] += 1
        return None
    if isinstance(block.get("text"), str) and block["text"].strip():
        return {"text": block["text"]}
    ctx.counts[f"dropped {kind} blocks"] += 1
    return None


def _media(block: JSON, ctx: _Ctx) -> JSON | None:
    """Base64 images and documents -> ``{format, source: {bytes}}``; text documents -> text."""
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "text" and isinstance(source, dict):
        return {"text": str(source.get("data") or "")} if source.get("data") else None
    if kind != "base64" or not isinstance(source, dict):
        ctx.counts[f"dropped {block.get('type')} sources ({kind})"] += 1  # Converse takes S3 locations only
        return None
    data = str(source.get("data") or "")
    media_type = str(source.get("media_type") or "")
    ctx.image_chars += len(data)
    ctx.images += 1
    if block.get("type") == "image":
        return {"image": {"format": IMAGE_FORMATS.get(media_type, "png"), "source": {"bytes": data}}}
    ctx.documents += 1  # Converse wants a name per document, unique within the request
    return {"document": {"format": DOCUMENT_FORMATS.get(media_type, "pdf"), "name": f"document-{ctx.documents}",
                         "source": {"bytes": data}}}


# -- tools, inference config, family fields -------------------------------------------------------


def _tool_config(body: JSON, ctx: _Ctx) -> JSON | None:
    """toolSpecs for the request's tools, plus bare specs for names only the history uses (Converse
    refuses toolUse/toolResult blocks without a toolConfig naming them)."""
    specs: list[JSON] = []
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict):
            continue
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            ctx.ledger.append(f"dropped unsupported tool {tool.get('type') or tool.get('name')}")
            continue
        spec: JSON = {"name": ctx.name(str(tool.get("name") or ""))}
        if tool.get("description"):
            spec["description"] = str(tool["description"])
        spec["inputSchema"] = {"json": schema}
        specs.append({"toolSpec": spec})
        _cache_point(tool, specs, ctx)
    declared = {s["toolSpec"]["name"] for s in specs if "toolSpec" in s}
    missing = [n for n in ctx.used_names if n not in declared]
    if missing:
        ctx.ledger.append("declared history-only tools: " + ", ".join(missing))
        specs += [{"toolSpec": {"name": n, "inputSchema": {"json": EMPTY_SCHEMA}}} for n in missing]
    if not specs:
        if body.get("tool_choice"):
            ctx.ledger.append("dropped tool_choice (no tools)")
        return None
    config: JSON = {"tools": specs}
    choice = _tool_choice(body.get("tool_choice"), declared, ctx)
    if choice:
        config["toolChoice"] = choice
    return config


def _tool_choice(choice: Any, declared: set[str], ctx: _Ctx) -> JSON | None:
    if not isinstance(choice, dict):
        return None
    kind = choice.get("type")
    if choice.get("disable_parallel_tool_use"):
        ctx.ledger.append("dropped disable_parallel_tool_use")
    if kind not in TOOL_CHOICES:
        if kind == "none":
            ctx.ledger.append("dropped tool_choice none (Converse has no such choice)")
        return None
    if kind != "tool":
        return {TOOL_CHOICES[kind]: {}}
    name = ctx.name(str(choice.get("name") or ""))
    if name not in declared:
        ctx.ledger.append(f"dropped tool_choice for unknown tool {choice.get('name')}")
        return None
    return {"tool": {"name": name}}


def _inference_config(body: JSON, ctx: _Ctx) -> JSON:
    target = ctx.target
    cap = target.max_tokens_cap or output_limit(ctx.model)  # the provider's cap, else the model's known limit
    max_tokens = max_tokens_resolve(body, default=target.default_max_tokens, cap=cap, ledger=ctx.ledger)
    config: JSON = {"maxTokens": max_tokens}
    for src, dst in PARAMS.items():
        if body.get(src) is not None:
            config[dst] = body[src]
    stops = body.get("stop_sequences")
    if isinstance(stops, list) and stops:
        config["stopSequences"] = [str(s) for s in stops]
    return config


def _additional_fields(body: JSON, max_tokens: int, ctx: _Ctx) -> JSON:
    """Family-specific fields: extended thinking and top_k where the family takes them."""
    extra: JSON = {}
    thinking = body.get("thinking")
    fields = thinking_fields(ctx.family, thinking, max_tokens)
    if fields:
        extra.update(fields)
    elif isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        ctx.ledger.append("dropped thinking (this model family takes no thinking field)")
    top_k = body.get("top_k")
    if top_k is not None and ctx.family.top_k:
        extra[ctx.family.top_k] = top_k
    elif top_k is not None:
        ctx.ledger.append("dropped top_k")
    return extra
