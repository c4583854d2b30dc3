"""A fast fake OpenAI-compatible upstream for the benchmark.

A raw ``asyncio.Protocol`` HTTP/1.1 server with keep-alive. Every answer is precomputed bytes, so a
request costs a header scan and one or a few ``transport.write`` calls: the fake must never be the
bottleneck.

Endpoints:

* ``POST /v1/chat/completions``: a fixed ``chat.completion`` JSON, or, when the body has
  ``"stream": true``, a 20-chunk SSE stream (role chunk, 18 text chunks, finish chunk), then a
  usage chunk and ``data: [DONE]``, sent with ``Transfer-Encoding: chunked``.
* ``POST /_fake/config`` with ``{"chunk_gap_ms": N, "chunks": M}``: M choice chunks per stream
  (default 20); a gap of 0 sends the whole stream in one write
  ("burst"); N > 0 sends one chunk every N ms ("paced", every chunk arrives on its own).
* ``GET /v1/models``: one model (the gateway's provider health check; counted as ``models``).
* ``GET /_fake/stats``: ``{"requests": ..., "streams": ..., "chunk_gap_ms": ..., "models": ...}``.
* ``GET /health``: 200.

Run: ``python bench/fake_upstream.py --port 0`` prints ``LISTENING <port>`` on stdout once bound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import sys
import time
from typing import Any

STREAM_RE = re.compile(rb'"stream"\s*:\s*true')
TEXT_PIECES = [
    "Sure",
    ",",
    " here",
    " is",
    " the",
    " plan",
    ":",
    " first",
    " read",
    " the",
    " file",
    ",",
    " then",
    " apply",
    " the",
    " edit",
    " and",
    " run tests.",
]
assert len(TEXT_PIECES) == 18
TEXT = "".join(TEXT_PIECES)
MODEL = "gpt-bench"
USAGE = {"prompt_tokens": 9000, "completion_tokens": 18, "total_tokens": 9018}


def _compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _response(status: str, ctype: str, body: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n\r\n"
    ).encode() + body


def completion_body() -> bytes:
    return _compact(
        {
            "id": "chatcmpl-bench0001",
            "object": "chat.completion",
            "created": 1700000000,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": TEXT, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": USAGE,
            "system_fingerprint": "fp_bench",
        }
    )


def stream_events(n_text: int = len(TEXT_PIECES)) -> list[bytes]:
    """Role chunk, ``n_text`` text chunks (18: the 20-chunk stream), finish chunk, usage chunk, then
    ``[DONE]`` (each ``data: ...\\n\\n``)."""
    base = {
        "id": "chatcmpl-bench0002",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
    }

    def chunk(
        delta: dict[str, Any], finish: str | None = None, *, choices: bool = True, usage: Any = None
    ) -> bytes:
        obj: dict[str, Any] = dict(base)
        obj["system_fingerprint"] = "fp_bench"
        obj["choices"] = (
            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else []
        )
        obj["usage"] = usage
        return b"data: " + _compact(obj) + b"\n\n"

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"content": TEXT_PIECES[i % len(TEXT_PIECES)]}) for i in range(n_text)]
    events.append(chunk({}, "stop"))
    events.append(chunk({}, choices=False, usage=USAGE))
    assert len(events) == n_text + 3  # role, n_text text, finish + the usage chunk
    events.append(b"data: [DONE]\n\n")
    return events


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
)
STREAM_TAIL = b"0\r\n\r\n"
_FRAMES: dict[int, list[bytes]] = {}


def stream_frames(n_chunks: int) -> list[bytes]:
    """The chunked frames of an ``n_chunks``-chunk stream (role + text + finish), built once."""
    frames = _FRAMES.get(n_chunks)
    if frames is None:
        frames = _FRAMES[n_chunks] = [_chunked(e) for e in stream_events(max(n_chunks - 2, 1))]
    return frames


STREAM_FRAMES = stream_frames(20)
STREAM_BURST = STREAM_HEAD + b"".join(STREAM_FRAMES) + STREAM_TAIL
COMPLETION = _response("200 OK", "application/json", completion_body())
HEALTH = _response("200 OK", "application/json", b'{"ok":true}')
MODELS = _response("200 OK", "application/json", b'{"object":"list","data":[{"id":"gpt-bench","object":"model"}]}')
NOT_FOUND = _response("404 Not Found", "application/json", b'{"error":{"message":"not found"}}')
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class State:
    requests = 0
    streams = 0
    chunk_gap_ms = 0.0
    chunks = 20  # choice chunks per stream (role, text..., finish)
    models = 0  # GET .../models: the gateway's provider health check (its Celery worker is up)


class FakeUpstream(asyncio.Protocol):
    __slots__ = ("transport", "buf", "busy")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.busy = False  # a paced stream is being written; pipelined requests wait in buf

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf = self.buf + data if self.buf else data
        if not self.busy:
            self._drain()

    def _drain(self) -> None:
        while self.buf and not self.busy and self.transport is not None:
            if not self._one():
                return

    def _one(self) -> bool:
        """Handle one complete request from buf; False when more bytes are needed."""
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = buf[:end]
        body_start = end + 4
        lower = head.lower()
        cl = lower.find(b"\r\ncontent-length:")
        if cl >= 0:
            eol = lower.find(b"\r\n", cl + 2)
            length = int(head[cl + 17 : eol if eol >= 0 else len(head)].strip())
            if len(buf) < body_start + length:
                return False
            body = buf[body_start : body_start + length]
            self.buf = buf[body_start + length :]
        elif b"\r\ntransfer-encoding: chunked" in lower:
            parsed = _dechunk(buf, body_start)
            if parsed is None:
                return False
            body, consumed = parsed
            self.buf = buf[consumed:]
        else:
            body = b""
            self.buf = buf[body_start:]
        self._dispatch(head, body)
        return True

    def _dispatch(self, head: bytes, body: bytes) -> None:
        transport = self.transport
        assert transport is not None
        line_end = head.find(b"\r\n")
        request_line = head[: line_end if line_end >= 0 else len(head)]
        parts = request_line.split(b" ")
        if len(parts) < 2:
            transport.write(BAD_REQUEST)
            transport.close()
            return
        method, path = parts[0], parts[1].split(b"?", 1)[0]
        if method == b"POST" and path.endswith(b"/chat/completions"):
            State.requests += 1
            if STREAM_RE.search(body):
                State.streams += 1
                if State.chunk_gap_ms > 0:
                    self._paced_stream(State.chunk_gap_ms / 1000.0)
                elif State.chunks == 20:
                    transport.write(STREAM_BURST)
                else:
                    transport.write(STREAM_HEAD + b"".join(stream_frames(State.chunks)) + STREAM_TAIL)
            else:
                transport.write(COMPLETION)
        elif path == b"/health":
            transport.write(HEALTH)
        elif method == b"GET" and path.endswith(b"/models"):
            State.models += 1
            transport.write(MODELS)
        elif path == b"/_fake/stats":
            stats = {"requests": State.requests, "streams": State.streams, "chunk_gap_ms": State.chunk_gap_ms,
                     "chunks": State.chunks, "models": State.models}
            transport.write(_response("200 OK", "application/json", _compact(stats)))
        elif method == b"POST" and path == b"/_fake/config":
            cfg = json.loads(body or b"{}")
            State.chunk_gap_ms = float(cfg.get("chunk_gap_ms", State.chunk_gap_ms))
            State.chunks = max(3, int(cfg.get("chunks", State.chunks)))
            cfg = {"chunk_gap_ms": State.chunk_gap_ms, "chunks": State.chunks}
            transport.write(_response("200 OK", "application/json", _compact(cfg)))
        else:
            transport.write(NOT_FOUND)

    def _paced_stream(self, gap: float) -> None:
        transport = self.transport
        assert transport is not None
        self.busy = True
        loop = asyncio.get_running_loop()
        frames = stream_frames(State.chunks)
        transport.write(STREAM_HEAD + frames[0])
        start = loop.time()

        last = len(frames) - 1  # frames[last] is [DONE]: it goes out with the terminating chunk

        def step(i: int) -> None:
            if self.transport is None:
                return
            if i < last:
                self.transport.write(frames[i])
                loop.call_at(start + gap * (i + 1), step, i + 1)
            else:
                self.transport.write(frames[i] + STREAM_TAIL)
                self.busy = False
                self._drain()

        loop.call_at(start + gap, step, 1)


def _dechunk(buf: bytes, pos: int) -> tuple[bytes, int] | None:
    parts: list[bytes] = []
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(buf[pos:eol].split(b";", 1)[0], 16)
        start = eol + 2
        if size == 0:
            end = buf.find(b"\r\n\r\n", eol)
            if end < 0:
                return None
            return b"".join(parts), end + 4
        if len(buf) < start + size + 2:
            return None
        parts.append(buf[start : start + size])
        pos = start + size + 2


async def serve(host: str, port: int, duration: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FakeUpstream, host, port, backlog=1024, reuse_address=True)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"LISTENING {bound}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    deadline = time.monotonic() + duration
    # Bounded: the fake stops by itself after --max-seconds even if nobody stops it.
    while not stop.is_set() and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=min(5.0, max(0.01, deadline - time.monotonic())))
    server.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--chunk-gap-ms", type=float, default=0.0)
    ap.add_argument("--max-seconds", type=float, default=900.0, help="exit after this long regardless")
    args = ap.parse_args()
    State.chunk_gap_ms = args.chunk_gap_ms
    asyncio.run(serve(args.host, args.port, args.max_seconds))


if __name__ == "__main__":
    main()
