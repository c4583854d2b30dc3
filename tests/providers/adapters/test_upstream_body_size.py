"""Every kind's upstream body lives until its response has ended: it is held in a buffer of its own
size (orjson returns its output in the buffer it reserved, several times longer)."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

import pytest

from providers.adapters import REGISTRY
from providers.adapters.base import ChatRequest, Target, body_dumps, dumps

# A Claude-Code-like body: a system prompt, tools with schemas, a history with tool use.
BODY = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 4096,
    "stream": True,
    "system": [{"type": "text", "text": "You are Claude Code. " * 400}],
    "tools": [{"name": f"tool_{i}", "description": "does a thing " * 30,
               "input_schema": {"type": "object", "properties": {"path": {"type": "string"}, "n": {"type": "integer"}},
                                "required": ["path"]}} for i in range(20)],
    "messages": [
        {"role": "user", "content": "Fix the failing test in the router. " * 100},
        {"role": "assistant", "content": [{"type": "text", "text": "Reading it. " * 50},
                                          {"type": "tool_use", "id": "toolu_01", "name": "tool_1", "input": {"path": "a.py"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "def f():\n    pass\n" * 300}]},
    ],
}
T = TypeVar("T")
TARGETS = {
    "anthropic": {"model": "claude-opus-4-1"},  # a model change: the body is written again
    "vertex": {"model": "claude-sonnet-4-5", "project": "proj-1", "region": "us-east5"},
    "gemini_vertex": {"model": "gemini-2.5-pro", "project": "proj-1", "region": "us-central1"},
}


def _held(make: Callable[[], T]) -> tuple[T, int]:
    """(the object ``make()`` returns, the bytes of traced memory it keeps once made)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        made = make()
        gc.collect()
        return made, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_body_dumps_writes_what_dumps_writes_in_a_buffer_of_its_size() -> None:
    raw, held = _held(lambda: body_dumps(BODY))
    assert raw == dumps(BODY)
    # tracemalloc sees every thread's allocations (xdist's execnet thread too): a few KB of slack,
    # far below the reserve it saves (more than the body's own length)
    assert held < len(raw) + 4096, (held, len(raw))
    _, stock = _held(lambda: dumps(BODY))
    assert stock > 2 * len(raw)  # what it saves (orjson 3.12+); if orjson trims one day, this says so


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_each_kinds_upstream_body_is_held_in_a_buffer_of_its_size(kind: str) -> None:
    adapter = REGISTRY[kind]
    target = Target(kind=kind, base_url="http://127.0.0.1:9", **TARGETS.get(kind, {"model": "some-model"}))
    req = ChatRequest(body=BODY, raw=dumps(BODY))
    up, held = _held(lambda: adapter.translate_request(req, target))
    assert len(up.body) > 20_000
    # the body and the request's small fields (headers, ledger, tool names), nothing reserved
    assert held < len(up.body) + 16_384, (kind, held, len(up.body))
