"""provider_call: the async request path from a parsed request to an answer.

Steps: load the route table (cached) -> resolve candidates -> for each candidate: translate,
send, classify; retryable failures before the first byte fall through to the next candidate.
Streams hand back a body iterator that owns the upstream stream (see streaming.py).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from dashboard.services import request_log_record
from providers import client
from providers.adapters import REGISTRY
from providers.adapters.base import Adapter, AdapterError, ChatRequest, UpstreamRequest, dumps, loads
from providers.auth import ClientIdentity
from providers.services.errors import error_body, transport_error
from providers.services.streaming import StreamSession
from providers.services.targets import target_for
from routing.resolution import Candidate, NoRoute, RequestMeta, resolve
from routing.selectors import route_table_get


@dataclass(slots=True)
class CallContext:
    client: ClientIdentity
    endpoint: str = "messages"
    url_provider: str | None = None
    url_model: str | None = None
    session_id: str = ""
    started: float = field(default_factory=time.perf_counter)
    notes: list[str] = field(default_factory=list)  # fallback history for the log


@dataclass(slots=True)
class Outcome:
    """What the view turns into an HTTP response: a JSON body, or an SSE iterator."""

    status: int
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def error_outcome(err: AdapterError) -> Outcome:
    headers = {}
    if err.retry_after is not None:
        headers["retry-after"] = str(int(err.retry_after))
    return Outcome(err.status, error_body(err.error_type, err.message), headers=headers)


def expand_retries(candidates: list[Candidate]) -> list[Candidate]:
    out: list[Candidate] = []
    for cand in candidates:
        out.extend([cand] * (1 + max(0, cand.provider.max_retries)))
    return out


async def provider_call(req: ChatRequest, ctx: CallContext) -> Outcome:
    """Answer one Messages request, falling back across candidates before the first byte."""
    table = await route_table_get()
    meta = RequestMeta(model=str(req.body.get("model", "")), url_provider=ctx.url_provider,
                       url_model=ctx.url_model)
    try:
        candidates = expand_retries(resolve(meta, table))
    except NoRoute as exc:
        _log(ctx, req, None, None, 404, error=str(exc))
        return error_outcome(AdapterError(str(exc), status=404, error_type="not_found_error"))
    last: AdapterError | None = None
    for index, cand in enumerate(candidates):
        adapter = REGISTRY.get(cand.provider.kind)
        if adapter is None:
            last = AdapterError(f"provider {cand.provider.name} has unknown kind {cand.provider.kind}")
            continue
        try:
            up = adapter.translate_request(req, target_for(cand))
        except AdapterError as err:  # the request cannot be expressed for this backend
            _log(ctx, req, cand, None, err.status, error=err.message)
            return error_outcome(err)
        if req.stream:
            result = await _open_stream(adapter, up, cand, ctx, req)
        else:
            result = await _call_once(adapter, up, cand, ctx, req)
        if isinstance(result, Outcome):
            return result
        last = result
        has_next = index + 1 < len(candidates)
        _log(ctx, req, cand, up, result.status, error=result.message, final=not (result.retryable and has_next))
        if not (result.retryable and has_next):
            return error_outcome(result)
        nxt = candidates[index + 1]
        ctx.notes.append(f"fallback: {cand.provider.name} {result.status} -> {nxt.provider.name}")
    assert last is not None
    return error_outcome(last)


async def _call_once(
    adapter: Adapter, up: UpstreamRequest, cand: Candidate, ctx: CallContext, req: ChatRequest
) -> Outcome | AdapterError:
    try:
        reply = await client.send(up, cand.provider)
    except httpx.HTTPError as exc:
        return transport_error(exc)
    if reply.status >= 400:
        return adapter.classify_error(reply.status, reply.body, reply.headers)
    try:
        data: Any = loads(reply.body)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        response = adapter.translate_response(reply.status, data, up)
    except (ValueError, KeyError, TypeError) as exc:
        return AdapterError(f"upstream sent an unreadable reply ({type(exc).__name__})", status=502,
                            retryable=True)
    usage = response.usage
    _log(ctx, req, cand, up, 200, usage=usage, stop_reason=str(response.body.get("stop_reason") or ""))
    return Outcome(200, dumps(response.body))


async def _open_stream(
    adapter: Adapter, up: UpstreamRequest, cand: Candidate, ctx: CallContext, req: ChatRequest
) -> Outcome | AdapterError:
    session = StreamSession(adapter, up, cand.provider)
    err = await session.start()
    if err is not None:
        return err

    def finished(s: StreamSession) -> None:
        stats = s.translator.stats
        _log(ctx, req, cand, up, 200 if not s.failed else 599 if s.cancelled else 502,
             usage={"input_tokens": stats.input_tokens, "output_tokens": stats.output_tokens,
                    "cache_read_input_tokens": stats.cache_read_input_tokens},
             stop_reason=stats.stop_reason or "", ttft=s.ttft,
             error=s.error_message)

    return Outcome(200, stream=session.body(on_done=finished))


def _log(
    ctx: CallContext,
    req: ChatRequest,
    cand: Candidate | None,
    up: UpstreamRequest | None,
    status: int,
    *,
    usage: dict[str, Any] | None = None,
    stop_reason: str = "",
    ttft: float | None = None,
    error: str = "",
    final: bool = True,
) -> None:
    usage = usage or {}
    reason = cand.reason if cand else ""
    if ctx.notes:
        reason = f"{reason}; {'; '.join(ctx.notes)}" if reason else "; ".join(ctx.notes)
    request_log_record(
        client_key_id=ctx.client.key_id,
        endpoint=ctx.endpoint,
        requested_model=str(req.body.get("model", ""))[:200],
        provider=cand.provider.name if cand else "",
        upstream_model=cand.model[:200] if cand else "",
        stream=req.stream,
        status=status,
        latency_ms=round((time.perf_counter() - ctx.started) * 1000, 2),
        ttft_ms=round((ttft - ctx.started) * 1000, 2) if ttft else None,
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
        cached_tokens=int(usage.get("cache_read_input_tokens") or 0),
        stop_reason=stop_reason[:32],
        route_reason=(reason if final else f"{reason} (failed)")[:200],
        session_id=ctx.session_id[:100],
        error=error,
        ledger=list(up.ledger) if up else [],
    )
