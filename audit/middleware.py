from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from django.utils.decorators import sync_and_async_middleware

from audit.context import actor_scope


@sync_and_async_middleware
def audit_actor_middleware(get_response: Callable[[HttpRequest], Any]) -> Any:
    """Make the request visible to the audit receivers; async-capable, so the request path stays
    async (a sync-only middleware would push every API call through a thread)."""
    if iscoroutinefunction(get_response):
        async_get: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = get_response

        async def amiddleware(request: HttpRequest) -> HttpResponseBase:
            with actor_scope(None, request):
                return await async_get(request)

        return amiddleware

    def middleware(request: HttpRequest) -> HttpResponseBase:
        with actor_scope(None, request):
            response: HttpResponseBase = get_response(request)
            return response

    return middleware
