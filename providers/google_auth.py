"""Google OAuth access tokens for Vertex AI providers, cached per provider, refreshed before expiry.

A provider stores a service-account JSON key (encrypted, like any API key; providers/client.py
decrypts it and hands the parsed object here), or nothing, in which case Application Default
Credentials are used (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's user credentials, the GCE/GKE
metadata server). google-auth mints the token (a signed JWT exchanged at the key's ``token_uri``)
over its public ``requests`` transport with an explicit timeout.

Minting blocks (a token endpoint, or the metadata server for ADC), so it runs in a worker thread
through ``agoogle_token_get``; a token that is still good for longer than REFRESH_MARGIN is
answered on the event loop without a thread hop. One lock per provider makes the refresh
single-flight within the process: concurrent requests at expiry wait for one mint and reuse it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any

import httpx
from asgiref.sync import sync_to_async

from runtime import resets

if TYPE_CHECKING:  # google-auth pulls in its crypto stack: loaded on the first Vertex request only
    from google.auth.credentials import Credentials

logger = logging.getLogger("gateway.google_auth")

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# Refresh this long before the token expires: a request that starts with a token must not have it
# expire while its stream runs for minutes (Google's tokens live an hour).
REFRESH_MARGIN = 300.0
TOKEN_TIMEOUT = 15.0  # seconds, for one token-endpoint (or metadata-server) exchange
MAX_ENTRIES = 256     # rotated keys must not pile up in memory


class GoogleCredentialsError(httpx.RequestError):
    """No usable Google credentials for a provider (a provider failure, like an unreachable host)."""


@dataclass
class _Entry:
    credentials: Credentials | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    mints: int = 0


_entries: dict[str, _Entry] = {}
_entries_lock = threading.Lock()

def _expires_at(credentials: Credentials) -> float | None:
    expiry = credentials.expiry  # naive UTC, as google-auth keeps it
    return None if expiry is None else expiry.replace(tzinfo=UTC).timestamp()


def _fresh(entry: _Entry | None, now: float) -> str | None:
    """The cached token when it outlives the margin, else None."""
    creds = entry.credentials if entry is not None else None
    if creds is None or not creds.token:
        return None
    until = _expires_at(creds)
    if until is not None and until - REFRESH_MARGIN <= now:
        return None
    return str(creds.token)


def _entry(cache_key: str) -> _Entry:
    with _entries_lock:
        entry = _entries.get(cache_key)
        if entry is None:
            if len(_entries) >= MAX_ENTRIES:
                _entries.clear()
            entry = _entries[cache_key] = _Entry()
        return entry


def _transport(session: Any) -> Any:
    """google-auth's public requests transport over ``session``, with a timeout on every exchange."""
    import google.auth.transport
    import google.auth.transport.requests

    inner = google.auth.transport.requests.Request(session=session)

    class TimedRequest(google.auth.transport.Request):
        def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None,
                     timeout: float | None = None, **kwargs: Any) -> Any:
            return inner(url, method=method, body=body, headers=headers, timeout=timeout or TOKEN_TIMEOUT, **kwargs)

    return TimedRequest()


def _credentials(info: Mapping[str, Any] | None) -> Credentials:
    """Scoped credentials from a service-account key, or Application Default Credentials."""
    import google.auth
    import google.auth.exceptions
    from google.oauth2 import service_account

    try:
        if info is not None:
            return service_account.Credentials.from_service_account_info(dict(info), scopes=list(SCOPES))
        creds, _project = google.auth.default(scopes=list(SCOPES))
        return creds
    except (ValueError, KeyError, google.auth.exceptions.GoogleAuthError) as exc:
        source = "the stored service-account key" if info is not None else "Application Default Credentials"
        logger.warning("no usable Google credentials from %s: %s", source, exc)
        raise GoogleCredentialsError(f"no usable Google credentials from {source}: {exc}") from None


def google_token_get(*, cache_key: str, info: Mapping[str, Any] | None, now: float | None = None) -> str:
    """The provider's access token, minted or refreshed first when it expires within REFRESH_MARGIN.

    Blocking (token endpoint, metadata server): call ``agoogle_token_get`` from async code.
    """
    import google.auth.exceptions
    import requests

    entry = _entry(cache_key)
    with entry.lock:  # single flight: one mint per provider at a time; the others reuse it
        clock = time.time() if now is None else now
        token = _fresh(entry, clock)
        if token is not None:
            return token
        if entry.credentials is None:
            entry.credentials = _credentials(info)
        try:
            with requests.Session() as session:
                session.trust_env = False  # no proxy variables: the gateway's own client ignores them too
                entry.credentials.refresh(_transport(session))
        except google.auth.exceptions.GoogleAuthError as exc:
            # The client sees "upstream connection failed"; the reason is for the operator's log.
            logger.warning("Google token refresh failed for %s: %s", cache_key.partition(":")[0], exc)
            raise GoogleCredentialsError(f"Google token refresh failed: {exc}") from None
        entry.mints += 1
        if not entry.credentials.token:
            raise GoogleCredentialsError("Google token endpoint answered without an access token")
        return str(entry.credentials.token)


# The named bridge: off the event loop, and not on the thread the sync ORM work shares.
_google_token_get_async = sync_to_async(google_token_get, thread_sensitive=False)


async def agoogle_token_get(*, cache_key: str, info: Mapping[str, Any] | None, now: float | None = None) -> str:
    """``google_token_get`` for the request path: a fresh cached token without leaving the loop."""
    token = _fresh(_entries.get(cache_key), time.time() if now is None else now)
    if token is not None:
        return token
    return await _google_token_get_async(cache_key=cache_key, info=info, now=now)


def google_token_mints(cache_key: str) -> int:
    """How many tokens this process minted for ``cache_key`` (for the admin and tests)."""
    entry = _entries.get(cache_key)
    return entry.mints if entry is not None else 0


@resets.register
def google_tokens_forget() -> None:
    """Drop every cached credential (a key was replaced; tests)."""
    with _entries_lock:
        _entries.clear()
