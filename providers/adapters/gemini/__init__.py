"""Google Gemini's native API (``generateContent`` / ``streamGenerateContent?alt=sse``).

Native rather than the OpenAI-compatible layer because only the native API carries
``thoughtSignature`` between tool turns, without which Gemini's thinking models degrade (and
Gemini 3 refuses the turn). ``request`` translates the Anthropic request, ``stream`` the SSE chunks,
``response`` a complete reply (folded from the stream rules), ``errors`` the error answers; ``vertex``
the same wire's address on Vertex AI (the ``gemini_vertex`` kind).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from providers.adapters.base import AdapterError, ChatRequest, ChatResponse, Target, UpstreamRequest
from providers.adapters.gemini.errors import classify_error
from providers.adapters.gemini.request import translate_request, upstream_url, versioned_base
from providers.adapters.gemini.response import translate_response
from providers.adapters.gemini.stream import GeminiStreamTranslator
from providers.adapters.gemini.vertex import vertex_url

__all__ = ["GeminiAdapter", "GeminiStreamTranslator", "GeminiVertexAdapter"]


class _GeminiWire:
    """The generateContent translation both Gemini endpoints share; ``upstream_url`` is where
    the endpoints differ (with how client.py authenticates: the subclasses' class attributes)."""

    def upstream_url(self, target: Target, stream: bool) -> str:
        return upstream_url(target, stream)

    def translate_request(self, req: ChatRequest, target: Target) -> UpstreamRequest:
        return translate_request(req, target, self.upstream_url(target, req.stream))

    def translate_response(self, status: int, body: Mapping[str, Any], up: UpstreamRequest) -> ChatResponse:
        return translate_response(status, body, up)

    def stream_translator(self, up: UpstreamRequest) -> GeminiStreamTranslator:
        return GeminiStreamTranslator(up)

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> AdapterError:
        return classify_error(status, body, headers)


class GeminiAdapter(_GeminiWire):
    """The Gemini Developer API (generativelanguage.googleapis.com) with an API key."""

    kind: ClassVar[str] = "gemini"
    # the header an API key travels in (client.py applies it; bearer/OAuth auth types still win)
    auth_header: ClassVar[str] = "x-goog-api-key"

    def models_url(self, base_url: str) -> str:
        """The cheap keyed read the health check GETs (models.list)."""
        return versioned_base(base_url) + "/models"


class GeminiVertexAdapter(_GeminiWire):
    """Gemini on Vertex AI: project/location URLs (vertex.py), Google OAuth access tokens minted by
    client.py from a stored service-account key or Application Default Credentials (as for the
    ``vertex`` kind; a plain stored secret is sent as a Bearer access token). No health check: the
    probe has no Google token (like ``vertex``)."""

    kind: ClassVar[str] = "gemini_vertex"
    auth_scheme: ClassVar[str] = "google"

    def upstream_url(self, target: Target, stream: bool) -> str:
        return vertex_url(target, stream)
