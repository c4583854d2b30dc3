"""The one network seam: a shared httpx.AsyncClient, credentials applied here and nowhere else.

Tests swap the transport with ``set_transport()`` (an ``httpx.MockTransport`` or a real one).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from django.conf import settings

from providers import crypto
from providers.adapters.base import UpstreamRequest
from routing.resolution import ProviderConfig

_clients: dict[int, httpx.AsyncClient] = {}
_transport: httpx.AsyncBaseTransport | None = None
_secrets: dict[str, str] = {}


@dataclass(slots=True)
class Reply:
    status: int
    headers: httpx.Headers
    body: bytes


def set_transport(transport: httpx.AsyncBaseTransport | None) -> None:
    """Test seam: route every upstream call through ``transport`` (None restores the network)."""
    global _transport
    _transport = transport
    _clients.clear()


def get_client() -> httpx.AsyncClient:
    """The process-wide client for the running event loop (one per loop: tests start several)."""
    loop_id = id(asyncio.get_running_loop())
    client = _clients.get(loop_id)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            transport=_transport,
            timeout=httpx.Timeout(
                connect=settings.CONNECT_TIMEOUT, read=settings.REQUEST_TIMEOUT, write=60.0, pool=30.0
            ),
            limits=httpx.Limits(
                max_connections=settings.UPSTREAM_MAX_CONNECTIONS,
                max_keepalive_connections=min(100, settings.UPSTREAM_MAX_CONNECTIONS),
                keepalive_expiry=30.0,
            ),
            follow_redirects=False,
            trust_env=False,
        )
        _clients[loop_id] = client
    return client


async def aclose_all() -> None:
    for client in list(_clients.values()):
        await client.aclose()
    _clients.clear()


def _secret(provider: ProviderConfig) -> str:
    enc = provider.api_key_encrypted
    if not enc:
        return ""
    plain = _secrets.get(enc)
    if plain is None:
        plain = crypto.decrypt(enc)
        _secrets[enc] = plain
    return plain


def auth_headers(provider: ProviderConfig) -> dict[str, str]:
    """The credential headers for ``provider`` (the only place a secret is decrypted)."""
    key = _secret(provider)
    if not key or provider.auth_type == "none":
        return {}
    if provider.auth_type == "header" and provider.auth_header:
        return {provider.auth_header: key}
    if provider.auth_type in ("bearer", "oauth"):
        return {"authorization": f"Bearer {key}"}
    if provider.kind == "anthropic":
        return {"x-api-key": key}
    return {"authorization": f"Bearer {key}"}


def _timeout(provider: ProviderConfig) -> httpx.Timeout | None:
    if provider.timeout:
        return httpx.Timeout(connect=settings.CONNECT_TIMEOUT, read=provider.timeout, write=60.0, pool=30.0)
    return None


def _build(up: UpstreamRequest, provider: ProviderConfig) -> httpx.Request:
    client = get_client()
    headers = {**up.headers, **auth_headers(provider)}
    timeout = _timeout(provider)
    if timeout is None:
        return client.build_request("POST", up.url, content=up.body, headers=headers)
    return client.build_request("POST", up.url, content=up.body, headers=headers, timeout=timeout)


async def send(up: UpstreamRequest, provider: ProviderConfig) -> Reply:
    response = await get_client().send(_build(up, provider))
    return Reply(response.status_code, response.headers, response.content)


@asynccontextmanager
async def stream(up: UpstreamRequest, provider: ProviderConfig) -> AsyncIterator[httpx.Response]:
    response = await get_client().send(_build(up, provider), stream=True)
    try:
        yield response
    finally:
        await response.aclose()
