"""Client authentication: the gateway's own keys, by ``x-api-key`` or ``Authorization: Bearer``.

A presented key must be a known, enabled key (``ClientKey.objects.enabled()``) in every mode:
``GATEWAY_OPEN_ACCESS`` serves only requests that carry NO key, so a key's limits cannot be
bypassed by mistyping it. The API handler checks the key from the ASGI scope's headers before it
reads the body and leaves the identity in the scope (SCOPE_KEY); ClientKeyAuth reuses it.

Lookups are cached in-process for CLIENT_KEY_CACHE_TTL seconds, so the request path touches the
database once per key per interval; a disabled or deleted key stops working within that delay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from django.conf import settings
from django.http import HttpRequest

from clients.models import ClientKey
from runtime import resets
from runtime.outage import DATABASE, DATABASE_ERRORS
from runtime.ttlcache import MISS, TTLCache


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    key_id: int | None
    name: str


ANONYMOUS = ClientIdentity(None, "open-access")
# Where the API handler leaves the request's ClientIdentity (or REFUSED) in the ASGI scope.
SCOPE_KEY: Final = "gateway.client_identity"
REFUSED: Final = "refused"
# key hash -> identity (None: refused); one per process, stale entries serve during a database outage
_cache: TTLCache[str, ClientIdentity | None] = TTLCache(lambda: settings.CLIENT_KEY_CACHE_TTL, maxsize=10_000)


def presented_key(request: HttpRequest) -> str:
    meta = request.META
    return _key_of(str(meta.get("HTTP_X_API_KEY", "")), str(meta.get("HTTP_AUTHORIZATION", "")))


def presented_key_in_headers(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The key in raw ASGI/Twisted headers (lower-case names), before Django parses anything."""
    api_key = authorization = ""
    for name, value in headers:
        if name == b"x-api-key":
            api_key = value.decode("latin-1")
        elif name == b"authorization":
            authorization = value.decode("latin-1")
    return _key_of(api_key, authorization)


def _key_of(api_key: str, authorization: str) -> str:
    if api_key.strip():
        return api_key.strip()
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def client_key_cached(key: str) -> ClientIdentity | None | object:
    """The cached answer for ``key`` (an identity, or None for a refused key), else MISS."""
    return _cache.get(ClientKey.hash_key(key))


async def client_key_resolve(key: str) -> ClientIdentity | None:
    """The identity behind ``key``, or None. Query (on cache miss): one enabled ClientKey by hash."""
    cached = client_key_cached(key)
    if cached is not MISS:
        return cached  # type: ignore[return-value]
    digest = ClientKey.hash_key(key)
    try:
        row = await ClientKey.objects.enabled().filter(key_hash=digest).only("id", "name").afirst()
    except DATABASE_ERRORS as exc:
        stale = _cache.stale(digest)
        if stale is MISS:
            raise  # a key never seen cannot be vouched for while the database is away
        DATABASE.failed(exc)  # stale-if-error: the last answer, asked again after the TTL
        identity = stale
    else:
        identity = ClientIdentity(row.pk, row.name) if row is not None else None
    _cache.set(digest, identity)
    return identity


def client_without_key() -> ClientIdentity | None:
    """A request with no key: anonymous under open access, else refused."""
    return ANONYMOUS if settings.GATEWAY_OPEN_ACCESS else None


async def client_authenticate(*, key: str) -> ClientIdentity | None:
    """The identity for a request presenting ``key`` ("" for none), or None for a 401."""
    if key:
        return await client_key_resolve(key)
    return client_without_key()


@resets.register
def client_key_cache_clear() -> None:
    _cache.clear()


class ClientKeyAuth:
    """ninja auth callable (async): returns the ClientIdentity, or None for a 401."""

    is_async = True

    async def __call__(self, request: HttpRequest) -> ClientIdentity | None:
        scope = getattr(request, "scope", None)
        if scope is not None and SCOPE_KEY in scope:  # checked by the API handler before the body
            found = scope[SCOPE_KEY]
            return found if isinstance(found, ClientIdentity) else None
        return await client_authenticate(key=presented_key(request))
