"""Client authentication: the gateway's own keys, by ``x-api-key`` or ``Authorization: Bearer``.

Lookups are cached in-process for CLIENT_KEY_CACHE_TTL seconds, so the request path touches the
database once per key per interval; a disabled or deleted key stops working within that delay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest

from providers.models import ClientKey


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    key_id: int | None
    name: str


ANONYMOUS = ClientIdentity(None, "open-access")
_cache: dict[str, tuple[float, ClientIdentity | None]] = {}


def presented_key(request: HttpRequest) -> str:
    meta = request.META
    key = meta.get("HTTP_X_API_KEY", "")
    if key:
        return str(key).strip()
    auth = str(meta.get("HTTP_AUTHORIZATION", ""))
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    return ""


async def client_key_resolve(key: str) -> ClientIdentity | None:
    """The identity behind ``key``, or None. Query (on cache miss): one ClientKey by hash."""
    digest = ClientKey.hash_key(key)
    now = time.monotonic()
    hit = _cache.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    row = await ClientKey.objects.enabled().filter(key_hash=digest).only("id", "name").afirst()
    identity = ClientIdentity(row.pk, row.name) if row is not None else None
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[digest] = (now + settings.CLIENT_KEY_CACHE_TTL, identity)
    return identity


def client_key_cache_clear() -> None:
    _cache.clear()


class ClientKeyAuth:
    """ninja auth callable (async): returns the ClientIdentity, or None for a 401."""

    is_async = True

    async def __call__(self, request: HttpRequest) -> ClientIdentity | None:
        key = presented_key(request)
        if key:
            identity = await client_key_resolve(key)
            if identity is not None:
                return identity
        if settings.GATEWAY_OPEN_ACCESS:
            return ANONYMOUS
        return None
