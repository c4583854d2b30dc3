"""The Vertex-compatible inbound API: Claude Code in Vertex mode talks to the gateway.

Claude Code (and the SDKs' ``AnthropicVertex`` clients) post to
``{ANTHROPIC_VERTEX_BASE_URL}/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:rawPredict``
(``:streamRawPredict`` for streams) with the Anthropic body minus ``model``, plus
``anthropic_version: vertex-2023-10-16``; beta flags come in the ``anthropic-beta`` header. Token
counting goes to ``…/models/count-tokens:rawPredict`` with ``model`` in the body. The Vertex model
id (``claude-sonnet-4-5@20250929``) becomes the Claude name, so tiers and routes apply as for
``/v1/messages``. Vertex passes Anthropic's replies and errors through, so answers are Anthropic's.
The base URL may carry any prefix (``http://gateway:8000/v1``, ``…/vertex/v1``); project and region
are the client's and are not used for routing.

Client setup (no Google auth; the gateway's client key authenticates)::

    CLAUDE_CODE_USE_VERTEX=1 CLAUDE_CODE_SKIP_VERTEX_AUTH=1 \\
    ANTHROPIC_VERTEX_BASE_URL=http://gateway:8000/v1 ANTHROPIC_VERTEX_PROJECT_ID=any CLOUD_ML_REGION=global \\
    ANTHROPIC_CUSTOM_HEADERS="x-api-key: sk-gw-..." claude
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Router

from clients.auth import ClientKeyAuth
from gateway.api.anthropic import bad_request, inbound_call, to_response
from gateway.api.bedrock import chat_request
from gateway.token_count import estimate_input_tokens
from gateway.validation import COUNT_TOKENS, BadRequest, body_check, body_parse
from providers.adapters.base import dumps
from providers.adapters.vertex import normalize_model

router = Router(auth=ClientKeyAuth())

COUNT_TOKENS_MODEL = "count-tokens"
ACTIONS = {"rawPredict": False, "streamRawPredict": True}  # action -> stream
MODELS_PATH = "/projects/{project}/locations/{region}/publishers/anthropic/models/{target}"


def _count_tokens(request: HttpRequest) -> HttpResponse:
    try:
        body = body_parse(request.body)
        body.pop("anthropic_version", None)
        body["model"] = normalize_model(str(body.get("model") or COUNT_TOKENS_MODEL))
        body_check(body, COUNT_TOKENS)
    except BadRequest as exc:
        return bad_request(exc)
    return HttpResponse(dumps({"input_tokens": estimate_input_tokens(body)}), content_type="application/json")


async def _predict(request: HttpRequest, target: str) -> HttpResponse | StreamingHttpResponse:
    """``{model}:{action}`` -> the canonical request (the Bedrock dialect's body rules: version
    dropped, ``anthropic_beta`` list merged with the header), then the shared inbound call."""
    model, _, action = target.rpartition(":")
    if action not in ACTIONS or not model:
        return bad_request(BadRequest(f"unsupported Vertex method {target!r}: use {model or '{model}'}:rawPredict "
                                      "or :streamRawPredict"))
    if model == COUNT_TOKENS_MODEL and action == "rawPredict":
        return _count_tokens(request)
    try:
        req = chat_request(request.body, normalize_model(model), stream=ACTIONS[action],
                           header_beta=request.META.get("HTTP_ANTHROPIC_BETA", ""))
    except BadRequest as exc:
        return bad_request(exc)
    return to_response(await inbound_call(request, req, endpoint="vertex_predict"))


@router.post(MODELS_PATH)
async def predict(request: HttpRequest, project: str, region: str, target: str) -> HttpResponse | StreamingHttpResponse:
    return await _predict(request, target)


@router.post("/{path:prefix}" + MODELS_PATH)
async def predict_prefixed(request: HttpRequest, prefix: str, project: str, region: str,
                           target: str) -> HttpResponse | StreamingHttpResponse:
    return await _predict(request, target)


__all__ = ["router"]
