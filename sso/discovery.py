"""The OpenID provider's endpoints from its discovery document, fetched once per process.

Fetched at the first sign-in, never at import: a provider that is down must not stop the gateway
from starting (local passwords keep working).
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
from django.conf import settings

from runtime import resets

# mozilla-django-oidc setting -> discovery document key.
ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_LOGOUT_ENDPOINT": "end_session_endpoint",
}

_documents: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()


def discovery_document(issuer: str) -> dict[str, Any]:
    """``ISSUER/.well-known/openid-configuration``, cached; raises httpx.HTTPError or ValueError."""
    with _lock:
        if issuer in _documents:
            return _documents[issuer]
    url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
    response = httpx.get(url, timeout=settings.OIDC_TIMEOUT, follow_redirects=False)
    response.raise_for_status()
    document = response.json()
    if not isinstance(document, dict) or document.get("issuer", "").rstrip("/") != issuer.rstrip("/"):
        raise ValueError(f"{url} does not describe the issuer {issuer}")
    with _lock:
        _documents[issuer] = document
    return document


def oidc_setting(attr: str, *default: Any) -> Any:
    """A mozilla-django-oidc setting; an endpoint left empty comes from the discovery document."""
    value = getattr(settings, attr, None)
    if attr in ENDPOINTS and not value and settings.OIDC_ISSUER:
        return discovery_document(settings.OIDC_ISSUER).get(ENDPOINTS[attr]) or (default[0] if default else None)
    if value is None:
        if default:
            return default[0]
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"Setting {attr} not found")
    return value


@resets.register
def discovery_forget() -> None:
    with _lock:
        _documents.clear()
