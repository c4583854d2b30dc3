"""The Bedrock-compatible inbound API: Claude Code in Bedrock mode talks to the gateway.

``POST /model/{modelId}/invoke`` and ``/model/{modelId}/invoke-with-response-stream`` take the
Anthropic body as Bedrock expects it (no ``model``, ``anthropic_version: bedrock-2023-05-31``,
beta flags as an ``anthropic_beta`` list) and answer with the Anthropic message, or with the
Anthropic stream events wrapped in AWS event-stream ``chunk`` messages. The model id in the URL
(``us.anthropic.claude-sonnet-4-5-20250929-v1:0``, percent-encoded or not) becomes the Claude
name, so tiers and routes apply as for ``/v1/messages``. Errors take Bedrock's shape: JSON
``{"message": ...}`` with ``x-amzn-ErrorType``, or ``exception`` messages inside a stream.
The translation is the pure ``gateway.inbound.bedrock``; this module is its HTTP edge.

Client setup (any SigV4 signature is ignored; the gateway's client key authenticates)::

    CLAUDE_CODE_USE_BEDROCK=1 CLAUDE_CODE_SKIP_BEDROCK_AUTH=1 AWS_REGION=us-east-1 \\
    ANTHROPIC_BEDROCK_BASE_URL=http://gateway:8000 \\
    ANTHROPIC_CUSTOM_HEADERS="x-api-key: sk-gw-..." claude

(SDK clients may instead pass the key as a Bedrock API key, ``Authorization: Bearer sk-gw-...``.)
Without a key the answer is 401 unless ``GATEWAY_OPEN_ACCESS`` is set. Claude Code in Bedrock
mode also asks ``GET /inference-profiles?type=SYSTEM_DEFINED`` (Bedrock's control plane); the
gateway answers 404 and Claude Code carries on with its built-in model ids.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Router

from clients.auth import ClientKeyAuth
from gateway.api.anthropic import check_body, inbound_call
from gateway.calls import Outcome
from gateway.inbound.bedrock import BedrockBodyError, BedrockEventStream, error_to_bedrock, to_anthropic
from gateway.streaming import StreamResponse
from gateway.validation import BadRequest, body_parse
from providers.adapters.base import ChatRequest, dumps
from providers.adapters.bedrock import STREAM_CONTENT_TYPE

router = Router(auth=ClientKeyAuth())

MODEL_PATH = "/model/"


def is_bedrock_path(path: str) -> bool:
    return path.startswith(MODEL_PATH) and (path.endswith("/invoke") or path.endswith("/invoke-with-response-stream"))


def bedrock_error(status: int, name: str, message: str) -> HttpResponse:
    response = HttpResponse(dumps({"message": message}), status=status, content_type="application/json")
    response["x-amzn-ErrorType"] = name
    return response


def bedrock_auth_error() -> HttpResponse:
    response = bedrock_error(401, "UnrecognizedClientException", "invalid x-api-key or bearer token")
    response["x-should-retry"] = "false"
    return response


def _to_bedrock(outcome: Outcome) -> HttpResponse | StreamingHttpResponse:
    response: HttpResponse | StreamingHttpResponse
    if outcome.stream is not None:  # already event-stream frames (the session's encoder)
        response = StreamResponse(outcome.stream, status=outcome.status, content_type=STREAM_CONTENT_TYPE)
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
    elif outcome.status >= 400:
        response = bedrock_error(outcome.status, *error_to_bedrock(outcome.status, outcome.body))
    else:
        response = HttpResponse(outcome.body, status=outcome.status, content_type="application/json")
    for name, value in outcome.headers.items():
        response[name] = value
    return response


def chat_request(raw: bytes, model_id: str, *, stream: bool, header_beta: str = "") -> ChatRequest:
    """The invoke body for ``model_id`` as the gateway's ChatRequest, checked against the Messages
    schema once model and stream are set from the URL (Vertex's rawPredict shares these rules)."""
    try:
        body, beta = to_anthropic(body_parse(raw), model_id, stream=stream, header_beta=header_beta)
    except BedrockBodyError as exc:
        raise BadRequest(exc.message, exc.param) from exc
    check_body(body, need_max_tokens=True)
    return ChatRequest(body=body, beta=beta)


async def _invoke(request: HttpRequest, model_id: str, *, stream: bool) -> HttpResponse | StreamingHttpResponse:
    try:
        req = chat_request(request.body, model_id, stream=stream,
                           header_beta=request.META.get("HTTP_ANTHROPIC_BETA", ""))
    except BadRequest as exc:
        return bedrock_error(400, "ValidationException", exc.message)
    return _to_bedrock(await inbound_call(request, req, endpoint="bedrock_invoke", stream_encoder=BedrockEventStream))


@router.post("/model/{path:model_id}/invoke")
async def invoke(request: HttpRequest, model_id: str) -> HttpResponse | StreamingHttpResponse:
    return await _invoke(request, model_id, stream=False)


@router.post("/model/{path:model_id}/invoke-with-response-stream")
async def invoke_stream(request: HttpRequest, model_id: str) -> HttpResponse | StreamingHttpResponse:
    return await _invoke(request, model_id, stream=True)


__all__ = ["router", "is_bedrock_path", "bedrock_auth_error", "chat_request"]
