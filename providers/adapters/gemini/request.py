"""Anthropic Messages request -> Gemini ``generateContent`` request.

Gemini matches a functionResponse to its functionCall by name, so tool_result ids are resolved to
names through the tool_use blocks earlier in the same history (stateless: the history is the map).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from providers.adapters.base import JSON, ChatRequest, Target, UpstreamRequest
from providers.adapters.common import (
    billing_strip,
    json_schema_format,
    json_upstream,
    ledger_finish,
    max_tokens_resolve,
)
from providers.adapters.gemini.common import DUMMY_SIGNATURE, NEXT, OWN, PREV, sig_decode
from providers.adapters.gemini.schema import gemini_schema
from providers.adapters.openai_compat.common import tool_name
from providers.adapters.openai_compat.schema import FLATTENED

# Anthropic sampling parameter -> generationConfig field (simple renames)
PARAMS: dict[str, str] = {"temperature": "temperature", "top_p": "topP", "top_k": "topK"}
KNOWN_FIELDS = frozenset({
    "model", "messages", "system", "max_tokens", "tools", "tool_choice", "thinking", "metadata",
    "stream", "stop_sequences", "output_config", "output_format", *PARAMS,
})
TOOL_CHOICES: dict[str, str] = {"auto": "AUTO", "any": "ANY", "tool": "ANY", "none": "NONE"}
MAX_STOP_SEQUENCES = 5  # Gemini's limit
API_VERSIONS = ("/v1beta", "/v1", "/v1alpha")


@dataclass(slots=True)
class _Ctx:
    target: Target
    ledger: list[str] = field(default_factory=list)
    restore: dict[str, str] = field(default_factory=dict)   # upstream name -> original (renamed only)
    id_names: dict[str, str] = field(default_factory=dict)  # tool_use id -> upstream name
    counts: Counter[str] = field(default_factory=Counter)
    image_chars: int = 0
    images: int = 0

    def name(self, original: str) -> str:
        return tool_name(original, self.restore, self.ledger)


def versioned_base(base_url: str) -> str:
    """The base URL with an API version (``/v1beta`` unless it names one already)."""
    base = base_url.rstrip("/")
    return base if base.endswith(API_VERSIONS) else base + "/v1beta"


def upstream_url(target: Target, stream: bool) -> str:
    verb = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{versioned_base(target.base_url)}/models/{target.model}:{verb}"


def translate_request(req: ChatRequest, target: Target, url: str | None = None) -> UpstreamRequest:
    """``url``: where the body goes (the Developer API's ``upstream_url`` unless the adapter says)."""
    body = req.body
    ctx = _Ctx(target)
    system, contents = _contents(body, ctx)
    out: JSON = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    _tools(body, out, ctx)
    out["generationConfig"] = _generation_config(body, ctx)
    _response_format(body, out, ctx)
    out.update(target.extra_body)
    _finish_ledger(req, body, ctx)
    return json_upstream(out, url=upstream_url(target, req.stream) if url is None else url, body=body,
                         stream=req.stream, state=ctx, headers=target.headers)


def _finish_ledger(req: ChatRequest, body: JSON, ctx: _Ctx) -> None:
    ledger_finish(ledger=ctx.ledger, body=body, known=KNOWN_FIELDS, beta=req.beta, counts=ctx.counts)


# -- contents -------------------------------------------------------------------------------------


def _contents(body: JSON, ctx: _Ctx) -> tuple[list[str], list[JSON]]:
    """System texts (top-level, then system-role messages) and the user/model contents.

    Consecutive turns of one role are merged (Gemini wants them alternating); the tool turns of
    the current step get Google's stand-in signature where the history lost theirs.
    """
    system = _system_texts(body.get("system"), ctx)
    contents: list[JSON] = []
    for msg in body.get("messages") or ():
        if not isinstance(msg, dict):
            continue
        role = msg.get("role")
        if role == "system":
            system += _system_texts(msg.get("content"), ctx)
            continue
        parts = _model_parts(msg.get("content"), ctx) if role == "assistant" else _user_parts(msg.get("content"), ctx)
        if not parts:
            continue
        gemini_role = "model" if role == "assistant" else "user"
        if contents and contents[-1]["role"] == gemini_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": gemini_role, "parts": parts})
    _fill_signatures(contents, ctx)
    return system, contents


def _system_texts(system: Any, ctx: _Ctx) -> list[str]:
    if isinstance(system, str):
        texts = [system]
    elif isinstance(system, list):
        texts = [b["text"] for b in system if isinstance(b, dict) and isinstance(b.get("text"), str)]
    else:
        return []
    if ctx.target.drop_billing_header:
        texts = [billing_strip(t, ctx.ledger) for t in texts]
    return [t for t in texts if t]


def _model_parts(content: Any, ctx: _Ctx) -> list[JSON]:
    """Assistant blocks -> model parts, with each Gemini signature put back on its own part."""
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[JSON] = []
    pending: str | None = None  # a signature for the next non-thought part
    for block in content or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "thinking":
            pending = _thinking(block, parts, pending, ctx)
            continue
        if kind == "text" and block.get("text"):
            part: JSON = {"text": block["text"]}
        elif kind == "tool_use":
            name = ctx.name(str(block.get("name") or ""))
            ctx.id_names[str(block.get("id") or "")] = name
            args = block.get("input")
            part = {"functionCall": {"name": name, "args": args if isinstance(args, dict) else {}}}
        else:
            if kind != "text":
                ctx.counts[f"dropped {kind} blocks"] += 1
            continue
        if pending:
            part["thoughtSignature"], pending = pending, None
        parts.append(part)
    return parts


def _thinking(block: JSON, parts: list[JSON], pending: str | None, ctx: _Ctx) -> str | None:
    """One thinking block: a thought part and/or a signature for a neighbouring part."""
    decoded = sig_decode(block.get("signature"))
    text = block.get("thinking")
    if decoded is None:
        ctx.counts["dropped thinking blocks"] += 1  # another backend's reasoning: not Gemini's to read
        return pending
    where, signature = decoded
    if where == OWN:
        parts.append({"text": text or "", "thought": True, "thoughtSignature": signature})
        return pending
    if text:
        parts.append({"text": text, "thought": True})
    if where == NEXT:
        return signature
    previous = next((p for p in reversed(parts) if not p.get("thought")), None)
    if where == PREV and previous is not None and "thoughtSignature" not in previous:
        previous["thoughtSignature"] = signature
    return pending


def _fill_signatures(contents: list[JSON], ctx: _Ctx) -> None:
    """Gemini 3 rejects a tool step of the current turn whose first functionCall has no signature
    (history from another backend, or a client that dropped the thinking block). Where the current
    turn starts is blurred by the text Claude Code puts next to tool results, so every step lacking
    one gets Google's stand-in (older turns are not validated; the stand-in is harmless there)."""
    for content in contents:
        if content["role"] != "model":
            continue
        first = next((p for p in content["parts"] if "functionCall" in p), None)
        if first is not None and "thoughtSignature" not in first:
            first["thoughtSignature"] = DUMMY_SIGNATURE
            ctx.counts["stand-in thought signatures"] += 1


def _user_parts(content: Any, ctx: _Ctx) -> list[JSON]:
    """Function responses first (they answer the previous model turn), then the other parts."""
    if isinstance(content, str):
        return [{"text": content}] if content else []
    responses: list[JSON] = []
    parts: list[JSON] = []
    for block in content or ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_result":
            _tool_result(block, responses, parts, ctx)
        else:
            part = _part(block, ctx)
            if part is not None:
                parts.append(part)
    return responses + parts


def _tool_result(block: JSON, responses: list[JSON], parts: list[JSON], ctx: _Ctx) -> None:
    texts: list[str] = []
    content = block.get("content")
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for sub in content:
            part = _part(sub, ctx) if isinstance(sub, dict) else None
            if part is not None and "text" in part:
                texts.append(part["text"])
            elif part is not None:
                parts.append(part)  # images reach the model as parts next to the responses
    text = "\n".join(texts)
    tool_id = str(block.get("tool_use_id") or "")
    name = ctx.id_names.get(tool_id)
    if name is None:
        # Gemini refuses a functionResponse no earlier functionCall named: keep the result as text
        ctx.counts["tool results without a tool call, sent as text"] += 1
        parts.append({"text": f"[tool result {tool_id}]\n{text}"})
        return
    key = "error" if block.get("is_error") else "content"
    responses.append({"functionResponse": {"name": name, "response": {key: text}}})


def _part(block: JSON, ctx: _Ctx) -> JSON | None:
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return {"text": text} if text else None
    if kind in ("image", "document"):
        return _media(block, ctx)
    if isinstance(block.get("text"), str):
        return {"text": block["text"]}
    ctx.counts[f"dropped {kind} blocks"] += 1
    return None


def _media(block: JSON, ctx: _Ctx) -> JSON | None:
    """Base64 images and PDFs -> inlineData; text documents -> text; URLs -> fileData."""
    source = block.get("source")
    if not isinstance(source, dict):
        return None
    kind = source.get("type")
    if kind == "base64":
        data = str(source.get("data") or "")
        ctx.image_chars += len(data)
        ctx.images += 1
        default = "image/png" if block.get("type") == "image" else "application/pdf"
        return {"inlineData": {"mimeType": source.get("media_type") or default, "data": data}}
    if kind == "text":
        return {"text": str(source.get("data") or "")}
    if kind == "url" and source.get("url"):
        mime = "image/*" if block.get("type") == "image" else "application/pdf"
        return {"fileData": {"mimeType": mime, "fileUri": source["url"]}}
    ctx.counts[f"dropped {block.get('type')} sources"] += 1
    return None


# -- tools and generation config ------------------------------------------------------------------


def _tools(body: JSON, out: JSON, ctx: _Ctx) -> None:
    declarations: list[JSON] = []
    found: set[str] = set()
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict):
            continue
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            ctx.ledger.append(f"dropped unsupported tool {tool.get('type') or tool.get('name')}")
            continue
        declaration: JSON = {"name": ctx.name(str(tool.get("name") or ""))}
        if tool.get("description"):
            declaration["description"] = tool["description"]
        parameters = gemini_schema(schema, ctx.target.schema_drop_keywords, found)
        if parameters.get("properties"):  # Gemini rejects an OBJECT schema with empty properties
            declaration["parameters"] = parameters
        declarations.append(declaration)
    if found - {FLATTENED}:
        ctx.ledger.append("dropped schema keywords: " + ", ".join(sorted(found - {FLATTENED})))
    if FLATTENED in found:
        ctx.ledger.append("flattened anyOf in tool schemas")
    if declarations:
        out["tools"] = [{"functionDeclarations": declarations}]
        _tool_choice(body.get("tool_choice"), declarations, out, ctx)
    elif body.get("tool_choice"):
        ctx.ledger.append("dropped tool_choice (no tools)")


def _tool_choice(choice: Any, declarations: list[JSON], out: JSON, ctx: _Ctx) -> None:
    if not isinstance(choice, dict) or choice.get("type") not in TOOL_CHOICES:
        return
    config: JSON = {"mode": TOOL_CHOICES[choice["type"]]}
    if choice["type"] == "tool":
        name = ctx.name(str(choice.get("name") or ""))
        if not any(d["name"] == name for d in declarations):
            ctx.ledger.append(f"dropped tool_choice for unknown tool {choice.get('name')}")
            return
        config["allowedFunctionNames"] = [name]
    if choice.get("disable_parallel_tool_use"):
        ctx.ledger.append("dropped disable_parallel_tool_use")
    out["toolConfig"] = {"functionCallingConfig": config}


def _generation_config(body: JSON, ctx: _Ctx) -> JSON:
    target = ctx.target
    max_tokens = max_tokens_resolve(body, default=target.default_max_tokens, cap=target.max_tokens_cap,
                                    ledger=ctx.ledger)
    config: JSON = {"maxOutputTokens": max_tokens}
    for src, dst in PARAMS.items():
        if body.get(src) is not None:
            config[dst] = body[src]
    stops = body.get("stop_sequences")
    if isinstance(stops, list) and stops:
        if len(stops) > MAX_STOP_SEQUENCES:
            ctx.ledger.append(f"dropped stop sequences beyond {MAX_STOP_SEQUENCES}")
        config["stopSequences"] = stops[:MAX_STOP_SEQUENCES]
    thinking = _thinking_config(body.get("thinking"), max_tokens)
    if thinking:
        config["thinkingConfig"] = thinking
    return config


def _thinking_config(thinking: Any, max_tokens: int) -> JSON | None:
    """enabled -> a fixed budget (kept below maxOutputTokens, as Anthropic requires too);
    adaptive -> the model's dynamic budget (-1); both ask for thought summaries."""
    if not isinstance(thinking, dict):
        return None
    kind = thinking.get("type")
    budget = thinking.get("budget_tokens")
    if kind == "enabled" and isinstance(budget, int) and budget > 0:
        return {"thinkingBudget": min(budget, max(max_tokens - 1, 1)), "includeThoughts": True}
    if kind in ("enabled", "adaptive"):
        return {"thinkingBudget": -1, "includeThoughts": True}
    return None


def _response_format(body: JSON, out: JSON, ctx: _Ctx) -> None:
    """Structured output (output_config.format, or output_format) -> a JSON response schema.

    Not together with tools: Gemini 2.x refuses function calling with a JSON response type."""
    config = body.get("output_config")
    if isinstance(config, dict) and config.get("effort"):
        ctx.ledger.append("dropped output_config.effort")
    found_format = json_schema_format(body, ctx.ledger, refuse="tools" in out)
    if found_format is None:
        return
    schema = found_format[1]
    found: set[str] = set()
    out["generationConfig"]["responseMimeType"] = "application/json"
    out["generationConfig"]["responseSchema"] = gemini_schema(schema, ctx.target.schema_drop_keywords, found)
