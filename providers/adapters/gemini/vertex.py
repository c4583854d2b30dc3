"""Gemini on Vertex AI: the same ``generateContent`` wire, addressed by project and location.

``{host}/v1/projects/{project}/locations/{region}/publishers/google/models/{model}:generateContent``
(``:streamGenerateContent?alt=sse`` for streams), where the host is the location's endpoint
(``{region}-aiplatform.googleapis.com``; ``aiplatform.googleapis.com`` for ``global``, which the
Gemini 3 previews require). The body is the Developer API's: Vertex additionally insists on a
``role`` on every content, which the request half always writes. Authentication is a Google OAuth
access token that ``providers/client.py`` mints (the adapter's ``auth_scheme``); this module, like
every adapter, never sees it.
"""

from __future__ import annotations

from urllib.parse import quote

from providers.adapters.base import AdapterError, Target
from providers.adapters.vertex import GLOBAL_REGION, GOOGLE_ENDPOINT, REGION_PLACEHOLDER, default_base_url

API_VERSIONS = ("/v1", "/v1beta1")
PUBLISHER_PATH = "/publishers/google/models/"


def vertex_base(target: Target, region: str) -> str:
    """The versioned endpoint: the base URL as given (a test double, a private endpoint), or the
    location's own host when the base is Google's generic one or names ``{region}``."""
    base = target.base_url.strip().rstrip("/")
    if not base or REGION_PLACEHOLDER in base or base.removesuffix("/v1") == GOOGLE_ENDPOINT:
        base = default_base_url(region)
    return base if base.endswith(API_VERSIONS) else base + "/v1"


def model_id(name: str) -> str:
    """``gemini-2.5-pro``; a resource path (``publishers/google/models/gemini-2.5-pro``) or a
    ``google/`` prefix names the same model."""
    if PUBLISHER_PATH.lstrip("/") in name:
        return name.rsplit("/", 1)[-1]
    return name.removeprefix("google/")


def vertex_url(target: Target, stream: bool) -> str:
    if not target.project:
        raise AdapterError(f"provider {target.provider or 'gemini_vertex'} has no Google Cloud project "
                           "(options.project)", status=502, retryable=True)
    region = target.region or GLOBAL_REGION
    verb = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return (f"{vertex_base(target, region)}/projects/{quote(target.project, safe='')}"
            f"/locations/{quote(region, safe='')}{PUBLISHER_PATH}{quote(model_id(target.model), safe='@')}:{verb}")
