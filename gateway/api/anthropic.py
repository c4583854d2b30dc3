"""The Anthropic-compatible API: thin async operations over gateway/calls.py."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Router

from clients.auth import ClientIdentity, ClientKeyAuth
from clients.quotas import limits_check
from clients.staff_auth import astaff_user
from gateway.calls import CallContext, Outcome, error_outcome, provider_call
from gateway.catalog import models_list
from gateway.errors import error_body
from gateway.health import ahealth_summary
from gateway.inbound.encoders import StreamEncoder
from gateway.records import refusal_record
from gateway.streaming import StreamResponse
from gateway.token_count import estimate_input_tokens
from gateway.validation import COUNT_TOKENS, MESSAGES, BadRequest, body_check, body_parse
from providers.adapters import claude_model_name
from providers.adapters.base import AdapterError, ChatRequest, dumps
from routing.selectors import route_table_get

router = Router(auth=ClientKeyAuth())

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def parse_body(request: HttpRequest, *, need_max_tokens: bool) -> dict[str, Any]:
    """The JSON body, checked against the Messages (or count_tokens) schema: 400, never 422 or 500."""
    return body_parse(request.body, MESSAGES if need_max_tokens else COUNT_TOKENS)


def check_body(body: dict[str, Any], *, need_max_tokens: bool) -> dict[str, Any]:
    """``body`` when its fields have the types Anthropic documents; else BadRequest."""
    body_check(body, MESSAGES if need_max_tokens else COUNT_TOKENS)
    return body


def bad_request(exc: BadRequest) -> HttpResponse:
    return HttpResponse(error_body("invalid_request_error", exc.message), status=400,
                        content_type="application/json")


def chat_request(request: HttpRequest, body: dict[str, Any]) -> ChatRequest:
    meta = request.META
    beta_raw = meta.get("HTTP_ANTHROPIC_BETA", "")
    beta = tuple(b.strip() for b in beta_raw.split(",") if b.strip()) if beta_raw else ()
    return ChatRequest(
        body=body,
        raw=request.body,
        beta=beta,
        anthropic_version=meta.get("HTTP_ANTHROPIC_VERSION", "") or "2023-06-01",
    )


def to_response(outcome: Outcome) -> HttpResponse | StreamingHttpResponse:
    if outcome.stream is not None:
        response: HttpResponse | StreamingHttpResponse = StreamResponse(
            outcome.stream, status=outcome.status, content_type="text/event-stream; charset=utf-8"
        )
        for name, value in SSE_HEADERS.items():
            response[name] = value
    else:
        response = HttpResponse(outcome.body, status=outcome.status, content_type="application/json")
    for name, value in outcome.headers.items():
        response[name] = value
    response["request-id"] = "req_" + secrets.token_hex(12)  # as Anthropic's API: for support and logs
    return response


def split_prefix(prefix: str | None) -> tuple[str | None, str | None]:
    """``provider:model`` from the URL; the model part may itself contain colons and slashes."""
    if not prefix:
        return None, None
    provider, sep, model = prefix.partition(":")
    return provider, (model if sep and model else None)


def agent_header(request: HttpRequest) -> str:
    """The first agent header the client sent (read from ``META``: ``request.headers`` would
    build a view of every header to answer one)."""
    meta = request.META
    for name in settings.AGENT_ID_HEADERS:
        value = meta.get("HTTP_" + name.upper().replace("-", "_"))
        if value:
            return str(value)
    return ""


def _user_id(body: dict[str, Any]) -> str:
    metadata = body.get("metadata")
    return str(metadata.get("user_id") or "") if isinstance(metadata, dict) else ""


async def inbound_call(
    request: HttpRequest, req: ChatRequest, *, endpoint: str, url_provider: str | None = None,
    url_model: str | None = None, stream_encoder: Callable[[], StreamEncoder] | None = None,
) -> Outcome:
    """What every inbound dialect does once its body is canonical: the client key's limits, then
    provider_call with the session and agent read from the request. ``stream_encoder`` makes a
    stream's encoder for the dialect (default Anthropic SSE)."""
    identity: ClientIdentity = request.auth  # type: ignore[attr-defined]
    limited = await limits_check(identity)
    if limited is not None:  # counted as throttled for the key (a RequestLog row with a refusal)
        refusal_record(key_id=identity.key_id, client_name=identity.name, status=limited.status,
                       reason=limited.reason, endpoint=endpoint)
        return error_outcome(AdapterError(limited.message, status=limited.status, error_type=limited.error_type,
                                          retry_after=limited.retry_after))
    ctx = CallContext(
        client=identity,
        endpoint=endpoint,
        url_provider=url_provider,
        url_model=url_model,
        session_id=request.META.get("HTTP_X_CLAUDE_CODE_SESSION_ID", "") or _user_id(req.body),
        agent_name=agent_header(request),
        stream_encoder=stream_encoder,
    )
    return await provider_call(req, ctx)


async def _messages(request: HttpRequest, prefix: str | None) -> HttpResponse | StreamingHttpResponse:
    try:
        body = parse_body(request, need_max_tokens=True)
    except BadRequest as exc:
        return bad_request(exc)
    model = claude_model_name(body["model"])  # a cloud host's id (ANTHROPIC_MODEL kept from Bedrock mode)
    if model != body["model"]:
        body["model"] = model
    url_provider, url_model = split_prefix(prefix)
    outcome = await inbound_call(request, chat_request(request, body), endpoint="messages",
                                 url_provider=url_provider, url_model=url_model)
    return to_response(outcome)


async def _count_tokens(request: HttpRequest) -> HttpResponse:
    try:
        body = parse_body(request, need_max_tokens=False)
    except BadRequest as exc:
        return bad_request(exc)
    return HttpResponse(dumps({"input_tokens": estimate_input_tokens(body)}), content_type="application/json")


@router.post("/v1/messages", include_in_schema=True)
async def messages(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    return await _messages(request, None)


@router.post("/v1/messages/count_tokens")
async def count_tokens(request: HttpRequest) -> HttpResponse:
    return await _count_tokens(request)


@router.get("/v1/models")
async def models(request: HttpRequest) -> HttpResponse:
    return HttpResponse(dumps(models_list(await route_table_get())), content_type="application/json")


@router.post("/{path:prefix}/v1/messages")
async def messages_prefixed(request: HttpRequest, prefix: str) -> HttpResponse | StreamingHttpResponse:
    return await _messages(request, prefix)


@router.post("/{path:prefix}/v1/messages/count_tokens")
async def count_tokens_prefixed(request: HttpRequest, prefix: str) -> HttpResponse:
    return await _count_tokens(request)


@router.get("/{path:prefix}/v1/models")
async def models_prefixed(request: HttpRequest, prefix: str) -> HttpResponse:
    return HttpResponse(dumps(models_list(await route_table_get())), content_type="application/json")


public_router = Router()


@public_router.get("/health", auth=None)
async def health(request: HttpRequest, detail: bool = False) -> HttpResponse:
    """``{"status": "ok"|"degraded"}`` for anyone (load balancers, compose); with ``?detail=1``
    the per-provider states too, for a staff session or a staff bearer token only: provider
    names and their failures tell an outsider which upstreams a team uses and when they fail."""
    if detail and await astaff_user(request) is None:
        return HttpResponse(error_body("authentication_error", "?detail=1 needs a staff bearer token or a staff "
                                       "session"), status=401, content_type="application/json")
    summary = await ahealth_summary()  # breakers, health checks, recent calls, credentials
    return HttpResponse(dumps(summary if detail else {"status": summary["status"]}), content_type="application/json")


__all__ = ["router", "public_router", "AdapterError", "BadRequest", "check_body", "parse_body"]
