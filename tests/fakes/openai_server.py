"""A fake OpenAI chat-completions upstream and builders for its bodies and stream chunks."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from tests.fakes.server import FakeServer, Recorded, Reply, chunk_text

Usage = tuple[int, int] | tuple[int, int, int] | None
ToolCall = tuple[str, str, str]  # (id, name, arguments as a JSON string)

DEFAULT_TEXT = "Hello from the fake OpenAI upstream."
_ids = itertools.count(1)


def _usage(usage: Usage) -> dict[str, Any] | None:
    if usage is None:
        return None
    prompt, completion, *rest = usage
    cached = rest[0] if rest else 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def _chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def _tail(cid: str, model: str, finish: str | None, usage: Usage) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if finish is not None:
        out.append(_chunk(cid, model, {}, finish))
    body = _usage(usage)
    if body is not None:
        out.append(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [],
                "usage": body,
            }
        )
    return out


def openai_text_chunks(
    text: str,
    model: str = "gpt-test",
    usage: Usage = (10, 5, 0),
    finish: str | None = "stop",
    pieces: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Role chunk, content pieces, a finish chunk, then a ``choices: []`` usage chunk."""
    cid = f"chatcmpl-fake{next(_ids)}"
    out = [_chunk(cid, model, {"role": "assistant", "content": ""})]
    out += [_chunk(cid, model, {"content": p}) for p in chunk_text(text, pieces)]
    return out + _tail(cid, model, finish, usage)


def openai_tool_call_chunks(
    calls: Sequence[ToolCall],
    model: str = "gpt-test",
    usage: Usage = (10, 5, 0),
    finish: str | None = "tool_calls",
    one_chunk: bool = False,
    text: str | None = None,
    arg_piece: int = 7,
) -> list[dict[str, Any]]:
    """Tool-call deltas as OpenAI streams them: the id and name first, then argument fragments.

    ``one_chunk`` sends each call's id, name and full arguments in a single delta (Gemini, vLLM);
    ``text`` puts content before the calls.
    """
    cid = f"chatcmpl-fake{next(_ids)}"
    out = [_chunk(cid, model, {"role": "assistant", "content": None if text is None else ""})]
    out += [_chunk(cid, model, {"content": p}) for p in chunk_text(text or "")]
    for index, (call_id, name, arguments) in enumerate(calls):
        head = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        if one_chunk:
            head["function"]["arguments"] = arguments
            out.append(_chunk(cid, model, {"tool_calls": [head]}))
            continue
        out.append(_chunk(cid, model, {"tool_calls": [head]}))
        for frag in chunk_text(arguments, size=arg_piece):
            out.append(_chunk(cid, model, {"tool_calls": [{"index": index, "function": {"arguments": frag}}]}))
    return out + _tail(cid, model, finish, usage)


def openai_completion(
    text: str | None = None,
    tool_calls: Sequence[ToolCall] | None = None,
    finish: str | None = None,
    usage: Usage = (10, 5, 0),
    model: str = "gpt-test",
) -> dict[str, Any]:
    """A non-stream chat.completion body; ``finish`` defaults to tool_calls/stop after the content."""
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if tool_calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in tool_calls
        ]
    body: dict[str, Any] = {
        "id": f"chatcmpl-fake{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish or ("tool_calls" if tool_calls else "stop"),
            }
        ],
    }
    usage_body = _usage(usage)
    if usage_body is not None:
        body["usage"] = usage_body
    return body


def openai_text_reply(rec: Recorded, text: str = DEFAULT_TEXT, model: str | None = None) -> Reply:
    """A text reply in the shape the request asked for (SSE when ``stream`` is true)."""
    body = rec.json if isinstance(rec.json, dict) else {}
    model = model or str(body.get("model") or "gpt-test")
    if rec.stream:
        return Reply.sse(openai_text_chunks(text, model=model))
    return Reply.json(openai_completion(text, model=model))


class FakeOpenAI(FakeServer):
    """OpenAI-compatible upstream: ``base_url`` ends in ``/v1``; POST /v1/chat/completions."""

    main_paths: ClassVar[tuple[str, ...]] = ("/v1/chat/completions", "/chat/completions")
    name: ClassVar[str] = "fake-openai"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def stream_tail(self, reply: Reply) -> bytes:
        return b"data: [DONE]\n\n" if reply.done is not False else b""

    def canned(self, rec: Recorded) -> Reply:
        return openai_text_reply(rec)

    def side_reply(self, rec: Recorded) -> Reply | None:
        if rec.method == "GET" and rec.path in ("/v1/models", "/models"):
            return Reply.json(
                {
                    "object": "list",
                    "data": [{"id": "gpt-test", "object": "model", "created": 0, "owned_by": "fake"}],
                }
            )
        return None

    def __enter__(self) -> FakeOpenAI:
        self.start()
        return self
