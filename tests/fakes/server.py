"""A real HTTP/1.1 server in a daemon thread that plays an upstream LLM API for tests.

The protocol-specific subclasses (``FakeOpenAI``, ``FakeAnthropic``) only decide which paths are the
main generation endpoint, how an SSE event is framed and what the canned replies look like. Every
request is recorded; a reply is chosen in this order:

1. the first queued ``Reply`` whose ``path`` matches (``enqueue(reply)`` targets the main endpoint,
   ``enqueue(reply, path="/v1/models")`` any other path);
2. ``handler(recorded)`` if set and it returns a ``Reply`` (``None`` falls through);
3. ``default`` for the main endpoint (a short canned text, JSON or SSE after the request's
   ``stream`` flag, when ``default`` is ``None``), the built-in answers of the subclass for side
   endpoints (models list, count_tokens), else 404.

Streams use ``Transfer-Encoding: chunked`` (or ``Connection: close`` framing with ``chunked=False``),
``Content-Type: text/event-stream`` and one socket write per event, with ``TCP_NODELAY`` on so the
client sees the writes as separate reads.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlsplit

Chunk = dict[str, Any] | bytes | str
ReplyKind = Literal["json", "sse", "hang"]


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str  # without the query string
    query: dict[str, str]  # last value wins; ``raw_query`` keeps the original
    raw_query: str
    headers: dict[str, str]  # names lower-cased
    raw: bytes
    json: Any = None  # parsed body, or None when the body is empty or not JSON
    at: float = field(default_factory=time.monotonic)

    @property
    def stream(self) -> bool:
        return isinstance(self.json, dict) and bool(self.json.get("stream"))


@dataclass
class Reply:
    """What the fake answers to one request. Build it with the class methods."""

    kind: ReplyKind
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks: list[Chunk] = field(default_factory=list)
    delay: float = 0.0  # seconds between SSE writes
    split: int | None = None  # write each SSE event in pieces of this many bytes
    split_delay: float = 0.002  # pause between those pieces, so they arrive as separate reads
    drop_after: int | None = None  # close the socket abruptly after this many chunks
    done: bool | None = None  # OpenAI: append ``data: [DONE]`` (None → the dialect's default)
    chunked: bool = True  # False: no Content-Length, ``Connection: close`` framing
    latency: float = 0.0  # seconds to wait before the status line
    seconds: float = 0.0  # hang duration
    path: str | None = None  # set by ``enqueue(..., path=...)``

    @classmethod
    def json(
        cls,
        body: Any,
        status: int = 200,
        headers: dict[str, str] | None = None,
        *,
        latency: float = 0.0,
    ) -> Reply:
        raw = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else _dumps(body)
        return cls("json", status=status, headers=dict(headers or {}), body=raw, latency=latency)

    @classmethod
    def error(
        cls,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        latency: float = 0.0,
    ) -> Reply:
        if body is None:
            body = {"error": {"message": f"fake upstream error {status}", "type": "fake_error"}}
        return cls.json(body, status=status, headers=headers, latency=latency)

    @classmethod
    def sse(
        cls,
        chunks: Iterable[Chunk],
        delay: float = 0.0,
        split: int | None = None,
        *,
        drop_after: int | None = None,
        done: bool | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
        chunked: bool = True,
        latency: float = 0.0,
        split_delay: float = 0.002,
    ) -> Reply:
        return cls(
            "sse",
            status=status,
            headers=dict(headers or {}),
            chunks=list(chunks),
            delay=delay,
            split=split,
            split_delay=split_delay,
            drop_after=drop_after,
            done=done,
            chunked=chunked,
            latency=latency,
        )

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Reply:
        """Read the request, then say nothing for ``seconds`` and close the connection."""
        return cls("hang", seconds=seconds)


Handler = Callable[[Recorded], Reply | None]


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


class _ClientGone(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        self.server.fake._track(self.connection, add=False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # keep pytest output clean; ``requests`` is the log

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        fake = self.server.fake
        rec = self._record()
        fake._append(rec)
        try:
            reply = fake._choose(rec)
        except Exception as exc:  # a broken test handler must show up, not hang the client
            reply = Reply.error(500, {"error": {"message": f"fake handler raised: {exc!r}", "type": "fake"}})
        try:
            self._send(reply, rec)
        except _ClientGone:
            fake._client_went_away()
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            fake._client_went_away()
            self.close_connection = True

    def _record(self) -> Recorded:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = self._read_chunked_body()
        else:
            raw = self.rfile.read(length) if length else b""
        parsed: Any = None
        if raw:
            with contextlib.suppress(ValueError):
                parsed = json.loads(raw)
        return Recorded(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            raw_query=parts.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            raw=raw,
            json=parsed,
        )

    def _read_chunked_body(self) -> bytes:
        out = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += self.rfile.read(size)
            self.rfile.readline()

    # --- writing ---------------------------------------------------------------------------------

    def _send(self, reply: Reply, rec: Recorded) -> None:
        fake = self.server.fake
        if reply.latency and fake._sleep_or_gone(self.connection, reply.latency):
            raise _ClientGone
        if reply.kind == "hang":
            self.close_connection = True
            if fake._sleep_or_gone(self.connection, reply.seconds):
                raise _ClientGone
            return
        if reply.kind == "json":
            self._send_json(reply)
        else:
            self._send_sse(reply)

    def _send_json(self, reply: Reply) -> None:
        self.send_response(reply.status)
        headers = {"Content-Type": "application/json", **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)
        self.wfile.flush()

    def _send_sse(self, reply: Reply) -> None:
        fake = self.server.fake
        self.send_response(reply.status)
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        if reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.flush()
        events = [fake.encode_event(c) for c in reply.chunks]
        tail = fake.stream_tail(reply)
        for i, data in enumerate(events):
            if reply.drop_after is not None and i >= reply.drop_after:
                self._drop()
                return
            if i and reply.delay and fake._sleep_or_gone(self.connection, reply.delay):
                raise _ClientGone
            if fake._peer_closed(self.connection):
                raise _ClientGone
            self._write_event(data, reply)
        if reply.drop_after is not None and reply.drop_after <= len(events):
            self._drop()
            return
        if tail:
            if reply.delay and fake._sleep_or_gone(self.connection, reply.delay):
                raise _ClientGone
            self._write_event(tail, reply)
        if reply.chunked:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    def _write_event(self, data: bytes, reply: Reply) -> None:
        pieces = [data]
        if reply.split:
            pieces = [data[i : i + reply.split] for i in range(0, len(data), reply.split)]
        for n, piece in enumerate(pieces):
            if n and reply.split_delay:
                time.sleep(reply.split_delay)
            if reply.chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            else:
                self.wfile.write(piece)
            self.wfile.flush()

    def _drop(self) -> None:
        """Close without the chunked terminator: the client sees a truncated body."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)


class FakeServer:
    """Base class; see the module docstring. Use a subclass."""

    main_paths: ClassVar[tuple[str, ...]] = ()
    name: ClassVar[str] = "fake"

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.default: Reply | None = None
        self.handler: Handler | None = None
        self.disconnects = 0
        self.connections = 0  # TCP connections accepted (keep-alive reuse shows as fewer)
        self._queue: list[Reply] = []
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeServer:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self.name}-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin

    # --- scripting -------------------------------------------------------------------------------

    def enqueue(self, *replies: Reply, path: str | None = None) -> None:
        """Queue replies, served in order; ``path=None`` targets the main generation endpoint."""
        with self._lock:
            for reply in replies:
                reply.path = path
                self._queue.append(reply)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._queue.clear()
            self.disconnects = 0
            self.connections = 0
        self.default = None
        self.handler = None

    def wait_for_requests(self, n: int, timeout: float = 5.0, path: str | None = None) -> list[Recorded]:
        """Block until ``n`` requests (to ``path``, if given) arrived; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                got = [r for r in self.requests if path is None or r.path == path]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{type(self).__name__}: expected {n} request(s){' to ' + path if path else ''}, "
                        f"got {len(got)}: {[(r.method, r.path) for r in self.requests]}"
                    )
                self._lock.wait(left)

    def wait_for_disconnects(self, n: int = 1, timeout: float = 5.0) -> int:
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.disconnects < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{type(self).__name__}: expected {n} disconnect(s), got {self.disconnects}")
                self._lock.wait(left)
            return self.disconnects

    @property
    def main_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if self.is_main(r.path)]

    # --- dialect hooks (overridden by subclasses) ------------------------------------------------

    def is_main(self, path: str) -> bool:
        return path in self.main_paths

    def encode_event(self, chunk: Chunk) -> bytes:
        if isinstance(chunk, bytes):
            return chunk
        if isinstance(chunk, str):
            return chunk.encode()
        return b"data: " + _dumps(chunk) + b"\n\n"

    def stream_tail(self, reply: Reply) -> bytes:
        return b""

    def canned(self, rec: Recorded) -> Reply:
        raise NotImplementedError

    def side_reply(self, rec: Recorded) -> Reply | None:
        return None

    # --- internals -------------------------------------------------------------------------------

    def _append(self, rec: Recorded) -> None:
        with self._lock:
            self.requests.append(rec)
            self._lock.notify_all()

    def _choose(self, rec: Recorded) -> Reply:
        main = self.is_main(rec.path)
        with self._lock:
            for i, queued in enumerate(self._queue):
                if (queued.path is None and main) or queued.path == rec.path:
                    return self._queue.pop(i)
        handler = self.handler
        if handler is not None:
            reply = handler(rec)
            if reply is not None:
                return reply
        if main:
            return self.default if self.default is not None else self.canned(rec)
        side = self.side_reply(rec)
        if side is not None:
            return side
        return Reply.error(404, {"error": {"message": f"{self.name}: no route for {rec.method} {rec.path}"}})

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
                self.connections += 1
            else:
                self._conns.discard(conn)

    def _client_went_away(self) -> None:
        with self._lock:
            self.disconnects += 1
            self._lock.notify_all()

    def _peer_closed(self, conn: socket.socket) -> bool:
        """True when the client has closed its side (readable with EOF) or reset the connection."""
        try:
            readable, _, _ = select.select([conn], [], [], 0)
            if not readable:
                return False
            return conn.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _sleep_or_gone(self, conn: socket.socket, seconds: float) -> bool:
        """Sleep, waking early when the client leaves (True) or the server stops (False)."""
        deadline = time.monotonic() + seconds
        while True:
            if self._peer_closed(conn):
                return True
            left = deadline - time.monotonic()
            if left <= 0 or self._stopping.is_set():
                return False
            self._stopping.wait(min(left, 0.02))


def chunk_text(text: str, pieces: Sequence[str] | None = None, size: int = 4) -> list[str]:
    """``pieces`` if given, else ``text`` cut into pieces of ``size`` characters (never empty)."""
    if pieces is not None:
        return list(pieces)
    if not text:
        return []
    return [text[i : i + size] for i in range(0, len(text), size)]
