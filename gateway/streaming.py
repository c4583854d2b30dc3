"""One upstream stream, pumped by its own task straight to the client.

The pump task owns the upstream (``async with client.stream``) and reads, parses, translates and
encodes each chunk, once, in the client's dialect (the ``StreamEncoder`` the endpoint chose:
Anthropic SSE, OpenAI chunks or Bedrock event-stream frames, gateway/inbound/encoders.py).
Through the gateway's API handler (proxy_project/handlers.py) the pump then writes those bytes to
the ASGI ``send`` itself (``StreamResponse.asgi_body`` -> ``send_to``): a chunk costs one wake-up
of one task, as it arrives. Any other ASGI server iterates the same ``StreamBody``, and the pump
hands its bytes to the body's one waiter instead. The second task exists because keep-alives
must go out while the upstream read is blocked: the timer fires once per interval (never per
chunk, never after ``message_stop``) and the waiting task writes them; whatever piled up while a
write was in progress leaves in one write. A client disconnect cancels that task (Django >= 5
and our handler cancel it under ASGI), whose ``finally`` cancels the pump, which closes the
upstream connection; a write that fails stops the pump's reading too. The first step (status
line) is awaited before the HTTP response is committed, so a failing upstream still gets an
HTTP error status and a fallback.

Streams are judged by content: events are held back until the first content block (text, tool
call, thinking) and forwarded with it, so TTFT is unchanged. A stream that errs or ends before
any content, while the status is not yet committed, is a failure before the first byte and falls
back; after STREAM_COMMIT_WAIT s of silence the 200 is committed (keep-alive comments flow) and
such an ending becomes an SSE ``error`` event. ``on_end`` reports a committed stream's outcome
(``upstream_error``: a mid-stream abort) so the breaker counts it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import httpx
from django.conf import settings
from django.http import StreamingHttpResponse

from gateway.errors import ConnectWindow, GatewayError, status_for_type, transport_error
from gateway.inbound.encoders import AnthropicSSE, StreamEncoder
from providers import client
from providers.adapters.base import (
    Adapter,
    AdapterError,
    StreamEvent,
    StreamStats,
    UpstreamRequest,
    anthropic_error_event,
)
from providers.config import ProviderConfig
from providers.eventstream import event_parser_for
from runtime.redaction import redact_known

logger = logging.getLogger("gateway.stream")

# A reply may legitimately carry no content when its budget ran out or it was refused.
CONTENTLESS_OK = frozenset({"max_tokens", "refusal"})
EndHook = Callable[["StreamSession"], Awaitable[None]]
DoneHook = Callable[["StreamSession"], None]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


def _redacted(event: StreamEvent) -> StreamEvent:
    """An error event as the client may see it: an upstream message can quote a credential, so a
    passthrough error is re-encoded (only when redaction changed it; errors are rare, chunks are not)."""
    err = event.data.get("error")
    if not isinstance(err, dict):
        return event
    message = err.get("message")
    if not isinstance(message, str) or (clean := redact_known(message)) == message:
        return event
    return StreamEvent("error", {**event.data, "error": {**err, "message": clean}})


def _answered(stats: StreamStats) -> bool:
    """Whether a stream that ended without content still carried a real answer."""
    return stats.upstream_stopped or stats.stop_reason in CONTENTLESS_OK


def _early_error(events: list[StreamEvent]) -> AdapterError | None:
    """An error event before any content block: the stream failed before it began."""
    for event in events:
        if event.event == "content_block_start":
            return None
        if event.event == "error":
            err = event.data.get("error") or {}
            error_type = str(err.get("type") or "api_error")
            status = status_for_type(error_type)
            return AdapterError(str(err.get("message") or "upstream stream failed"), status=status,
                                retryable=status in (429, 502, 504, 529), error_type=error_type)
    return None


class StreamSession:
    def __init__(self, adapter: Adapter, up: UpstreamRequest, provider: ProviderConfig, *,
                 on_end: EndHook | None = None, encoder: StreamEncoder | None = None) -> None:
        self.adapter = adapter
        self.encoder: StreamEncoder = encoder if encoder is not None else AnthropicSSE()
        self.up = up
        self.provider = provider
        self.translator = adapter.stream_translator(up)
        self._out: list[bytes] = []  # encoded bytes the body has not written yet
        self._closed = False  # the pump is done: the body ends once _out is drained
        self._waiter: asyncio.Future[None] | None = None  # the body, waiting for bytes
        self._send: Send | None = None  # send_to(): the pump writes to the client itself
        self._flushing = False
        self._client_gone = False
        self.ttft: float | None = None
        self.failed = False
        self.cancelled = False
        self.error_message = ""
        self.upstream_error: AdapterError | None = None  # how a committed stream broke
        self._on_end = on_end
        self._emitted = False
        self._content = False  # real content was forwarded: events pass straight through
        self._held: list[StreamEvent] = []
        self._last = time.monotonic()
        self._first: asyncio.Future[AdapterError | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._abandoned = False

    async def start(self) -> AdapterError | None:
        """Open the upstream stream; None when it answered 2xx, else the classified error."""
        loop = asyncio.get_running_loop()
        self._first = loop.create_future()
        self._task = loop.create_task(self._pump())
        try:
            return await self._first
        except asyncio.CancelledError:
            self._task.cancel()
            raise

    @property
    def committed(self) -> bool:
        first = self._first
        return first is not None and first.done() and first.result() is None

    async def _pump(self) -> None:
        first = self._first
        assert first is not None
        try:
            await self._run()
            if self.committed and self._on_end is not None:
                await self._report_end(self._on_end)
        finally:
            if not first.done():
                first.set_result(AdapterError("upstream stream could not be opened", status=502,
                                              retryable=True))
            self._closed = True
            self._wake()

    async def _report_end(self, hook: EndHook) -> None:
        try:
            await hook(self)
        except Exception:  # the breaker's bookkeeping must never break the client's stream
            logger.exception("recording the stream's outcome failed")

    async def _run(self) -> None:
        first = self._first
        assert first is not None
        window = ConnectWindow()
        try:
            async with client.stream(self.up, self.provider) as resp:
                window.close()  # the headers are in: no connect left to time out
                if resp.status_code >= 400:
                    body = await resp.aread()
                    err = self.adapter.classify_error(resp.status_code, body, resp.headers)
                    err.upstream_status = resp.status_code
                    first.set_result(err)
                    return
                # Commit to this upstream at its first content (an error or an empty ending
                # before it can still fall back) or after STREAM_COMMIT_WAIT s, whichever is first.
                timer = asyncio.get_running_loop().call_later(settings.STREAM_COMMIT_WAIT, self._commit)
                try:
                    await self._relay(resp)
                finally:
                    timer.cancel()
        except httpx.HTTPError as exc:
            self._fail(transport_error(exc, started=window.started))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a translator bug must end the stream visibly, not hang it
            logger.exception("stream translation failed")
            self._fail(GatewayError(f"gateway stream error ({type(exc).__name__})"))
        finally:
            window.close()

    async def _relay(self, resp: httpx.Response) -> None:
        parser = event_parser_for(self.adapter.kind, raw=self.encoder.wants_raw)
        feed = self.translator.feed
        # Unencoded (as SSE streams are sent) the raw reads are the bytes: skip the decoder layer.
        identity = resp.headers.get("content-encoding", "identity").strip().lower() in ("", "identity")
        async for chunk in resp.aiter_raw() if identity else resp.aiter_bytes():
            out: list[StreamEvent] = []
            for event in parser.feed(chunk):
                out.extend(feed(event))
            if out:
                self._emit(out)
                if self._out:
                    await self._deliver()
                if self._abandoned:
                    return
        out = []
        for event in parser.flush():
            out.extend(feed(event))
        out.extend(self.translator.flush())
        stats = self.translator.stats
        if not stats.finished and not stats.error:
            out.append(anthropic_error_event("api_error", "upstream stream ended before message_stop"))
        self._emit(out)

    def _fail(self, err: AdapterError) -> None:
        first = self._first
        if first is not None and not first.done():
            first.set_result(err)
            return
        self.upstream_error = err
        self._emit([anthropic_error_event(err.error_type, err.message)])

    def _commit(self) -> None:
        """STREAM_COMMIT_WAIT passed without content: commit the 200 and forward what is held
        (message_start), so keep-alives can be ``ping`` events for a slow model."""
        if self._first is not None and not self._first.done():
            self._first.set_result(None)
            held, self._held = self._held, []
            if held:
                self._forward(held)
                self._wake()

    def _emit(self, events: list[StreamEvent]) -> None:
        if not events:
            return
        if not self._content:
            judged = self._judge(events)
            if judged is None:
                return
            events = judged
        self._forward(events)

    def _forward(self, events: list[StreamEvent]) -> None:
        stats = self.translator.stats
        if self.ttft is None and stats.first_content:
            self.ttft = time.perf_counter()
        for i, event in enumerate(events):
            if event.event == "error":
                events = events[:i] + [_redacted(event)] + events[i + 1:]
                self.failed = True
                self.error_message = str(events[i].data.get("error", {}).get("message", "stream error"))
                if self.upstream_error is None:
                    self.upstream_error = AdapterError(self.error_message, status=502)
        self._emitted = True
        self._last = time.monotonic()
        data = self.encoder.encode(events)
        if data:
            self._put(data)

    def _put(self, data: bytes) -> None:
        self._out.append(data)  # the pump delivers after each read; timers and the end wake the body

    async def _deliver(self) -> None:
        """What the pump just encoded: written by the pump itself under send_to(), else handed
        to the body's waiter."""
        if self._send is not None:
            await self._flush()
        else:
            self._wake()

    async def _flush(self) -> None:
        send = self._send
        if send is None or self._flushing:
            return  # the write in progress takes what was added meanwhile
        self._flushing = True
        try:
            while self._out:
                out, self._out = self._out, []
                await send({"type": "http.response.body", "body": out[0] if len(out) == 1 else b"".join(out),
                            "more_body": True})
        except Exception as exc:  # the client's connection is gone: stop reading the upstream
            self._out.clear()
            self._abandoned = self._client_gone = self._closed = True
            self.cancelled = self.failed = True
            self.error_message = f"client write failed ({type(exc).__name__})"
        finally:
            self._flushing = False
            if self._out or self._closed:
                self._wake()  # send_to() waits while another task writes

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _judge(self, events: list[StreamEvent]) -> list[StreamEvent] | None:
        """Before any content: the events to forward now, or None (held, or fallen back)."""
        first = self._first
        assert first is not None
        uncommitted = not first.done()
        stats = self.translator.stats
        early = _early_error(events)
        if early is None and not stats.first_content and stats.finished and not _answered(stats):
            early = AdapterError("upstream stream ended without any content", status=502, retryable=True)
        if early is not None:
            self._abandoned = True
            if uncommitted:  # nothing reached the client: answer with a status, maybe fall back
                first.set_result(early)
                return None
            return [anthropic_error_event(early.error_type, early.message)]  # no message_stop
        if stats.first_content or stats.finished:
            self._content = True
        elif uncommitted:
            self._held.extend(events)
            return None
        if uncommitted:
            first.set_result(None)
        held, self._held = self._held, []
        return held + events

    def _keepalive(self, loop: asyncio.AbstractEventLoop, interval: float) -> asyncio.TimerHandle:
        idle = time.monotonic() - self._last
        if idle >= interval * 0.95:
            data = self.encoder.keepalive(self._emitted)
            if data:
                self._put(data)
                self._wake()
            self._last = time.monotonic()
            idle = 0.0
        return loop.call_later(interval - idle, self._rearm, loop, interval)

    def _rearm(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        if self._closed or self.translator.stats.finished:
            self._timer = None  # the stream has ended (message_stop is out): nothing may follow it
            return
        self._timer = self._keepalive(loop, interval)

    async def body(self, on_done: Callable[[StreamSession], None]) -> AsyncIterator[bytes]:
        loop = self._keepalive_start()
        try:
            while True:
                if not self._out:
                    if self._closed:
                        tail = self.encoder.end()
                        if tail:
                            yield tail
                        break
                    self._waiter = loop.create_future()
                    await self._waiter
                    self._waiter = None
                    continue
                # Whatever is already waiting goes out in one write (never waits for more).
                out, self._out = self._out, []
                yield out[0] if len(out) == 1 else b"".join(out)
        except (asyncio.CancelledError, GeneratorExit):
            self._client_left()
            raise
        finally:
            self._end(on_done)

    def _keepalive_start(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        interval = settings.STREAM_PING_INTERVAL
        if interval > 0:
            self._timer = loop.call_later(interval, self._rearm, loop, interval)
        return loop

    def _client_left(self) -> None:
        self.cancelled = self.failed = True
        self.error_message = "client disconnected"

    def _end(self, on_done: DoneHook) -> None:
        """The body is done (or the client left): no more keep-alives, no more upstream reads."""
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        on_done(self)

    async def send_to(self, send: Send, on_done: DoneHook) -> None:
        """The body written straight to the ASGI ``send`` (its ``http.response.start`` is sent):
        the pump writes each chunk in the task that read it, so a chunk costs no hand-over to
        another task; this task only waits, and writes what timers and the ending add."""
        loop = self._keepalive_start()
        self._send = send
        try:
            while True:
                if self._flushing:  # the pump is writing (a server whose send yields): wait for it
                    pass
                elif self._out:
                    await self._flush()
                    continue
                elif self._closed:
                    break
                self._waiter = loop.create_future()
                await self._waiter
                self._waiter = None
        except asyncio.CancelledError:
            self._client_left()
            raise
        finally:
            self._end(on_done)  # before the last write, as for an iterated body: the row is queued when the client has it all
        if not self._client_gone:
            await send({"type": "http.response.body", "body": self.encoder.end(), "more_body": False})


class StreamBody:
    """A committed session's body: iterated (any ASGI server) or, through the gateway's ASGI
    handler, written by the session itself (``send_to``)."""

    def __init__(self, session: StreamSession, on_done: DoneHook) -> None:
        self.session = session
        self.on_done = on_done

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.session.body(self.on_done)

    async def send_to(self, send: Send) -> None:
        await self.session.send_to(send, self.on_done)


class StreamResponse(StreamingHttpResponse):
    """A StreamingHttpResponse whose ``asgi_body`` (when the content is a ``StreamBody``) lets
    proxy_project's API handler hand the ASGI ``send`` to the session after the headers."""

    def __init__(self, content: Any, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.asgi_body: Callable[[Send], Awaitable[None]] | None = (
            content.send_to if isinstance(content, StreamBody) else None)
