"""Request bodies for the benchmark, all deterministic.

* ``anthropic_body``: a Claude-Code-like ``POST /v1/messages`` body (system blocks with
  cache_control, ~20 tools with JSON schemas, a short conversation with a tool round-trip).
* ``openai_body``: the equivalent OpenAI chat-completions body, for direct calls to the fake.
* ``count_tokens_body``: a ~200 KB (~50k token) body of mixed English and code for count_tokens.
"""

from __future__ import annotations

import json
import random
from typing import Any

JSON = dict[str, Any]

CLIENT_MODEL = "claude-sonnet-4-5-20250929"
UPSTREAM_MODEL = "gpt-bench"

_WORD_TEXT = (
    "the file function test module request response config value error handler router provider "
    "client token stream event message content tool result input output schema model cache update "
    "read write edit search pattern directory project repository commit branch change review user "
    "should must may when then before after always never only each every first last next with from"
)
_WORDS = _WORD_TEXT.split()

_CODE = [
    "def handle(request: HttpRequest) -> HttpResponse:\n    body = json.loads(request.body)\n    return JsonResponse(body)\n",
    "for i, item in enumerate(items):\n    if item.enabled and i % 2 == 0:\n        result.append(transform(item))\n",
    "class Router:\n    def __init__(self, table: dict[str, str]) -> None:\n        self._table = dict(table)\n",
    "const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(payload) });\n",
    "SELECT id, name, created FROM routing_route WHERE enabled = 1 ORDER BY position LIMIT 50;\n",
    "    try:\n        value = int(raw)\n    except ValueError:\n        raise ImproperlyConfigured(f'{name}={raw!r}')\n",
    'fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * 2).collect();\n    println!("{:?}", v);\n}\n',
]


def _prose(rng: random.Random, n_words: int) -> str:
    out: list[str] = []
    for i in range(n_words):
        w = rng.choice(_WORDS)
        out.append(w.capitalize() if i % 12 == 0 else w)
        if i % 12 == 11:
            out[-1] += "."
    return " ".join(out)


def _mixed(rng: random.Random, n_chars: int) -> str:
    parts: list[str] = []
    size = 0
    while size < n_chars:
        piece = rng.choice(_CODE) if rng.random() < 0.4 else _prose(rng, rng.randint(20, 60)) + "\n"
        parts.append(piece)
        size += len(piece)
    return "".join(parts)[:n_chars]


def _tool(rng: random.Random, i: int) -> JSON:
    names = [
        "Task",
        "Bash",
        "Glob",
        "Grep",
        "ExitPlanMode",
        "Read",
        "Edit",
        "MultiEdit",
        "Write",
        "NotebookEdit",
        "WebFetch",
        "TodoWrite",
        "WebSearch",
        "BashOutput",
        "KillShell",
        "SlashCommand",
        "ListMcpResources",
        "ReadMcpResource",
        "mcp__ide__getDiagnostics",
        "mcp__ide__executeCode",
    ]
    props: JSON = {
        "file_path": {"type": "string", "description": "The absolute path to the file to operate on"},
        "pattern": {"type": "string", "description": "The pattern to search for, a regular expression"},
        "limit": {"type": "integer", "description": "The number of lines to read", "minimum": 1},
        "options": {
            "type": "object",
            "properties": {
                "case_insensitive": {"type": "boolean"},
                "mode": {"type": "string", "enum": ["content", "files_with_matches", "count"]},
            },
            "additionalProperties": False,
        },
        "todos": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "content": {"type": "string", "minLength": 1},
                    "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                },
                "required": ["content", "status"],
                "additionalProperties": False,
            },
        },
    }
    keys = list(props)
    chosen = keys[: 2 + i % 4]
    return {
        "name": names[i],
        "description": _prose(rng, 60 + (i * 37) % 200),
        "input_schema": {
            "type": "object",
            "properties": {k: props[k] for k in chosen},
            "required": chosen[:1],
            "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#",
        },
    }


def anthropic_body(stream: bool, *, seed: int = 7) -> JSON:
    rng = random.Random(seed)
    tools = [_tool(rng, i) for i in range(20)]
    return {
        "model": CLIENT_MODEL,
        "max_tokens": 32000,
        "temperature": 1,
        "stream": stream,
        "metadata": {"user_id": "user_bench_account__session_0000"},
        "system": [
            {
                "type": "text",
                "text": "You are Claude Code, Anthropic's official CLI for Claude.",
                "cache_control": {"type": "ephemeral"},
            },
            {"type": "text", "text": _prose(rng, 1500), "cache_control": {"type": "ephemeral"}},
        ],
        "tools": tools,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>" + _prose(rng, 80) + "</system-reminder>"},
                    {"type": "text", "text": "Fix the failing test in tests/test_router.py"},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "I'll read the test first."},
                    {
                        "type": "tool_use",
                        "id": "toolu_01ABCDEFGHJKLMNPQRSTUVWX",
                        "name": "Read",
                        "input": {"file_path": "/repo/tests/test_router.py"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01ABCDEFGHJKLMNPQRSTUVWX",
                        "content": _mixed(rng, 3000),
                    }
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": _prose(rng, 40)}]},
            {
                "role": "user",
                "content": [{"type": "text", "text": "Go ahead.", "cache_control": {"type": "ephemeral"}}],
            },
        ],
    }


def anthropic_body_sized(stream: bool, size: int, *, seed: int = 7) -> JSON:
    """A Claude Code body of about ``size`` bytes (0: the plain ~46 KB ``anthropic_body``).

    Below the plain size: the first system block, two tools and one padded user turn (an early
    or sub-agent request). Above it: further Read round trips (tool_use + tool_result of mixed
    code and prose) before the last turn, as a long session grows.
    """
    body = anthropic_body(stream, seed=seed)
    if not size:
        return body
    rng = random.Random(seed + size)
    if size < len(dumps(body)):
        body["system"] = body["system"][:1]
        body["tools"] = body["tools"][:2]
        body["messages"] = [{"role": "user", "content": [{"type": "text", "text": "Fix the failing test."}]}]
        room = size - len(dumps(body))
        if room > 0:
            body["messages"][0]["content"].insert(0, {"type": "text", "text": _mixed(rng, room)})
        return body
    last = body["messages"].pop()
    turn = 0
    while (room := size - len(dumps(body)) - len(dumps(last))) > 200:
        turn += 1
        tool_id = f"toolu_bench{turn:020d}"
        body["messages"].append({"role": "assistant", "content": [
            {"type": "tool_use", "id": tool_id, "name": "Read", "input": {"file_path": f"/repo/src/m{turn}.py"}}]})
        body["messages"].append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": tool_id, "content": _mixed(rng, min(room - 200, 40_000))}]})
    body["messages"].append(last)
    return body


def openai_body(stream: bool, *, seed: int = 7, size: int = 0) -> JSON:
    """The OpenAI chat-completions equivalent of ``anthropic_body`` (what a gateway would send)."""
    a = anthropic_body_sized(stream, size, seed=seed)
    msgs: list[JSON] = [{"role": "system", "content": "\n\n".join(b["text"] for b in a["system"])}]
    for m in a["messages"]:
        blocks = m["content"]
        if m["role"] == "assistant":
            text = "".join(b["text"] for b in blocks if b["type"] == "text")
            calls = [
                {
                    "id": b["id"],
                    "type": "function",
                    "function": {"name": b["name"], "arguments": json.dumps(b["input"])},
                }
                for b in blocks
                if b["type"] == "tool_use"
            ]
            out: JSON = {"role": "assistant", "content": text or None}
            if calls:
                out["tool_calls"] = calls
            msgs.append(out)
            continue
        for b in blocks:
            if b["type"] == "tool_result":
                msgs.append({"role": "tool", "tool_call_id": b["tool_use_id"], "content": b["content"]})
        texts = [{"type": "text", "text": b["text"]} for b in blocks if b["type"] == "text"]
        if texts:
            msgs.append({"role": "user", "content": texts})
    body: JSON = {
        "model": UPSTREAM_MODEL,
        "messages": msgs,
        "max_tokens": a["max_tokens"],
        "temperature": a["temperature"],
        "user": a["metadata"]["user_id"],
        "stream": stream,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": t["name"],
                    "description": t["description"],
                    "parameters": t["input_schema"],
                },
            }
            for t in a["tools"]
        ],
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def count_tokens_body(target_bytes: int = 200_000, *, seed: int = 11) -> JSON:
    """~``target_bytes`` of mixed English/code spread over system, tools and messages (~50k tokens)."""
    rng = random.Random(seed)
    base = anthropic_body(False, seed=seed)
    for key in ("max_tokens", "temperature", "stream", "metadata"):
        base.pop(key, None)
    size = len(json.dumps(base))
    remaining = max(0, target_bytes - size)
    # ~15% into tool descriptions, the rest into a long conversation of tool results and prose.
    tool_share = remaining * 15 // 100
    per_tool = tool_share // len(base["tools"])
    for t in base["tools"]:
        t["description"] += "\n" + _mixed(rng, per_tool)
    convo = remaining - tool_share
    turns = 12
    msgs = base["messages"][:-1]
    for i in range(turns):
        tid = f"toolu_bench{i:04d}"
        msgs.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": _prose(rng, 30)},
                    {
                        "type": "tool_use",
                        "id": tid,
                        "name": "Read",
                        "input": {"file_path": f"/repo/src/m{i}.py"},
                    },
                ],
            }
        )
        msgs.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": tid, "content": _mixed(rng, convo // turns)}
                ],
            }
        )
    msgs.append(base["messages"][-1])
    base["messages"] = msgs
    return base


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


if __name__ == "__main__":
    for name, body in (
        ("anthropic stream", anthropic_body(True)),
        ("openai stream", openai_body(True)),
        ("count_tokens", count_tokens_body()),
    ):
        print(f"{name}: {len(dumps(body))} bytes")
