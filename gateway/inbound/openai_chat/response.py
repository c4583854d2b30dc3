"""Anthropic message or error -> OpenAI ``chat.completion`` or error body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.adapters.base import JSON, dumps, error_type_for, is_context_length_message, loads
from providers.adapters.openai_compat.response import RAW_ARGUMENTS

# Anthropic stop_reason -> OpenAI finish_reason (anything else ends the turn: "stop")
FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# Anthropic error type -> OpenAI (type, code)
ERROR_TYPES: dict[str, tuple[str, str | None]] = {
    "invalid_request_error": ("invalid_request_error", None),
    "authentication_error": ("invalid_request_error", "invalid_api_key"),
    "permission_error": ("permission_error", None),
    "not_found_error": ("invalid_request_error", "model_not_found"),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "billing_error": ("insufficient_quota", "insufficient_quota"),
    "rate_limit_error": ("rate_limit_error", "rate_limit_exceeded"),
    "timeout_error": ("server_error", "timeout"),
    "overloaded_error": ("server_error", "overloaded"),
    "api_error": ("server_error", None),
}
STATUSES: dict[int, int] = {529: 503}  # Anthropic-only statuses -> the nearest standard one


def obj(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one (upstream replies are not trusted)."""
    return value if isinstance(value, Mapping) else {}


def completion_id(message_id: Any) -> str:
    """``msg_X`` -> ``chatcmpl-X`` (ids that already came from an OpenAI backend stay as they were)."""
    rest = message_id.removeprefix("msg_") if isinstance(message_id, str) and message_id else "gateway"
    return rest if rest.startswith("chatcmpl-") else "chatcmpl-" + rest


def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def usage_to_openai(usage: Mapping[str, Any]) -> JSON:
    """Anthropic counts cached prompt tokens separately; OpenAI counts them inside prompt_tokens."""
    def count(name: str) -> int:
        value = usage.get(name)
        return value if isinstance(value, int) else 0

    cached = count("cache_read_input_tokens")
    prompt = count("input_tokens") + cached + count("cache_creation_input_tokens")
    completion = count("output_tokens")
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached}}


def from_anthropic(message: Mapping[str, Any], model: str, *, created: int = 0) -> JSON:
    """An Anthropic message -> a ``chat.completion`` (text joined, tool_use -> tool_calls,
    thinking -> reasoning_content). ``model`` is reported unless the message names one."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[JSON] = []
    content = message.get("content")
    for block in content if isinstance(content, list) else ():
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "thinking":
            thoughts.append(str(block.get("thinking") or ""))
        elif kind == "tool_use":
            calls.append(_tool_call(block))
    text = "".join(texts)
    reply: JSON = {"role": "assistant", "content": text or (None if calls else ""), "refusal": None}
    if calls:
        reply["tool_calls"] = calls
    if any(thoughts):
        reply["reasoning_content"] = "".join(thoughts)
    return {
        "id": completion_id(message.get("id")),
        "object": "chat.completion",
        "created": created,
        "model": str(message.get("model") or model),
        "choices": [{"index": 0, "message": reply, "logprobs": None,
                     "finish_reason": finish_reason(message.get("stop_reason"))}],
        "usage": usage_to_openai(obj(message.get("usage"))),
    }


def _tool_call(block: Mapping[str, Any]) -> JSON:
    arguments = block.get("input")
    if isinstance(arguments, dict) and set(arguments) == {RAW_ARGUMENTS}:
        text = str(arguments[RAW_ARGUMENTS])  # what the model wrote, not our wrapper around it
    else:
        text = json_text(arguments if arguments is not None else {})
    return {"id": str(block.get("id") or ""), "type": "function",
            "function": {"name": str(block.get("name") or ""), "arguments": text}}


def json_text(value: Any) -> str:
    return dumps(value).decode()


def openai_status(status: int) -> int:
    return STATUSES.get(status, status)


def error_to_openai(status: int, body: bytes | Mapping[str, Any]) -> JSON:
    """An Anthropic error body (bytes or decoded) -> ``{"error": {message, type, param, code}}``."""
    data: Any = body
    if isinstance(body, bytes | bytearray):
        try:
            data = loads(body)
        except ValueError:
            data = {"error": {"message": body.decode("utf-8", "replace")[:500]}}
    error = obj(obj(data).get("error"))
    message = str(error.get("message") or "upstream error")
    anthropic_type = str(error.get("type") or error_type_for(status))
    kind, code = ERROR_TYPES.get(anthropic_type, ("invalid_request_error" if status < 500 else "server_error", None))
    if kind == "invalid_request_error" and code is None and is_context_length_message(message):
        code = "context_length_exceeded"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
