"""The Bedrock-compatible inbound API: Claude Code in Bedrock mode talks to the gateway.

``POST /model/{modelId}/invoke`` and ``/model/{modelId}/invoke-with-response-stream`` take the
Anthropic body as Bedrock expects it (no ``model``, ``anthropic_version: bedrock-2023-05-31``,
beta flags as an ``anthropic_beta`` list) and answer with the Anthropic message, or with the
Anthropic stream events wrapped in AWS event-stream ``chunk`` messages. The model id in the URL
(``us.anthropic.claude-sonnet-4-5-20250929-v1:0``, percent-encoded or not) becomes the Claude
name, so tiers and routes apply as for ``/v1/messages``. Errors take Bedrock's shape: JSON
``{"message": ...}`` with ``x-amzn-ErrorType``, or ``exception`` messages inside a stream.

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

from collections.abc import AsyncIterator
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Router

from clients.auth import ClientKeyAuth
from gateway.api.anthropic import check_body, inbound_call
from gateway.calls import Outcome
from gateway.validation import BadRequest, body_parse
from providers.adapters.base import ChatRequest, dumps, loads
from providers.adapters.bedrock import STREAM_CONTENT_TYPE, normalize_model
from providers.eventstream import encode_chunk, encode_exception
from providers.sse import SSEParser

router = Router(auth=ClientKeyAuth())

MODEL_PATH = "/model/"

# Anthropic error type -> Bedrock exception name (HTTP header / in-stream ``:exception-type``)
EXCEPTIONS: dict[str, str] = {
    "invalid_request_error": "ValidationException",
    "request_too_large": "ValidationException",
    "not_found_error": "ResourceNotFoundException",
    "authentication_error": "UnrecognizedClientException",
    "permission_error": "AccessDeniedException",
    "rate_limit_error": "ThrottlingException",
    "overloaded_error": "ServiceUnavailableException",
    "timeout_error": "ModelTimeoutException",
}
# the exceptions Bedrock's ResponseStream declares; others become internalServerException
STREAM_EXCEPTIONS = frozenset({"ValidationException", "ThrottlingException", "ServiceUnavailableException",
                               "ModelTimeoutException", "InternalServerException", "ModelStreamErrorException"})


def is_bedrock_path(path: str) -> bool:
    return path.startswith(MODEL_PATH) and (path.endswith("/invoke") or path.endswith("/invoke-with-response-stream"))


def exception_name(error_type: str, status: int = 500) -> str:
    """"rate_limit_error" -> "ThrottlingException" (unknown types by status)."""
    name = EXCEPTIONS.get(error_type)
    if name is None:
        name = "ValidationException" if 400 <= status < 500 else "InternalServerException"
    return name


def bedrock_error(status: int, name: str, message: str) -> HttpResponse:
    response = HttpResponse(dumps({"message": message}), status=status, content_type="application/json")
    response["x-amzn-ErrorType"] = name
    return response


def bedrock_auth_error() -> HttpResponse:
    response = bedrock_error(401, "UnrecognizedClientException", "invalid x-api-key or bearer token")
    response["x-should-retry"] = "false"
    return response


def _anthropic_error(body: Any) -> tuple[str, str]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "api_error", "upstream error"
    return str(error.get("type") or "api_error"), str(error.get("message") or "upstream error")


def _error_response(outcome: Outcome) -> HttpResponse:
    try:
        error_type, message = _anthropic_error(loads(outcome.body))
    except ValueError:
        error_type, message = "api_error", outcome.body.decode("utf-8", "replace")[:500]
    return bedrock_error(outcome.status, exception_name(error_type, outcome.status), message)


def _stream_exception(data: Any) -> bytes:
    error_type, message = _anthropic_error(data)
    name = exception_name(error_type)
    name = name if name in STREAM_EXCEPTIONS else "InternalServerException"
    return encode_exception(name[0].lower() + name[1:], message)


async def _relay(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Anthropic SSE bytes -> event-stream ``chunk`` messages (pings dropped, errors as exceptions).
    Closing this generator closes the provider's stream, which records the request."""
    parser = SSEParser()
    try:
        async for raw in stream:
            out = b"".join(_frame(event.event, event.data) for event in parser.feed(raw))
            if out:
                yield out
        tail = b"".join(_frame(event.event, event.data) for event in parser.flush())
        if tail:
            yield tail
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _frame(name: str, data: dict[str, Any]) -> bytes:
    kind = data.get("type")
    if name == "error" or kind == "error":
        return _stream_exception(data)
    if not isinstance(kind, str) or kind == "ping":
        return b""
    return encode_chunk(data)


def _to_bedrock(outcome: Outcome) -> HttpResponse | StreamingHttpResponse:
    response: HttpResponse | StreamingHttpResponse
    if outcome.stream is not None:
        response = StreamingHttpResponse(_relay(outcome.stream), status=outcome.status,
                                         content_type=STREAM_CONTENT_TYPE)
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
    elif outcome.status >= 400:
        response = _error_response(outcome)
    else:
        response = HttpResponse(outcome.body, status=outcome.status, content_type="application/json")
    for name, value in outcome.headers.items():
        response[name] = value
    return response


def to_anthropic(raw: bytes, model_id: str, *, stream: bool, header_beta: str = "") -> ChatRequest:
    """The Bedrock invoke body for ``model_id`` as the gateway's Anthropic ChatRequest. Beta flags
    come from the body's ``anthropic_beta`` list and the ``anthropic-beta`` header (Claude Code
    sends ``claude-code-20250219`` there even in Bedrock mode)."""
    body = body_parse(raw)  # the schema check follows, once model and stream are set from the URL
    body.pop("anthropic_version", None)
    flags = body.pop("anthropic_beta", None) or []
    if isinstance(flags, str):
        flags = flags.split(",")
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise BadRequest("anthropic_beta: Input should be a valid list of strings", "anthropic_beta")
    body["model"] = normalize_model(model_id)
    body["stream"] = stream
    check_body(body, need_max_tokens=True)
    beta = [f.strip() for f in [*header_beta.split(","), *flags] if f.strip()]
    return ChatRequest(body=body, beta=tuple(dict.fromkeys(beta)))


async def _invoke(request: HttpRequest, model_id: str, *, stream: bool) -> HttpResponse | StreamingHttpResponse:
    try:
        req = to_anthropic(request.body, model_id, stream=stream,
                           header_beta=request.META.get("HTTP_ANTHROPIC_BETA", ""))
    except BadRequest as exc:
        return bedrock_error(400, "ValidationException", exc.message)
    return _to_bedrock(await inbound_call(request, req, endpoint="bedrock_invoke"))


@router.post("/model/{path:model_id}/invoke")
async def invoke(request: HttpRequest, model_id: str) -> HttpResponse | StreamingHttpResponse:
    return await _invoke(request, model_id, stream=False)


@router.post("/model/{path:model_id}/invoke-with-response-stream")
async def invoke_stream(request: HttpRequest, model_id: str) -> HttpResponse | StreamingHttpResponse:
    return await _invoke(request, model_id, stream=True)


__all__ = ["router", "is_bedrock_path", "bedrock_auth_error"]
