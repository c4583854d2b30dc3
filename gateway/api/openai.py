"""The OpenAI-compatible inbound API: ``POST /v1/chat/completions`` over the same routing/providers.

Thin: parse and check JSON -> ``inbound.to_anthropic`` -> ``provider_call`` (unchanged) -> the Anthropic
answer back in OpenAI shape (``from_anthropic``, ``error_to_openai``); a stream's events are encoded
as OpenAI chunks by ``OpenAIChunks`` in the stream session itself (encoded once, never re-parsed).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import partial
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Router

from clients.auth import ClientKeyAuth
from gateway.api.anthropic import SSE_HEADERS, check_body, inbound_call, split_prefix
from gateway.calls import Outcome
from gateway.inbound import (
    AnthropicToOpenAIStream,
    InboundError,
    OpenAIChunks,
    error_to_openai,
    from_anthropic,
    openai_status,
    to_anthropic,
)
from gateway.streaming import StreamResponse
from gateway.validation import CHAT, BadRequest, body_parse
from providers.adapters.base import JSON, ChatRequest, dumps, loads

router = Router(auth=ClientKeyAuth())

CHAT_COMPLETIONS_PATH = "/v1/chat/completions"


def is_openai_path(path: str) -> bool:
    return path.endswith(CHAT_COMPLETIONS_PATH)


def json_response(status: int, body: JSON) -> HttpResponse:
    return HttpResponse(dumps(body), status=status, content_type="application/json")


def openai_error(status: int, message: str, error_type: str = "invalid_request_error",
                 code: str | None = None) -> HttpResponse:
    return json_response(status, {"error": {"message": message, "type": error_type, "param": None, "code": code}})


def _parse(raw: bytes) -> tuple[JSON, JSON]:
    """(the OpenAI body, its Anthropic translation), both checked: the OpenAI schema names the
    client's own field; the Messages check of the translation keeps the adapters' input sound."""
    body = body_parse(raw, CHAT)
    anthropic_body = to_anthropic(body)
    check_body(anthropic_body, need_max_tokens=True)
    return body, anthropic_body


def _include_usage(body: Mapping[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _encoder_for(body: Mapping[str, Any], created: int) -> OpenAIChunks:
    return OpenAIChunks(AnthropicToOpenAIStream(str(body["model"]), include_usage=_include_usage(body),
                                                created=created))


def _to_openai(outcome: Outcome, body: Mapping[str, Any], created: int) -> HttpResponse | StreamingHttpResponse:
    model = str(body["model"])
    response: HttpResponse | StreamingHttpResponse
    if outcome.stream is not None:  # already OpenAI chunks (the session's encoder)
        response = StreamResponse(outcome.stream, status=outcome.status,
                                         content_type="text/event-stream; charset=utf-8")
        for name, value in SSE_HEADERS.items():
            response[name] = value
    elif outcome.status >= 400:
        response = json_response(openai_status(outcome.status), error_to_openai(outcome.status, outcome.body))
    else:
        response = json_response(outcome.status, from_anthropic(loads(outcome.body), model, created=created))
    for name, value in outcome.headers.items():
        response[name] = value
    return response


async def _chat_completions(request: HttpRequest, prefix: str | None) -> HttpResponse | StreamingHttpResponse:
    try:
        body, anthropic_body = _parse(request.body)
    except InboundError as exc:
        return json_response(400, exc.body())
    except BadRequest as exc:
        return json_response(400, InboundError(exc.message, exc.param).body())
    url_provider, url_model = split_prefix(prefix)
    created = int(time.time())
    outcome = await inbound_call(request, ChatRequest(body=anthropic_body), endpoint="chat_completions",
                                 url_provider=url_provider, url_model=url_model,
                                 stream_encoder=partial(_encoder_for, body, created))
    return _to_openai(outcome, body, created)


@router.post(CHAT_COMPLETIONS_PATH)
async def chat_completions(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    return await _chat_completions(request, None)


@router.post("/{path:prefix}" + CHAT_COMPLETIONS_PATH)
async def chat_completions_prefixed(request: HttpRequest, prefix: str) -> HttpResponse | StreamingHttpResponse:
    return await _chat_completions(request, prefix)


__all__ = ["router", "is_openai_path", "openai_error"]
