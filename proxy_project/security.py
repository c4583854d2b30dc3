"""Browser-facing defences for the pages staff use (admin, dashboard, API docs).

- ``ContentSecurityPolicyMiddleware``: a policy on every HTML page of the full stack. Scripts
  come only from our own static files (htmx, its websocket extension, Swagger UI); inline
  ``<style>`` stays allowed because the dashboard, the admin and Swagger UI use it; the dashboard's
  websocket is same-origin (``connect-src 'self'`` covers ws/wss in CSP level 3 browsers).
- ``SettingsOriginValidator``: the dashboard websocket accepts a handshake only from an Origin
  named by ALLOWED_HOSTS or CSRF_TRUSTED_ORIGINS; ``*`` in ALLOWED_HOSTS allows no origin here.
  Browsers send cookies with cross-site websocket handshakes, so without this any page could
  open the dashboard's live feed with a staff session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import ParseResult

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.http import HttpRequest, HttpResponse

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.get("Content-Type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


def websocket_origins(*, hosts: Iterable[str], trusted: Iterable[str]) -> list[str]:
    """channels origin patterns from ALLOWED_HOSTS (minus ``*``) and CSRF_TRUSTED_ORIGINS.

    Django writes a trusted subdomain wildcard as ``https://*.example.com``; channels spells it
    ``https://.example.com``."""
    patterns = [host for host in hosts if host != "*"]
    patterns += [origin.replace("://*.", "://.", 1) for origin in trusted if origin != "*"]
    return patterns


class SettingsOriginValidator(OriginValidator):
    """channels' OriginValidator reading its list from settings at each handshake (so a test's
    ``override_settings`` and Django's test ``testserver`` host apply)."""

    def __init__(self, application: Any) -> None:
        super().__init__(application, [])

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        if parsed_origin is None:
            return False  # a browser always sends Origin; scripts without one use the HTTP API
        patterns = websocket_origins(hosts=settings.ALLOWED_HOSTS, trusted=settings.CSRF_TRUSTED_ORIGINS)
        return any(self.match_allowed_origin(parsed_origin, pattern) for pattern in patterns)
