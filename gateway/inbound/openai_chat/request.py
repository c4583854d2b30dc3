"""OpenAI chat-completions request -> Anthropic Messages request.

Request fields with no Anthropic counterpart (seed, penalties, logprobs, response_format, store,
service_tier...) are ignored rather than refused, so existing OpenAI tools work unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.adapters.base import JSON
from providers.adapters.openai_compat.response import parse_arguments

DEFAULT_MAX_TOKENS = 4096
EMPTY_SCHEMA: JSON = {"type": "object", "properties": {}}

# OpenAI sampling parameter -> Anthropic parameter (simple renames)
PARAMS: dict[str, str] = {"temperature": "temperature", "top_p": "top_p"}
TOOL_CHOICES: dict[str, str] = {"auto": "auto", "required": "any", "none": "none"}
# reasoning_effort -> output_config.effort; "none" turns thinking off instead
EFFORTS: dict[str, str] = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "max"}
# effort -> thinking.budget_tokens (at most half of max_tokens; no thinking below Anthropic's 1024);
# with the default max_tokens added on top, every total stays under current Claude output limits
THINKING_BUDGETS: dict[str, int] = {"low": 2048, "medium": 8192, "high": 16384, "max": 24576}
THINKING_MIN_BUDGET = 1024


class InboundError(ValueError):
    """The request cannot be expressed as an Anthropic request: a 400 for the client."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def body(self) -> JSON:
        return {"error": {"message": self.message, "type": "invalid_request_error", "param": self.param,
                          "code": None}}



def to_anthropic(body: Mapping[str, Any], *, default_max_tokens: int = DEFAULT_MAX_TOKENS) -> JSON:
    """Steps: check model/messages/n -> messages (system lifted out) -> limits and sampling ->
    tools and tool_choice -> user -> reasoning. Raises InboundError for what cannot be sent."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InboundError("you must provide a model parameter", "model")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise InboundError("messages must be a non-empty list", "messages")
    if body.get("n") not in (None, 1):
        raise InboundError("n > 1 is not supported by this gateway", "n")
    system, messages = _messages(raw_messages)
    out: JSON = {"model": model, "max_tokens": _max_tokens(body, default_max_tokens), "messages": messages}
    if system:
        out["system"] = system
    for name, target in PARAMS.items():
        if body.get(name) is not None:
            out[target] = body[name]
    stop = _stop(body.get("stop"))
    if stop:
        out["stop_sequences"] = stop
    if body.get("stream"):
        out["stream"] = True
    _tools(body, out)
    user = body.get("user") or body.get("safety_identifier")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    explicit_max = body.get("max_tokens") is not None or body.get("max_completion_tokens") is not None
    _reasoning(body, out, explicit_max=explicit_max)
    return out


def _max_tokens(body: Mapping[str, Any], default: int) -> int:
    for name in ("max_completion_tokens", "max_tokens"):  # the newer name wins
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InboundError(f"{name} must be a positive integer", name)
        return value
    return default


def _stop(stop: Any) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop] if stop else []
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return [s for s in stop if s]
    raise InboundError("stop must be a string or a list of strings", "stop")


def _messages(messages: list[Any]) -> tuple[list[JSON], list[JSON]]:
    """(system blocks, Anthropic messages). System and developer messages are lifted out in
    order; runs of same-role messages merge, so tool results and a following user text become
    one user message with the tool_result blocks first."""
    system: list[JSON] = []
    out: list[JSON] = []
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("system", "developer"):
            system.extend(_text_blocks(message.get("content"), f"{where}.content"))
        elif role == "user":
            _push(out, "user", _user_content(message.get("content"), f"{where}.content"))
        elif role == "assistant":
            blocks = _assistant_blocks(message, where)
            if blocks:  # an empty assistant turn is dropped: Anthropic refuses empty content
                _push(out, "assistant", blocks)
        elif role == "tool":
            _push(out, "user", [_tool_result(message, where)])
        else:
            raise InboundError(f"{where}.role must be system, developer, user, assistant or tool", where)
    return system, out


def _push(out: list[JSON], role: str, content: str | list[JSON]) -> None:
    if out and out[-1]["role"] == role:
        out[-1]["content"] = _as_blocks(out[-1]["content"]) + _as_blocks(content)
    else:
        out.append({"role": role, "content": content})


def _as_blocks(content: str | list[JSON]) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content


def _text_blocks(content: Any, where: str) -> list[JSON]:
    """Text-only content (system, developer, tool): a string or a list of text parts."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise InboundError(f"{where} must be a string or a list of text parts", where)
    blocks: list[JSON] = []
    for i, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in ("text", "refusal"):
            raise InboundError(f"{where}.{i} must be a text part", f"{where}.{i}")
        text = part.get("text") if part["type"] == "text" else part.get("refusal")
        if isinstance(text, str) and text:
            blocks.append({"type": "text", "text": text})
    return blocks


def _user_content(content: Any, where: str) -> str | list[JSON]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InboundError(f"{where} must be a string or a list of content parts", where)
    blocks: list[JSON] = []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": str(part["text"])})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url"), f"{where}.{i}"))
        elif kind == "file":
            blocks.append(_document(part.get("file"), f"{where}.{i}"))
        else:
            raise InboundError(f"{where}.{i}: content part type {kind!r} is not supported", f"{where}.{i}")
    return blocks


def _data_url(url: str, where: str) -> tuple[str, str]:
    """``data:<media type>;base64,<data>`` -> (media type, data)."""
    header, sep, data = url.removeprefix("data:").partition(",")
    media_type, *params = header.split(";")
    if not sep or "base64" not in params or not media_type or not data:
        raise InboundError(f"{where}: data URLs must look like data:<media type>;base64,<data>", where)
    return media_type, data


def _image(spec: Any, where: str) -> JSON:
    url = spec.get("url") if isinstance(spec, dict) else spec
    if isinstance(url, str) and url.startswith("data:"):
        media_type, data = _data_url(url, where)
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InboundError(f"{where}: image_url.url must be an http(s) or base64 data URL", where)


def _document(spec: Any, where: str) -> JSON:
    data_url = spec.get("file_data") if isinstance(spec, dict) else None
    if not isinstance(data_url, str) or not data_url.startswith("data:"):
        raise InboundError(f"{where}: file parts need file_data as a base64 data URL (file_id is not "
                           "supported)", where)
    media_type, data = _data_url(data_url, where)
    if media_type != "application/pdf":
        raise InboundError(f"{where}: only PDF files are supported, not {media_type}", where)
    block: JSON = {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if isinstance(spec.get("filename"), str) and spec["filename"]:
        block["title"] = spec["filename"]
    return block


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[JSON]:
    content = message.get("content")
    blocks = [] if content is None else _text_blocks(content, f"{where}.content")
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise InboundError(f"{where}.tool_calls must be a list", f"{where}.tool_calls")
    for i, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not function.get("name") or not call.get("id"):
            raise InboundError(f"{where}.tool_calls.{i} needs an id and a function name", f"{where}.tool_calls.{i}")
        blocks.append({"type": "tool_use", "id": str(call["id"]), "name": str(function["name"]),
                       "input": parse_arguments(function.get("arguments"))})
    return blocks


def _tool_result(message: Mapping[str, Any], where: str) -> JSON:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise InboundError(f"{where}.tool_call_id is required", f"{where}.tool_call_id")
    content = message.get("content")
    result: str | list[JSON] = content if isinstance(content, str) else _text_blocks(content, f"{where}.content")
    return {"type": "tool_result", "tool_use_id": call_id, "content": result}


def _tools(body: Mapping[str, Any], out: JSON) -> None:
    """tools -> Anthropic tools; tool_choice and parallel_tool_calls -> tool_choice (only with
    tools: Anthropic refuses a tool_choice without them)."""
    raw = body.get("tools") or []
    if not isinstance(raw, list):
        raise InboundError("tools must be a list", "tools")
    tools: list[JSON] = []
    for i, tool in enumerate(raw):
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict) or not function.get("name"):
            raise InboundError(f"tools.{i}: only function tools with a name are supported", f"tools.{i}")
        params = function.get("parameters")
        entry: JSON = {"name": str(function["name"]), "input_schema": params if isinstance(params, dict) else EMPTY_SCHEMA}
        if function.get("description"):
            entry["description"] = str(function["description"])
        tools.append(entry)
    if not tools:
        return
    out["tools"] = tools
    choice = _tool_choice(body.get("tool_choice"))
    if body.get("parallel_tool_calls") is False and (choice is None or choice["type"] != "none"):
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if choice is not None:
        out["tool_choice"] = choice


def _tool_choice(choice: Any) -> JSON | None:
    if choice is None:
        return None
    if isinstance(choice, str) and choice in TOOL_CHOICES:
        return {"type": TOOL_CHOICES[choice]}
    function = choice.get("function") if isinstance(choice, dict) and choice.get("type") == "function" else None
    if isinstance(function, dict) and function.get("name"):
        return {"type": "tool", "name": str(function["name"])}
    raise InboundError("tool_choice must be auto, required, none or a function choice", "tool_choice")


def _reasoning(body: Mapping[str, Any], out: JSON, *, explicit_max: bool) -> None:
    """reasoning_effort -> output_config.effort, plus a thinking budget where Anthropic allows one.

    Thinking is left off when it would be refused: with temperature/top_p set, a forced tool, or
    a tool loop in progress (Anthropic wants the signed thinking block of the last assistant turn
    back, which OpenAI clients cannot send). Without an explicit limit, max_tokens grows by the
    budget so the answer keeps its room."""
    effort = body.get("reasoning_effort")
    if effort is None:
        return
    if effort == "none":
        out["thinking"] = {"type": "disabled"}
        return
    if not isinstance(effort, str) or effort not in EFFORTS:
        raise InboundError("reasoning_effort must be none, minimal, low, medium, high or xhigh", "reasoning_effort")
    mapped = EFFORTS[effort]
    out["output_config"] = {"effort": mapped}
    forced = out.get("tool_choice", {}).get("type") in ("any", "tool")
    if forced or "temperature" in out or "top_p" in out or _in_tool_loop(out["messages"]):
        return
    budget = THINKING_BUDGETS[mapped]
    if explicit_max:
        budget = min(budget, out["max_tokens"] // 2)
    else:
        out["max_tokens"] += budget
    if budget >= THINKING_MIN_BUDGET:
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}


def _in_tool_loop(messages: list[JSON]) -> bool:
    last = next((m for m in reversed(messages) if m["role"] == "assistant"), None)
    content = last["content"] if last else ""
    return isinstance(content, list) and any(b.get("type") == "tool_use" for b in content)
