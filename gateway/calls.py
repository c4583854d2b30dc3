"""provider_call: the async request path from a parsed request to an answer.

Steps: load the route table (cached) -> resolve candidates (pure) -> arrange them by strategy,
session affinity and circuit state (pure) -> for each candidate: translate, send, classify.
Retryable failures before the first byte fall through to the next candidate, opening circuits
and recording fallback events. Streams hand back a body iterator owning the upstream stream.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from clients.auth import ClientIdentity
from gateway import costing
from gateway.errors import ConnectWindow, GatewayError, error_body, transport_error
from gateway.inbound.encoders import StreamEncoder
from gateway.records import fallback_event_record, request_log_record
from gateway.streaming import StreamBody, StreamSession
from gateway.token_count import estimate_input_tokens
from providers import client
from providers.adapters import REGISTRY
from providers.adapters.base import (
    Adapter,
    AdapterError,
    ChatRequest,
    UpstreamRequest,
    dumps,
    loads,
    output_budget_from,
)
from providers.oauth import aoauth_token_refresh
from providers.prices import price_table_get
from providers.pricing import PriceTable
from providers.targets import output_cap_learn, target_for
from routing.affinity import affinity_get, affinity_set, next_turn
from routing.breaker import breaker_class
from routing.circuits import (
    circuit_claim_probe,
    circuit_record_answer,
    circuit_record_failure,
    circuit_record_rate_limit,
    circuit_record_success,
    circuits_view,
    policy,
)
from routing.meta import prompt_fingerprints, request_meta
from routing.resolution import Candidate, NoRoute, RouteTable, UnknownProvider, arrange, resolve
from routing.selectors import route_table_get
from routing.services import aroute_config_changed, fingerprint_sighting
from runtime.redaction import redact_known


@dataclass(slots=True)
class CallContext:
    client: ClientIdentity
    endpoint: str = "messages"
    url_provider: str | None = None
    url_model: str | None = None
    session_id: str = ""
    agent_name: str = ""
    started: float = field(default_factory=time.perf_counter)
    notes: list[str] = field(default_factory=list)  # fallback history for the log
    attempts: list[dict[str, Any]] = field(default_factory=list)  # RequestAttempt rows, in order
    ledger: list[str] = field(default_factory=list)  # the last attempt's translation notes
    prices: PriceTable | None = None  # loaded once per request: the row's cost (gateway/costing.py)
    agent: str = ""  # the agent header, else the fingerprinted agent's name (per-agent totals)
    # the client dialect's stream encoder (None: Anthropic SSE); one per stream attempt, so a
    # fallback starts fresh (only a committed stream ever encodes)
    stream_encoder: Callable[[], StreamEncoder] | None = None


@dataclass(slots=True)
class Outcome:
    """What the view turns into an HTTP response: a JSON body, or a stream iterator (already
    in the client's dialect: the CallContext's stream_encoder encoded each event once)."""

    status: int
    body: bytes = b""
    stream: AsyncIterable[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def error_outcome(err: AdapterError) -> Outcome:
    headers = {}
    if err.retry_after is not None:
        headers["retry-after"] = str(max(1, round(err.retry_after)))
    if err.error_type == "authentication_error":
        headers["x-should-retry"] = "false"  # Claude Code shows it at once instead of retrying silently
    # upstream messages may echo a credential back (an OpenAI 401 quotes the key it got)
    return Outcome(err.status, error_body(err.error_type, redact_known(err.message)), headers=headers)


def expand_retries(candidates: tuple[Candidate, ...]) -> list[Candidate]:
    out: list[Candidate] = []
    for cand in candidates:
        retries = 0 if cand.admission == "panic" else max(0, cand.provider.max_retries)
        out.extend([cand] * (1 + retries))
    return out


def paused_outcome(err: AdapterError) -> Outcome:
    """Every candidate's provider asked for a pause (Retry-After): say so, with the time left."""
    outcome = error_outcome(err)
    outcome.headers["retry-after"] = str(max(1, math.ceil(err.retry_after or 0)))
    outcome.headers["x-should-retry"] = "true"
    return outcome


async def candidates_for(req: ChatRequest, ctx: CallContext, table: RouteTable) -> list[Candidate] | AdapterError:
    """Resolve and arrange; also notes an unknown agent fingerprint for the admin."""
    prints, prompt = prompt_fingerprints(req.body)
    ctx.agent = costing.agent_label(ctx.agent_name, prints, table)
    needs_estimate = any(r.scenario == "long_context" for r in table.routes)
    meta = request_meta(
        req.body, url_provider=ctx.url_provider, url_model=ctx.url_model, agent_name=ctx.agent_name,
        prints=prints, input_estimate=estimate_input_tokens(req.body) if needs_estimate else 0,
    )
    if prints and not any(p in table.agents_by_print for p in prints):
        fingerprint_sighting(prints[0], prompt)
    try:
        res = resolve(meta, table)
    except UnknownProvider as exc:
        return AdapterError(str(exc), status=400, error_type="invalid_request_error")
    except NoRoute as exc:
        return AdapterError(str(exc), status=404, error_type="not_found_error")
    turn = next_turn(res.group) if res.strategy == "round_robin" else 0
    arranged = arrange(res, await circuits_view(), time.time(), policy(), turn=turn,
                       pinned=affinity_get(ctx.session_id))
    if not arranged.candidates:
        return AdapterError(
            f"every provider for {meta.model!r} asked to pause (Retry-After)",
            status=429, error_type="rate_limit_error", retry_after=arranged.retry_after,
        )
    return expand_retries(arranged.candidates)


async def provider_call(req: ChatRequest, ctx: CallContext) -> Outcome:
    """Answer one Messages request, falling back across candidates before the first byte.

    A probe candidate whose probe another worker holds is skipped; if that leaves nothing tried,
    the first skipped one is tried anyway, so the breaker is never the whole answer.
    """
    table = await route_table_get()
    ctx.prices = await price_table_get()
    candidates = await candidates_for(req, ctx, table)
    if isinstance(candidates, AdapterError):
        _log(ctx, req, None, None, candidates.status, error=candidates.message)
        return paused_outcome(candidates) if candidates.status == 429 else error_outcome(candidates)
    refused = await costing.budget_refusal(ctx.client, ctx.prices, req.body, candidates[0], endpoint=ctx.endpoint)
    if refused is not None:  # the key's money budget cannot pay for this request (a refusal row, no log row)
        return error_outcome(refused)
    last: tuple[Candidate, AdapterError] | None = None
    rate_limited: set[str] = set()  # scopes that answered 429: their retries are pointless now
    skipped: list[Candidate] = []
    for index, cand in enumerate(candidates):
        if cand.circuit in rate_limited:
            continue
        if cand.admission == "probe" and not await circuit_claim_probe(cand):
            skipped.append(cand)  # another worker holds this scope's half-open probe
            continue
        result = await _attempt(cand, req, ctx)
        if isinstance(result, Outcome):
            return result
        last = (cand, result)
        if result.status == 429:
            rate_limited.add(cand.circuit)
        if not (result.retryable and index + 1 < len(candidates)):
            return _failed(ctx, req, cand, result)
        _note_fallback(ctx, req, cand, result, [c for c in candidates[index + 1:] if c != cand])
    if last is None and skipped:
        result = await _attempt(replace(skipped[0], admission="panic"), req, ctx)
        return result if isinstance(result, Outcome) else _failed(ctx, req, skipped[0], result)
    if last is None:
        return _failed(ctx, req, None, AdapterError("no candidate could be tried", status=529,
                                                    error_type="overloaded_error"))
    return _failed(ctx, req, *last)


def _failed(ctx: CallContext, req: ChatRequest, cand: Candidate | None, err: AdapterError) -> Outcome:
    """The client's error answer, logged as its request row (the last candidate tried as provider)."""
    _log(ctx, req, cand, None, err.status, error=err.message)
    return error_outcome(err)


def _note_fallback(ctx: CallContext, req: ChatRequest, cand: Candidate, result: AdapterError,
                   following: list[Candidate]) -> None:
    if not following:
        return
    nxt = following[0]
    ctx.notes.append(f"fallback: {cand.provider.name} {result.status} -> {nxt.provider.name}")
    fallback_event_record(
        from_provider=cand.provider.name, from_model=cand.model[:200], to_provider=nxt.provider.name,
        to_model=nxt.model[:200], reason=f"{result.status} {result.error_type}: {result.message}"[:300],
        status=result.status, requested_model=str(req.body.get("model", ""))[:200],
    )


async def _attempt(cand: Candidate, req: ChatRequest, ctx: CallContext) -> Outcome | AdapterError:
    adapter = REGISTRY.get(cand.provider.kind)
    if adapter is None:
        return AdapterError(f"provider {cand.provider.name} has unknown kind {cand.provider.kind}")
    missing = client.credential_missing(cand.provider)
    if missing:  # no request upstream: fall back if possible, else a 401 Claude Code shows
        err = AdapterError(missing, status=401, retryable=True, error_type="authentication_error")
        _attempt_note(ctx, cand, err.status, err.message, time.perf_counter())
        return err
    try:
        up = adapter.translate_request(req, target_for(cand.provider, cand.model))
    except AdapterError as err:  # the request cannot be expressed for this backend
        _attempt_note(ctx, cand, err.status, err.message, time.perf_counter())
        return err
    ctx.ledger = up.ledger
    result = await _send(adapter, up, cand, ctx, req)
    smaller = _within_output_budget(result, req, cand)
    if smaller is not None:  # the backend refused max_tokens: ask again within its stated budget
        req = smaller
        up = adapter.translate_request(req, target_for(cand.provider, cand.model))
        up.ledger.append(f"retried with max_tokens {req.body['max_tokens']} (upstream limit)")
        result = await _send(adapter, up, cand, ctx, req)
    if isinstance(result, AdapterError) and result.upstream_status == 401 and cand.provider.oauth_token_id:
        # An expired OAuth token: refresh once (single-flight across workers) and retry once.
        refreshed = await aoauth_token_refresh(token_id=cand.provider.oauth_token_id)
        if refreshed.ok:
            await aroute_config_changed()  # every process takes the new token from its next table
            cand = replace(cand, provider=replace(cand.provider, api_key_encrypted=refreshed.access_token_encrypted))
            result = await _send(adapter, up, cand, ctx, req)
        else:
            result.message = f"{result.message}; token refresh failed: {refreshed.error}"
    await _judge(cand, result, stream=req.stream)
    if isinstance(result, Outcome):
        affinity_set(ctx.session_id, cand.provider.name, cand.model)
    return result


def _attempt_note(ctx: CallContext, cand: Candidate, status: int, error: str, started: float) -> None:
    """One RequestAttempt row (queued with the request's row): an upstream call and its outcome."""
    ctx.attempts.append({
        "number": len(ctx.attempts) + 1, "provider": cand.provider.name, "upstream_model": cand.model[:200],
        "status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 2), "error": error[:300],
    })


async def _judge(cand: Candidate, result: Outcome | AdapterError, *, stream: bool) -> None:
    """What this attempt tells the breaker (routing.breaker.breaker_class decides the class).

    A committed stream is only an answer (its end decides success or failure, see _open_stream);
    a refused request (client 4xx) shows the provider alive; the gateway's own trouble and
    ambiguous statuses (409) say nothing.
    """
    if isinstance(result, Outcome):
        if not stream:  # a stream's answer was recorded when it committed (_open_stream)
            await circuit_record_success(cand)
        return
    if isinstance(result, GatewayError):
        return
    kind = breaker_class(result.status) if result.retryable else None
    if kind == "rate_limit":
        await circuit_record_rate_limit(cand, retry_after=result.retry_after)
    elif kind == "failure":
        await circuit_record_failure(cand, reason=f"failed {result.status}: {result.message}")
    elif not result.retryable and result.status < 500:
        await circuit_record_success(cand)


def _within_output_budget(result: Outcome | AdapterError, req: ChatRequest, cand: Candidate) -> ChatRequest | None:
    """A copy of ``req`` with max_tokens lowered to what the upstream's 400 said it accepts."""
    if not isinstance(result, AdapterError) or result.upstream_status != 400:
        return None
    budget = output_budget_from(result.message)
    requested = req.body.get("max_tokens")
    if budget is None or not isinstance(requested, int) or not 0 < budget[0] < requested:
        return None
    if budget[1]:  # a fixed limit of the model: later requests are clamped up front
        output_cap_learn(provider_id=cand.provider.id, model=cand.model, cap=budget[0])
    return ChatRequest(body={**req.body, "max_tokens": budget[0]}, beta=req.beta,
                       anthropic_version=req.anthropic_version)


async def _send(
    adapter: Adapter, up: UpstreamRequest, cand: Candidate, ctx: CallContext, req: ChatRequest
) -> Outcome | AdapterError:
    began = time.perf_counter()
    send = _open_stream if req.stream else _call_once
    result = await send(adapter, up, cand, ctx, req, began)
    if isinstance(result, AdapterError):
        _attempt_note(ctx, cand, result.status, result.message, began)
    return result


async def _call_once(
    adapter: Adapter, up: UpstreamRequest, cand: Candidate, ctx: CallContext, req: ChatRequest, began: float
) -> Outcome | AdapterError:
    window = ConnectWindow()
    try:
        reply = await client.send(up, cand.provider)
    except httpx.HTTPError as exc:
        return transport_error(exc, started=window.started)
    finally:
        window.close()
    if reply.status >= 400:
        err = adapter.classify_error(reply.status, reply.body, reply.headers)
        err.upstream_status = reply.status
        return err
    try:
        data: Any = loads(reply.body)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        response = adapter.translate_response(reply.status, data, up)
    except AdapterError as err:
        return err
    except (ValueError, KeyError, TypeError) as exc:
        return AdapterError(f"upstream sent an unreadable reply ({type(exc).__name__})", status=502,
                            retryable=True)
    _attempt_note(ctx, cand, 200, "", began)
    _log(ctx, req, cand, up, 200, usage=response.usage, stop_reason=str(response.body.get("stop_reason") or ""))
    return Outcome(200, dumps(response.body))


async def _open_stream(
    adapter: Adapter, up: UpstreamRequest, cand: Candidate, ctx: CallContext, req: ChatRequest, began: float
) -> Outcome | AdapterError:
    answered = asyncio.Event()

    async def ended(s: StreamSession) -> None:
        """The committed stream's verdict: complete, or a mid-stream abort (the provider's)."""
        await answered.wait()  # after the commit's own write, or a fast stream's abort is undone
        if s.upstream_error is not None and not isinstance(s.upstream_error, GatewayError):
            await circuit_record_failure(cand, reason=f"stream aborted: {s.upstream_error.message}")
        elif s.upstream_error is None:
            await circuit_record_success(cand)

    encoder = ctx.stream_encoder() if ctx.stream_encoder is not None else None
    session = StreamSession(adapter, up, cand.provider, on_end=ended, encoder=encoder)
    try:
        err = await session.start()
        if err is None:
            await circuit_record_answer(cand)  # committed: closed and not limited, count kept
    finally:
        answered.set()
    if err is not None:
        return err
    _attempt_note(ctx, cand, 200, "", began)  # committed; a later abort is written over it below

    def finished(s: StreamSession) -> None:
        stats = s.translator.stats
        status = 499 if s.cancelled else 502 if s.failed else 200
        if status != 200:
            ctx.attempts[-1].update(status=status, error=s.error_message[:300])
        _log(ctx, req, cand, up, status,
             usage={"input_tokens": stats.input_tokens, "output_tokens": stats.output_tokens,
                    "cache_read_input_tokens": stats.cache_read_input_tokens,
                    "cache_creation_input_tokens": stats.cache_creation_input_tokens},
             stop_reason=stats.stop_reason or "", ttft=s.ttft, error=s.error_message)

    return Outcome(200, stream=StreamBody(session, finished))


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
) -> None:
    """The request's one RequestLog row, its attempts nested (dashboard.services.request_log_record)."""
    usage = usage or {}
    priced = costing.cost_fields(ctx.prices, cand, usage, agent=ctx.agent)
    reason = cand.reason if cand else ""
    if ctx.notes:
        reason = f"{reason}; {'; '.join(ctx.notes)}" if reason else "; ".join(ctx.notes)
    request_log_record(
        client_name=ctx.client.name,
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
        route_reason=reason[:200],
        session_id=ctx.session_id[:100],
        error=error,
        ledger=list(up.ledger if up else ctx.ledger),
        attempts=ctx.attempts, **priced,
    )
    costing.charge(ctx.client, usage, priced)


__all__ = ["CallContext", "Outcome", "error_outcome", "provider_call"]
