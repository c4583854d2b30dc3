"""A lean Django ASGI handler for the gateway API (/v1/..., /health, HEAD /).

Django's stock ASGI handler costs several thread hops per request: every sync middleware, the
request_started/request_finished signals (their receivers are sync) and a per-request
ThreadSensitiveContext (a fresh executor thread). The API needs none of them: its views are
async, authenticate with client keys (no sessions, CSRF or messages) and never use the sync ORM.
This handler keeps Django's request object, URL resolver and ninja views, and drops the rest.
The admin and dashboard keep the full stack (proxy_project/asgi.py routes by path).

What it does at the edge, before any view runs (the "Resilience" section of README.md):

1. past MAX_INFLIGHT_REQUESTS requests in flight it answers 529 ``overloaded_error`` with
   ``retry-after`` (/health and ``/`` are never refused);
2. it checks the client key from the scope's headers BEFORE reading the body (a wrong, disabled
   or expired key is a 401 in every mode; no key is anonymous only under GATEWAY_OPEN_ACCESS) and
   leaves the identity in the scope for ClientKeyAuth;
3. it refuses a Content-Length over MAX_REQUEST_BYTES (413) unread, cuts a longer chunked body
   off at the limit (413) and gives the body REQUEST_BODY_TIMEOUT seconds (408);
4. after the request it queues Django's close_old_connections in the ORM's thread (dbconn).

Under daphne, Twisted collects a body before the application sees it, so daphne_tuning applies
the same checks (via ``edge_precheck``) as the headers arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.asgi import ASGIHandler, ASGIRequest, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpResponse, HttpResponseBase
from django.urls import set_script_prefix
from ninja.errors import AuthenticationError

from clients.auth import (
    MISS,
    REFUSED,
    SCOPE_KEY,
    ClientIdentity,
    client_authenticate,
    client_key_cached,
    client_key_resolve,
    client_without_key,
    presented_key_in_headers,
)
from gateway.api.openai import is_openai_path, openai_error
from gateway.errors import error_body
from gateway.records import refusal_record
from runtime import dbconn, memory

logger = logging.getLogger("gateway.edge")
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
# Paths served with the full middleware stack (sessions, CSRF, auth): everything a person uses.
FULL_STACK_PREFIXES = ("/admin", "/dashboard", "/api/", "/static/", "/accounts")
# HEAD / probe, health checks, Prometheus (staff-checked), and what browsers ask for by themselves (404s,
# never "invalid key" refusals: a favicon request was counted as a 401 on the dashboard).
PUBLIC_PATHS = frozenset({"/", "/health", "/metrics", "/favicon.ico", "/robots.txt"})


class RequestAborted(Exception):
    pass


class BodyRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass
class Inflight:
    """API requests in flight in this process (one event loop, so a plain counter)."""

    count: int = 0
    refused: int = 0


INFLIGHT = Inflight()


def needs_client_key(path: str) -> bool:
    return path not in PUBLIC_PATHS and not path.startswith(FULL_STACK_PREFIXES)


def header_value(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def content_length_over(headers: Iterable[tuple[bytes, bytes]], limit: int) -> bool:
    raw = header_value(headers, b"content-length")
    return raw is not None and raw.strip().isdigit() and int(raw) > limit


def edge_error(path: str, status: int, error_type: str, message: str) -> HttpResponse:
    """A refusal in the dialect of the path (OpenAI's for chat completions, else Anthropic's)."""
    if is_openai_path(path):
        return openai_error(status, message, error_type)
    return HttpResponse(error_body(error_type, message), status=status, content_type="application/json")


def refusal_response(scope: Scope, status: int) -> HttpResponseBase:
    """The API's own 401/413 (dialect-shaped by proxy_project.api's handlers), or a 408/529."""
    from proxy_project.api import api  # the NinjaAPI imports every router: load it lazily

    path: str = scope["path"]
    if status in (408, 529):
        return body_timeout_response(path) if status == 408 else overloaded_response(path)
    try:
        request = ASGIRequest(scope, io.BytesIO(b""))
    except (UnicodeDecodeError, RequestDataTooBig):
        return edge_error(path, status, "invalid_request_error", "request refused")
    exc = AuthenticationError() if status == 401 else RequestDataTooBig("request body exceeds MAX_REQUEST_BYTES")
    response = api.on_exception(request, exc)
    if status == 413:
        response["connection"] = "close"  # the unread body must not be parsed as a next request
    return response


def overloaded_response(path: str) -> HttpResponse:
    response = edge_error(path, 529, "overloaded_error", "the gateway is at capacity; retry shortly")
    response["retry-after"] = str(settings.OVERLOAD_RETRY_AFTER)
    return response


def body_timeout_response(path: str) -> HttpResponse:
    message = f"the request body did not arrive within {settings.REQUEST_BODY_TIMEOUT:g} s"
    response = edge_error(path, 408, "timeout_error", message)
    response["connection"] = "close"
    return response


class ApiASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        self._middleware_chain = convert_exception_to_response(self._get_response_async)  # type: ignore[attr-defined]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        path: str = scope["path"]
        if path in PUBLIC_PATHS:
            await self._serve(scope, receive, send)
        elif INFLIGHT.count >= settings.MAX_INFLIGHT_REQUESTS:
            INFLIGHT.refused += 1
            refusal_note(path=path, headers=scope["headers"], status=529)
            await self.send_response(overloaded_response(path), send)
        else:
            INFLIGHT.count += 1
            memory.inflight_changed(INFLIGHT.count)
            try:
                await self._serve(scope, receive, send)
            finally:
                INFLIGHT.count -= 1
                memory.inflight_changed(INFLIGHT.count)
        dbconn.cleanup_schedule()

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = await self._admit(scope)
        if refusal is not None:
            await self.send_response(refusal, send)
            return
        try:
            body = await _read_body(receive, limit=settings.MAX_REQUEST_BYTES, seconds=settings.REQUEST_BODY_TIMEOUT)
        except RequestAborted:
            return
        except BodyRefused as exc:
            refusal_note(path=scope["path"], headers=scope["headers"], status=exc.status, identity=scope.get(SCOPE_KEY))
            await self.send_response(refusal_response(scope, exc.status), send)
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, io.BytesIO(body))
        if request is None:
            assert error_response is not None
            await self.send_response(error_response, send)
            return
        responder = asyncio.create_task(self._respond(request, send))
        listener = asyncio.create_task(_listen_for_disconnect(receive))
        _, pending = await asyncio.wait((responder, listener), return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()  # a client that left cancels the view (and its upstream request)
        if pending:
            await asyncio.wait(pending)
        # Read the outcome without awaiting: an exception raised through this frame would tie it,
        # the tasks and the request into a reference cycle that only a full gc pass frees (seen
        # as ~80 objects of garbage per request after a burst).
        failure = None if responder.cancelled() else responder.exception()
        if failure is not None:
            raise failure

    async def _admit(self, scope: Scope) -> HttpResponseBase | None:
        """401 or 413 from the headers alone (nothing read yet); on success the identity is in the scope."""
        if not needs_client_key(scope["path"]):
            return None
        headers = scope["headers"]
        identity: ClientIdentity | None = await client_authenticate(key=presented_key_in_headers(headers))
        scope[SCOPE_KEY] = identity if identity is not None else REFUSED
        if identity is None:
            refusal_note(path=scope["path"], headers=headers, status=401, identity=REFUSED)
            return refusal_response(scope, 401)
        if content_length_over(headers, settings.MAX_REQUEST_BYTES):
            refusal_note(path=scope["path"], headers=headers, status=413, identity=identity)
            return refusal_response(scope, 413)
        return None

    async def _respond(self, request: Any, send: Send) -> None:
        response = _api_shaped(await self.get_response_async(request), request.path)
        try:
            direct = getattr(response, "asgi_body", None)  # gateway.streaming.StreamResponse
            if direct is not None:
                # The stream's own task writes each chunk as it reads it (no body iterator between).
                await send({"type": "http.response.start", "status": response.status_code,
                            "headers": _asgi_headers(response)})
                await direct(send)
            else:
                await self.send_response(response, send)
        except asyncio.CancelledError:
            pass
        finally:
            _close(response)


def _asgi_headers(response: HttpResponseBase) -> list[tuple[bytes, bytes]]:
    """The response's headers and cookies as ASGI's ``http.response.start`` carries them (as
    Django's ``ASGIHandler.send_response`` encodes them)."""
    headers = [(name.encode("ascii"), value.encode("latin1")) for name, value in response.items()]
    for cookie in response.cookies.values():
        headers.append((b"Set-Cookie", cookie.output(header="").encode("ascii").strip()))
    return headers


def _api_shaped(response: HttpResponseBase, path: str) -> HttpResponseBase:
    """Django's own 404/405 pages are HTML; API clients get Anthropic-shaped JSON errors."""
    if response.status_code not in (404, 405) or response.get("Content-Type", "").startswith("application/json"):
        return response
    if response.status_code == 404:
        shaped = HttpResponse(error_body("not_found_error", f"no such endpoint: {path}"), status=404,
                              content_type="application/json")
    else:
        shaped = HttpResponse(error_body("invalid_request_error", f"method not allowed on {path}"), status=405,
                              content_type="application/json")
        if response.has_header("Allow"):
            shaped["Allow"] = response["Allow"]
    _close(response)
    return shaped


async def _read_body(receive: Receive, *, limit: int, seconds: float) -> bytes:
    """The whole body; BodyRefused(413) past ``limit`` bytes, BodyRefused(408) after ``seconds``."""
    parts: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise RequestAborted()
                chunk = message.get("body", b"")
                if chunk:
                    size += len(chunk)
                    if size > limit:
                        raise BodyRefused(413)
                    parts.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(parts) if len(parts) != 1 else parts[0]
    except TimeoutError:
        raise BodyRefused(408) from None


async def _listen_for_disconnect(receive: Receive) -> None:
    """Returns when the client disconnects (a body message after the body cannot come)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _close(response: HttpResponseBase) -> None:
    # HttpResponse.close() would fire request_finished, whose receivers (close_old_connections)
    # are sync and meant for sync views; API responses only need their resources closed (the
    # connection cleanup is queued by ApiASGIHandler.handle, in the thread that holds them).
    closers: list[Callable[[], Any]] = getattr(response, "_resource_closers", [])
    for closer in closers:
        with contextlib.suppress(Exception):
            closer()
    closers.clear()
    response.closed = True


# --- The same checks as the headers arrive (daphne_tuning's Twisted request calls these) ---------


def edge_precheck(*, path: str, headers: list[tuple[bytes, bytes]], length: int | None
                  ) -> int | None | Coroutine[Any, Any, int | None]:
    """The refusal status (401/413) for a request whose body has not been read, None to go on,
    or a coroutine giving one of those when the key is not in the in-process cache yet."""
    if needs_client_key(path):
        key = presented_key_in_headers(headers)
        if not key:
            if client_without_key() is None:
                return 401
        else:
            cached = client_key_cached(key)
            if cached is MISS:
                return _key_then_length(key, length)
            if cached is None:
                return 401
    return _length_status(length)


async def _key_then_length(key: str, length: int | None) -> int | None:
    if await client_key_resolve(key) is None:
        return 401
    return _length_status(length)


def _length_status(length: int | None) -> int | None:
    return 413 if length is not None and length > settings.MAX_REQUEST_BYTES else None


def refusal_bytes(*, path: str, method: str, headers: list[tuple[bytes, bytes]], status: int) -> bytes:
    """A whole HTTP/1.1 refusal (401/408/413/529) with ``Connection: close``, for writing raw."""
    refusal_note(path=path, headers=headers, status=status)
    scope: Scope = {"type": "http", "path": path, "method": method, "headers": headers,
                    "query_string": b"", "root_path": "", "http_version": "1.1"}
    response = refusal_response(scope, status)
    response["connection"] = "close"
    body = response.content if isinstance(response, HttpResponse) else b""
    response["content-length"] = str(len(body))
    reason = response.reason_phrase.encode("latin-1")
    return b"HTTP/1.1 %d %s\r\n%s\r\n\r\n%s" % (status, reason, response.serialize_headers(), body)




# --- Refusals are request rows too (README "Numbers") -----------------------------------------------

REFUSAL_REASONS = {401: "bad_key", 408: "body_timeout", 413: "too_large", 529: "shed"}


def refusal_note(*, path: str, headers: Iterable[tuple[bytes, bytes]], status: int,
                 identity: ClientIdentity | str | None = None) -> None:
    """Queue the refusal's row (dashboard.services.refusal_record). The key is the identity the
    edge found, else the presented key's cached identity (no lookup: a shed flood costs a hash)."""
    if not needs_client_key(path):
        return
    if identity is None:
        key = presented_key_in_headers(headers)
        cached = client_key_cached(key) if key and status != 401 else None
        identity = cached if isinstance(cached, ClientIdentity) else None
    who = identity if isinstance(identity, ClientIdentity) else None
    try:
        refusal_record(key_id=who.key_id if who else None, client_name=who.name if who else "",
                       status=status, reason=REFUSAL_REASONS.get(status, str(status)),
                       endpoint=path.rsplit("/", 1)[-1] or "/")
    except Exception:  # counting a refusal never turns it into a 500
        logger.exception("could not record a %d refusal", status)
