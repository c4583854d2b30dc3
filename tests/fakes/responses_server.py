"""A fake OpenAI Responses upstream (``POST /v1/responses``) that checks requests as strictly as
the real service, and builders for its response objects and stream events.

Strictness (each answered with the real service's 400 shape, ``invalid_request_error``): unknown
top-level fields (so chat-completions fields such as ``messages``, ``max_tokens``, ``stop`` or
``stream_options.include_usage`` fail), chat-shaped ``tools`` / ``tool_choice``, content part types
from chat completions, a ``function_call_output`` without an earlier ``function_call`` of the same
``call_id``, and a reasoning item without ``encrypted_content`` when ``store`` is false.

    with FakeResponses() as up:
        up.enqueue_output([responses_message("hi")])      # SSE or JSON, after the request's stream flag
        ...
        assert up.rejections == []
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

from tests.fakes.server import Chunk, FakeServer, Recorded, Reply, chunk_text

JSON = dict[str, Any]
Usage = tuple[int, int] | tuple[int, int, int]

TOP_LEVEL = frozenset({
    "model", "input", "instructions", "max_output_tokens", "temperature", "top_p", "tools", "tool_choice",
    "parallel_tool_calls", "reasoning", "include", "store", "stream", "stream_options", "safety_identifier",
    "user", "metadata", "text", "truncation", "previous_response_id", "prompt_cache_key", "service_tier",
    "top_logprobs", "background", "max_tool_calls", "conversation", "prompt",
})
INCLUDES = frozenset({"reasoning.encrypted_content", "message.output_text.logprobs", "file_search_call.results",
                      "web_search_call.action.sources", "message.input_image.image_url",
                      "computer_call_output.output.image_url", "code_interpreter_call.outputs"})
PART_TYPES = {"user": {"input_text", "input_image", "input_file"}, "system": {"input_text"},
              "developer": {"input_text"}, "assistant": {"output_text", "refusal"}}
EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
SUMMARIES = frozenset({"auto", "concise", "detailed"})
_ids = itertools.count(1)


class Rejected(Exception):
    def __init__(self, message: str, param: str | None = None, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def validate(body: Any) -> None:
    """Raise Rejected for what the real /v1/responses refuses (a practical subset)."""
    if not isinstance(body, dict):
        raise Rejected("We could not parse the JSON body of your request.", code="invalid_json")
    for key in body:
        if key not in TOP_LEVEL:
            raise Rejected(f"Unknown parameter: '{key}'.", key, "unknown_parameter")
    if not isinstance(body.get("model"), str):
        raise Rejected("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    for key in body.get("stream_options") or {}:
        if key != "include_obfuscation":
            raise Rejected(f"Unknown parameter: 'stream_options.{key}'.", f"stream_options.{key}", "unknown_parameter")
    tokens = body.get("max_output_tokens")
    if tokens is not None and (not isinstance(tokens, int) or tokens < 16):
        raise Rejected(f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, "
                       f"but got {tokens} instead.", "max_output_tokens", "integer_below_min_value")
    for value in body.get("include") or ():
        if value not in INCLUDES:
            raise Rejected(f"Invalid value: '{value}'.", "include")
    _validate_reasoning(body.get("reasoning"))
    _validate_text(body.get("text"))
    names = _validate_tools(body.get("tools"))
    _validate_tool_choice(body.get("tool_choice"), names)
    _validate_input(body.get("input"), store=body.get("store", True) is not False)


def _validate_reasoning(reasoning: Any) -> None:
    if reasoning is None:
        return
    if not isinstance(reasoning, dict) or set(reasoning) - {"effort", "summary", "generate_summary"}:
        raise Rejected("Invalid 'reasoning'.", "reasoning")
    if "effort" in reasoning and reasoning["effort"] not in EFFORTS:
        raise Rejected(f"Invalid value: '{reasoning['effort']}'.", "reasoning.effort")
    if "summary" in reasoning and reasoning["summary"] not in SUMMARIES:
        raise Rejected(f"Invalid value: '{reasoning['summary']}'.", "reasoning.summary")


def _validate_text(text: Any) -> None:
    if text is None:
        return
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_schema", "json_object"):
        raise Rejected("Invalid value for 'text.format.type'.", "text.format.type")
    if fmt["type"] == "json_schema" and not (isinstance(fmt.get("name"), str) and isinstance(fmt.get("schema"), dict)):
        raise Rejected("Missing required parameter: 'text.format.name'.", "text.format.name",
                       "missing_required_parameter")


def _validate_tools(tools: Any) -> set[str]:
    names: set[str] = set()
    for i, tool in enumerate(tools or ()):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise Rejected(f"Invalid value for 'tools[{i}].type'.", f"tools[{i}].type")
        if "function" in tool or not isinstance(tool.get("name"), str):  # the chat-completions shape
            raise Rejected(f"Missing required parameter: 'tools[{i}].name'.", f"tools[{i}].name",
                           "missing_required_parameter")
        if set(tool) - {"type", "name", "description", "parameters", "strict"}:
            raise Rejected(f"Unknown parameter: 'tools[{i}].{sorted(set(tool) - {'type'})[0]}'.", f"tools[{i}]",
                           "unknown_parameter")
        names.add(tool["name"])
    return names


def _validate_tool_choice(choice: Any, names: set[str]) -> None:
    if choice is None or choice in ("auto", "none", "required"):
        return
    if not isinstance(choice, dict) or choice.get("type") != "function" or "function" in choice:
        raise Rejected("Missing required parameter: 'tool_choice.name'.", "tool_choice.name",
                       "missing_required_parameter")
    if choice.get("name") not in names:
        raise Rejected(f"Tool choice '{choice.get('name')}' not found in 'tools' parameter.", "tool_choice")


def _validate_input(items: Any, *, store: bool) -> None:
    if isinstance(items, str):
        return
    if not isinstance(items, list):
        raise Rejected("Missing required parameter: 'input'.", "input", "missing_required_parameter")
    calls: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise Rejected(f"Invalid type for 'input[{i}]'.", f"input[{i}]", "invalid_type")
        kind = item.get("type", "message")
        if kind == "reasoning" and not _followed_by_output(items, i):
            raise Rejected(f"Item '{item.get('id')}' of type 'reasoning' was provided without its required "
                           "following item.", "input")
        if kind == "message":
            _validate_message(item, i)
        elif kind == "function_call":
            if not all(isinstance(item.get(k), str) for k in ("call_id", "name", "arguments")):
                raise Rejected(f"Missing required parameter: 'input[{i}].call_id'.", f"input[{i}]",
                               "missing_required_parameter")
            calls.add(item["call_id"])
        elif kind == "function_call_output":
            if item.get("call_id") not in calls:
                raise Rejected(f"No tool call found for function call output with call_id {item.get('call_id')}.",
                               "input")
            if not isinstance(item.get("output"), str | list):
                raise Rejected(f"Invalid type for 'input[{i}].output'.", f"input[{i}].output", "invalid_type")
        elif kind == "reasoning":
            _validate_reasoning_item(item, i, store=store)
        else:
            raise Rejected(f"Invalid value: '{kind}'.", f"input[{i}].type")


def _followed_by_output(items: list[Any], i: int) -> bool:
    """A reasoning item must lead to what the model produced: a call or an assistant message."""
    nxt = items[i + 1] if i + 1 < len(items) else None
    if not isinstance(nxt, dict):
        return False
    kind = nxt.get("type", "message")
    return kind in ("function_call", "reasoning") or (kind == "message" and nxt.get("role") == "assistant")


def _validate_message(item: JSON, i: int) -> None:
    role = item.get("role")
    if role not in PART_TYPES:
        raise Rejected(f"Invalid value: '{role}'. Supported values are: 'assistant', 'system', 'developer', "
                       "and 'user'.", f"input[{i}].role")
    content = item.get("content")
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise Rejected(f"Invalid type for 'input[{i}].content'.", f"input[{i}].content", "invalid_type")
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in PART_TYPES[role]:
            raise Rejected(f"Invalid value: '{kind}'. Supported values are: "
                           + ", ".join(f"'{t}'" for t in sorted(PART_TYPES[role])) + ".",
                           f"input[{i}].content[{j}].type")
        if kind == "input_image" and not (part.get("image_url") or part.get("file_id")):
            raise Rejected("Missing required parameter: 'image_url'.", f"input[{i}].content[{j}]",
                           "missing_required_parameter")


def _validate_reasoning_item(item: JSON, i: int, *, store: bool) -> None:
    if not isinstance(item.get("summary"), list):
        raise Rejected(f"Missing required parameter: 'input[{i}].summary'.", f"input[{i}].summary",
                       "missing_required_parameter")
    if "id" in item and not str(item["id"]).startswith("rs_"):
        raise Rejected(f"Invalid 'input[{i}].id': expected an ID that begins with 'rs'.", f"input[{i}].id")
    if not store and not item.get("encrypted_content"):
        raise Rejected(f"Item with id '{item.get('id')}' not found. Items are not persisted when `store` is set "
                       "to false.", "input")


# --- builders --------------------------------------------------------------------------------------


def responses_message(text: str) -> JSON:
    return {"id": f"msg_fake{next(_ids)}", "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}


def responses_function_call(call_id: str, name: str, arguments: str) -> JSON:
    return {"id": f"fc_fake{next(_ids)}", "type": "function_call", "status": "completed", "call_id": call_id,
            "name": name, "arguments": arguments}


def responses_reasoning(summary: Sequence[str], encrypted: str = "gAAAAABfakeEncryptedReasoning==") -> JSON:
    return {"id": f"rs_fake{next(_ids)}", "type": "reasoning", "encrypted_content": encrypted,
            "summary": [{"type": "summary_text", "text": t} for t in summary]}


def _usage(usage: Usage) -> JSON:
    prompt, completion, *rest = usage
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": rest[0] if rest else 0},
            "output_tokens": completion, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + completion}


def response_object(output: Sequence[JSON], usage: Usage | None = (10, 5, 0), status: str = "completed",
                    incomplete_reason: str | None = None, model: str = "gpt-5-codex", rid: str | None = None) -> JSON:
    return {"id": rid or f"resp_fake{next(_ids)}", "object": "response", "created_at": 1764590000, "status": status,
            "error": None, "model": model, "output": list(output), "store": False,
            "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
            "usage": _usage(usage) if usage is not None else None}


def responses_events(output: Sequence[JSON], usage: Usage | None = (10, 5, 0), status: str = "completed",
                     incomplete_reason: str | None = None, model: str = "gpt-5-codex") -> list[JSON]:
    """The event sequence the service streams for ``output``: created, per item added / deltas /
    done (text in 4-character deltas, arguments in 7-character ones), then completed/incomplete."""
    final = response_object(output, usage, status, incomplete_reason, model)
    start = {**final, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
    events: list[JSON] = [{"type": "response.created", "response": start},
                          {"type": "response.in_progress", "response": start}]
    for index, item in enumerate(output):
        events += _item_events(index, item)
    events.append({"type": "response.completed" if status == "completed" else f"response.{status}", "response": final})
    return [{**e, "sequence_number": n} for n, e in enumerate(events)]


def _item_events(index: int, item: JSON) -> list[JSON]:
    base = {"item_id": item["id"], "output_index": index}
    kind = item["type"]
    if kind == "message":
        text = "".join(p.get("text", "") for p in item["content"])
        head = {**item, "status": "in_progress", "content": []}
        middle = [{"type": "response.output_text.delta", **base, "content_index": 0, "delta": d}
                  for d in chunk_text(text)]
        middle.append({"type": "response.output_text.done", **base, "content_index": 0, "text": text})
    elif kind == "function_call":
        head = {**item, "status": "in_progress", "arguments": ""}
        middle = [{"type": "response.function_call_arguments.delta", **base, "delta": d}
                  for d in chunk_text(item["arguments"], size=7)]
        middle.append({"type": "response.function_call_arguments.done", **base, "arguments": item["arguments"]})
    else:  # reasoning
        head = {"id": item["id"], "type": "reasoning", "summary": []}
        middle = []
        for n, part in enumerate(item["summary"]):
            middle.append({"type": "response.reasoning_summary_part.added", **base, "summary_index": n,
                           "part": {"type": "summary_text", "text": ""}})
            middle += [{"type": "response.reasoning_summary_text.delta", **base, "summary_index": n, "delta": d}
                       for d in chunk_text(part["text"])]
            middle.append({"type": "response.reasoning_summary_text.done", **base, "summary_index": n,
                           "text": part["text"]})
    return [{"type": "response.output_item.added", "output_index": index, "item": head}, *middle,
            {"type": "response.output_item.done", "output_index": index, "item": item}]


def responses_reply(rec: Recorded, output: Sequence[JSON], usage: Usage | None = (10, 5, 0), **kw: Any) -> Reply:
    """``output`` as the request asked for it: an event stream when ``stream`` is true, else JSON."""
    if rec.stream:
        return Reply.sse(responses_events(output, usage, **kw))
    return Reply.json(response_object(output, usage, **kw))


class FakeResponses(FakeServer):
    """OpenAI Responses upstream: ``base_url`` ends in ``/v1``; POST /v1/responses, checked strictly."""

    main_paths: ClassVar[tuple[str, ...]] = ("/v1/responses", "/responses")
    name: ClassVar[str] = "fake-responses"

    def __init__(self) -> None:
        super().__init__()
        self.rejections: list[JSON] = []  # 400 bodies sent for invalid requests
        self._outputs: list[tuple[Sequence[JSON], Usage | None, dict[str, Any]]] = []
        self._outputs_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def enqueue_output(self, output: Sequence[JSON], usage: Usage | None = (10, 5, 0), **kw: Any) -> None:
        """Answer the next valid main request with ``output`` (streamed or not, as it asks)."""
        with self._outputs_lock:
            self._outputs.append((output, usage, kw))

    def encode_event(self, chunk: Chunk) -> bytes:
        if isinstance(chunk, dict):
            data = json.dumps(chunk, ensure_ascii=False, separators=(",", ":")).encode()
            return b"event: " + str(chunk.get("type", "message")).encode() + b"\ndata: " + data + b"\n\n"
        return super().encode_event(chunk)

    def canned(self, rec: Recorded) -> Reply:
        with self._outputs_lock:
            queued = self._outputs.pop(0) if self._outputs else None
        if queued is None:
            body = rec.json if isinstance(rec.json, dict) else {}
            structured = ((body.get("text") or {}).get("format") or {}).get("type") == "json_schema"
            text = json.dumps({"title": "Fake session"}) if structured else "Hello from the fake Responses upstream."
            return responses_reply(rec, [responses_message(text)])
        output, usage, kw = queued
        return responses_reply(rec, output, usage, **kw)

    def side_reply(self, rec: Recorded) -> Reply | None:
        if rec.method == "GET" and rec.path in ("/v1/models", "/models"):
            return Reply.json({"object": "list", "data": [{"id": "gpt-5-codex", "object": "model", "owned_by": "fake"}]})
        return None

    def _choose(self, rec: Recorded) -> Reply:
        # strictness comes first: an invalid request never reaches a queued reply
        if self.is_main(rec.path) and rec.method == "POST":
            try:
                validate(rec.json)
            except Rejected as exc:
                self.rejections.append(exc.body)
                return Reply.error(400, exc.body)
        return super()._choose(rec)

    def __enter__(self) -> FakeResponses:
        self.start()
        return self
