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

from providers.adapters.base import (
    AdapterError,
    ChatRequest,
    ChatResponse,
    Target,
    UpstreamRequest,
    probe_chat,
)
from providers.adapters.gemini.errors import classify_error
from providers.adapters.gemini.request import translate_request, upstream_url, versioned_base
from providers.adapters.gemini.response import translate_response
from providers.adapters.gemini.stream import GeminiStreamTranslator
from providers.adapters.gemini.vertex import vertex_url
from providers.adapters.openai_compat import models_probe
from providers.adapters.spec import (
    GENERATION,
    GOOGLE_OAUTH,
    PROBE_MODEL,
    REGION,
    AuthSpec,
    KindSpec,
    Option,
)

__all__ = ["GeminiAdapter", "GeminiStreamTranslator", "GeminiVertexAdapter"]

GEMINI_OPTIONS: dict[str, Option] = {
    **GENERATION,
    "schema_drop_keywords": Option("str_set", "JSON-schema keywords removed from tool schemas"),
}


class _GeminiWire:
    """The generateContent translation both Gemini endpoints share; ``upstream_url`` is where
    the endpoints differ (with how client.py authenticates: the subclasses' ``spec.auth``)."""

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
    spec: ClassVar[KindSpec] = KindSpec(
        label="Google Gemini native API (generateContent, thought signatures)",
        # an API key travels in x-goog-api-key (bearer/OAuth auth types still send a Bearer token)
        auth=AuthSpec(key_header="x-goog-api-key", key_prefix=""),
        options=GEMINI_OPTIONS,
    )

    def probe(self, target: Target) -> UpstreamRequest:
        """GET models (models.list): the cheap keyed read."""
        return models_probe(target, versioned_base(target.base_url))


class GeminiVertexAdapter(_GeminiWire):
    """Gemini on Vertex AI: project/location URLs (vertex.py), Google OAuth access tokens minted by
    client.py from a stored service-account key or Application Default Credentials (as for the
    ``vertex`` kind; a plain stored secret is sent as a Bearer access token)."""

    kind: ClassVar[str] = "gemini_vertex"
    spec: ClassVar[KindSpec] = KindSpec(
        label="Google Gemini on Vertex AI (generateContent, Google OAuth)",
        auth=GOOGLE_OAUTH,
        options={**GEMINI_OPTIONS, "project": Option("str", "Google Cloud project id"), "region": REGION,
                 "probe_model": PROBE_MODEL},
        probe_model="gemini-2.5-flash-lite",  # the cheapest Gemini; set probe_model where it is not served
    )

    def upstream_url(self, target: Target, stream: bool) -> str:
        return vertex_url(target, stream)

    def probe(self, target: Target) -> UpstreamRequest:
        """A one-token generateContent of ``target.model`` at the provider's project and location.

        It needs what requests need (a token Google accepts, the project, the location, the model);
        ``:countTokens`` would check the same for free once the fake upstream speaks it.
        """
        return self.translate_request(probe_chat(target.model), target)
