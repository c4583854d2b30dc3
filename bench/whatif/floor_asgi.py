"""What-if floors: a bare ASGI app under daphne, no Django, to show what the server and httpx cost.

``FLOOR_MODE=hello`` answers canned Anthropic replies without any upstream call (daphne/twisted
floor). ``FLOOR_MODE=forward`` (default) also POSTs the body, untranslated, to
``$OPENAI_BASE_URL/chat/completions`` with one shared ``httpx.AsyncClient`` and relays: a canned
JSON reply, or one ``content_block_delta`` event per upstream read that carries text (daphne + httpx floor).

    .venv/bin/python bench/run.py --quick --app bench.whatif.floor_asgi:application
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

import django
import httpx
import orjson

# The gateway's edge server (proxy_project/daphne_tuning.py, as production runs daphne) checks each
# request's key before it reads the body, through the gateway's settings and models: the floor sets
# Django up for that check only; its request path below touches no Django.
django.setup()

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MODE = os.environ.get("FLOOR_MODE", "forward")
UPSTREAM = os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:9/v1").rstrip("/") + "/chat/completions"
KEY = os.environ.get("OPENAI_API_KEY", "")
REPLY = orjson.dumps(
    {
        "id": "msg_floor",
        "type": "message",
        "role": "assistant",
        "model": "floor",
        "content": [{"type": "text", "text": "Sure, here is the plan."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 9000, "output_tokens": 18},
    }
)
DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}\n\n'
TEXT = b'"delta":{"content":"'  # an upstream chunk with text (bench/load.py's DIRECT_MARKER)
STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]

_client: httpx.AsyncClient | None = None


def client() -> httpx.AsyncClient:
    global _client
    if _client is None:
        _client = httpx.AsyncClient(
            timeout=httpx.Timeout(600.0, connect=10.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
        )
    return _client


async def read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        msg = await receive()
        parts.append(msg.get("body", b""))
        if not msg.get("more_body"):
            return b"".join(parts)


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    body = await read_body(receive)
    if path == "/health":
        await send({"type": "http.response.start", "status": 200, "headers": JSON_HEADERS})
        await send({"type": "http.response.body", "body": b'{"status":"ok"}'})
        return
    data = orjson.loads(body) if body else {}
    if path.endswith("/count_tokens"):
        await send({"type": "http.response.start", "status": 200, "headers": JSON_HEADERS})
        await send({"type": "http.response.body", "body": orjson.dumps({"input_tokens": len(body) // 4})})
        return
    stream = bool(data.get("stream"))
    if MODE == "hello":
        if stream:
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            for _ in range(18):
                await send({"type": "http.response.body", "body": DELTA, "more_body": True})
            await send({"type": "http.response.body", "body": STOP})
        else:
            await send({"type": "http.response.start", "status": 200, "headers": JSON_HEADERS})
            await send({"type": "http.response.body", "body": REPLY})
        return
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    req = client().build_request("POST", UPSTREAM, content=body, headers=headers)
    resp = await client().send(req, stream=True)
    try:
        if stream:
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            async for chunk in resp.aiter_raw():
                # a delta for each upstream read that carries text, as the gateway emits one: the
                # role chunk (sent with the head) makes none, so both TTFTs time the first text
                if TEXT in chunk:
                    await send({"type": "http.response.body", "body": DELTA, "more_body": True})
            await send({"type": "http.response.body", "body": STOP})
        else:
            raw = await resp.aread()
            orjson.loads(raw)
            await send({"type": "http.response.start", "status": 200, "headers": JSON_HEADERS})
            await send({"type": "http.response.body", "body": REPLY})
    finally:
        await resp.aclose()
