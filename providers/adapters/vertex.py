"""Google Vertex AI (Anthropic models) via ``rawPredict`` / ``streamRawPredict``.

The body is the Anthropic Messages body with ``anthropic_version: vertex-2023-10-16`` and without
``model``: the model is in the URL,
``{base}/v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:rawPredict``
(``:streamRawPredict`` for streams, whose body keeps ``stream: true``). Beta flags travel in the
``anthropic-beta`` header as for Anthropic. Vertex answers with the Anthropic message and streams
Anthropic SSE, so the passthrough's stream reader and error classes serve it unchanged.

Claude model names map to Vertex ids (``claude-sonnet-4-5-20250929`` -> ``claude-sonnet-4-5@20250929``)
through ``MODEL_IDS`` (overridable with ``Target.model_map``); an id with ``@`` is used as is.
``normalize_model`` turns the Vertex ids Claude Code sends in Vertex mode back into Claude names.
Google OAuth tokens are applied by ``providers/client.py`` (``spec.auth``): this module never
sees credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from providers.adapters.anthropic import (
    PassthroughStream,
    classify_anthropic_error,
    hosted_beta_flags,
    hosted_body_limits,
    hosted_message_start,
    hosted_response,
)
from providers.adapters.base import (
    AdapterError,
    ChatRequest,
    ChatResponse,
    StreamEvent,
    Target,
    UpstreamRequest,
    body_dumps,
    probe_messages,
)
from providers.adapters.spec import (
    GOOGLE_OAUTH,
    HOSTED_ANTHROPIC,
    PROBE_MODEL,
    REGION,
    KindSpec,
    Option,
)

VERTEX_VERSION = "vertex-2023-10-16"
GLOBAL_REGION = "global"
REGION_PLACEHOLDER = "{region}"
# The preset's base URL: "Google's own endpoint", i.e. the right host for the provider's region.
GOOGLE_ENDPOINT = "https://aiplatform.googleapis.com"

# Undated Claude names -> Vertex ids (Vertex wants the dated id for these; newer models such as
# claude-opus-4-6 are published undated and pass through as they are).
MODEL_IDS: dict[str, str] = {
    "claude-3-5-haiku": "claude-3-5-haiku@20241022",
    "claude-3-5-haiku-latest": "claude-3-5-haiku@20241022",
    "claude-3-7-sonnet": "claude-3-7-sonnet@20250219",
    "claude-3-7-sonnet-latest": "claude-3-7-sonnet@20250219",
    "claude-sonnet-4": "claude-sonnet-4@20250514",
    "claude-sonnet-4-0": "claude-sonnet-4@20250514",
    "claude-opus-4": "claude-opus-4@20250514",
    "claude-opus-4-0": "claude-opus-4@20250514",
    "claude-opus-4-1": "claude-opus-4-1@20250805",
    "claude-sonnet-4-5": "claude-sonnet-4-5@20250929",
    "claude-haiku-4-5": "claude-haiku-4-5@20251001",
    "claude-opus-4-5": "claude-opus-4-5@20251101",
}


# Locations whose endpoint is not "{region}-aiplatform.googleapis.com" (as the Vertex SDKs spell them).
SPECIAL_HOSTS: dict[str, str] = {
    GLOBAL_REGION: GOOGLE_ENDPOINT,
    "us": "https://aiplatform.us.rep.googleapis.com",  # multi-region endpoints
    "eu": "https://aiplatform.eu.rep.googleapis.com",
}


def default_base_url(region: str) -> str:
    """Vertex's endpoint for a location: regional host, or the global / multi-region ones."""
    return SPECIAL_HOSTS.get(region) or f"https://{region}-aiplatform.googleapis.com"


def _dated(name: str) -> bool:
    last = name.rsplit("-", 1)[-1]
    return len(last) == 8 and last.isdigit()


def vertex_model_id(target: Target) -> str:
    """The Vertex model id for ``target.model`` (``name-YYYYMMDD`` -> ``name@YYYYMMDD``)."""
    name = target.model
    mapped = target.model_map.get(name) or MODEL_IDS.get(name)
    if mapped:
        return mapped
    if "@" in name or not _dated(name):
        return name
    head, _, date = name.rpartition("-")
    return f"{head}@{date}"


def normalize_model(name: str) -> str:
    """A Vertex id (as Claude Code sends in Vertex mode) -> the Claude model name.

    ``claude-sonnet-4-5@20250929`` -> ``claude-sonnet-4-5-20250929``; anything without ``@``
    (``claude-opus-4-6``) comes back unchanged.
    """
    head, at, version = name.partition("@")
    if not at or not head:
        return name
    return f"{head}-{version}" if version else head


def predict_url(target: Target, model_id: str, *, stream: bool) -> str:
    region = target.region or GLOBAL_REGION
    base = target.base_url.strip().rstrip("/")
    if not base or REGION_PLACEHOLDER in base or base.removesuffix("/v1") == GOOGLE_ENDPOINT:
        base = default_base_url(region)
    if not base.endswith("/v1"):
        base += "/v1"
    action = "streamRawPredict" if stream else "rawPredict"
    return (f"{base}/projects/{quote(target.project, safe='')}/locations/{quote(region, safe='')}"
            f"/publishers/anthropic/models/{quote(model_id, safe='@')}:{action}")


def _body(req: ChatRequest, target: Target, ledger: list[str]) -> dict[str, Any]:
    body = {k: v for k, v in req.body.items() if k != "model"}
    if not req.stream:
        body.pop("stream", None)
    hosted_body_limits(body, target, ledger, "vertex")
    body["anthropic_version"] = VERTEX_VERSION
    return body


def _require_project(target: Target) -> None:
    if not target.project:
        raise AdapterError(f"provider {target.provider or 'vertex'} has no Google Cloud project "
                           "(options.project)", status=502, retryable=True)


class VertexAdapter:
    kind: ClassVar[str] = "vertex"
    spec: ClassVar[KindSpec] = KindSpec(
        label="Google Vertex AI (Anthropic models, Google OAuth)",
        # a Google OAuth access token (minted from a stored service-account JSON, or Application
        # Default Credentials) as a Bearer header
        auth=GOOGLE_OAUTH,
        options={**HOSTED_ANTHROPIC, "project": Option("str", "Google Cloud project id"), "region": REGION,
                 "probe_model": PROBE_MODEL},
        probe_model="claude-haiku-4-5",
    )

    def probe(self, target: Target) -> UpstreamRequest:
        """Vertex's count-tokens for ``target.model`` (``…/models/count-tokens:rawPredict``).

        Free, yet it needs what requests need: a token Google accepts, the project and location,
        and the Claude model enabled in the project. A GET of the publisher model would not
        check the project (its path names none).
        """
        _require_project(target)
        body = {"anthropic_version": VERTEX_VERSION, "model": vertex_model_id(target), "messages": probe_messages()}
        return UpstreamRequest(url=predict_url(target, "count-tokens", stream=False), body=body_dumps(body),
                               headers={"content-type": "application/json", **dict(target.headers)}, stream=False)

    def translate_request(self, req: ChatRequest, target: Target) -> UpstreamRequest:
        _require_project(target)
        ledger: list[str] = []
        body = _body(req, target, ledger)
        model_id = vertex_model_id(target)
        if model_id != target.model:
            ledger.append(f"vertex model id: {model_id}")
        headers = {"content-type": "application/json", **dict(target.headers)}
        flags = hosted_beta_flags(req, target, ledger)
        if flags:
            headers["anthropic-beta"] = ",".join(flags)
        return UpstreamRequest(url=predict_url(target, model_id, stream=req.stream), body=body_dumps(body),
                               headers=headers, stream=req.stream, ledger=ledger,
                               requested_model=str(req.body.get("model", "")))

    def translate_response(self, status: int, body: Mapping[str, Any], up: UpstreamRequest) -> ChatResponse:
        return hosted_response(status, body, up)

    def stream_translator(self, up: UpstreamRequest) -> VertexStream:
        return VertexStream(up.requested_model)

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> AdapterError:
        # Vertex passes Anthropic's own errors through; its Google-shaped ones ({"error": {"code",
        # "message", "status"}}) carry the HTTP status Anthropic's classes are keyed on.
        return classify_anthropic_error(status, body, headers)


class VertexStream(PassthroughStream):
    """Vertex's Anthropic events, read like the passthrough; ``message_start`` names the model the
    client asked for (as ``translate_response`` does)."""

    def __init__(self, requested_model: str = "") -> None:
        super().__init__()
        self.requested_model = requested_model

    def feed(self, event: StreamEvent) -> list[StreamEvent]:
        if event.data.get("type") == "message_start":
            renamed = hosted_message_start(event.data, self.requested_model)
            event = event if renamed is None else StreamEvent(event.event, renamed)
        return super().feed(event)
