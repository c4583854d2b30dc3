"""A lean Django ASGI handler for the gateway API (/v1/..., /health, HEAD /).

Django's stock ASGI handler costs several thread hops per request: every sync middleware, the
request_started/request_finished signals (their receivers are sync) and a per-request
ThreadSensitiveContext (a fresh executor thread). The API needs none of them: its views are
async, authenticate with client keys (no sessions, CSRF or messages) and never use the sync ORM.
This handler keeps Django's request object, URL resolver and ninja views, and drops the rest.
The admin and dashboard keep the full stack (proxy_project/asgi.py routes by path).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpResponse, HttpResponseBase
from django.urls import set_script_prefix

from providers.services.errors import error_body

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


class RequestAborted(Exception):
    pass


class ApiASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        self._middleware_chain = convert_exception_to_response(self._get_response_async)  # type: ignore[attr-defined]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        try:
            body = await _read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, io.BytesIO(body))
        if request is None:
            assert error_response is not None
            await self.send_response(error_response, send)
            return
        tasks = [
            asyncio.create_task(_listen_for_disconnect(receive)),
            asyncio.create_task(self._respond(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if not task.done():
                task.cancel()  # a client that left cancels the view (and its upstream request)
            with contextlib.suppress(asyncio.CancelledError, RequestAborted):
                await task

    async def _respond(self, request: Any, send: Send) -> None:
        response = _api_shaped(await self.get_response_async(request), request.path)
        try:
            await self.send_response(response, send)
        except asyncio.CancelledError:
            pass
        finally:
            _close(response)


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


async def _read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestAborted()
        if message.get("body"):
            parts.append(message["body"])
        if not message.get("more_body", False):
            return b"".join(parts) if len(parts) != 1 else parts[0]


async def _listen_for_disconnect(receive: Receive) -> None:
    message = await receive()
    if message["type"] == "http.disconnect":
        raise RequestAborted()


def _close(response: HttpResponseBase) -> None:
    # HttpResponse.close() would fire request_finished, whose receivers (close_old_connections)
    # are sync and meant for sync views; API responses only need their resources closed.
    closers: list[Callable[[], Any]] = getattr(response, "_resource_closers", [])
    for closer in closers:
        with contextlib.suppress(Exception):
            closer()
    closers.clear()
    response.closed = True
