"""Anthropic Messages API passthrough.

The body goes upstream byte-for-byte apart from the model name (and a ``max_tokens`` clamp when a
cap is configured); the upstream SSE stream reaches the client unchanged while the translator reads
usage and stop reasons from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from providers.adapters.base import (
    JSON,
    AdapterError,
    ChatRequest,
    ChatResponse,
    StreamEvent,
    StreamStats,
    Target,
    UpstreamRequest,
    body_dumps,
    dumps,
    error_message_from,
    error_type_for,
    is_context_length_message,
    is_retryable_status,
    loads,
    parse_retry_after,
)
from providers.adapters.spec import ANTHROPIC_BETAS, SSE_PASSTHROUGH, AuthSpec, KindSpec, Option, Starter

OAUTH_BETA = "oauth-2025-04-20"
DEFAULT_VERSION = "2023-06-01"
# The tiers `manage.py init` offers for Claude models, wherever they are hosted.
CLAUDE_TIERS = ("claude-opus-4-8", "claude-sonnet-5", "claude-haiku-4-5")


def replace_model(raw: bytes, old: str, new: str) -> bytes | None:
    """Swap the top-level ``"model": "<old>"`` value in raw JSON bytes, keeping every other byte.

    Inside JSON strings quotes are escaped, so an unescaped ``"model"`` token is always a key. Returns
    None when the exact spelling cannot be found (the caller then re-serialises).
    """
    old_json = dumps(old)
    for sep in (b":", b": "):
        needle = b'"model"' + sep + old_json
        idx = raw.find(needle)
        if idx >= 0:
            start = idx + len(b'"model"') + len(sep)
            return raw[:start] + dumps(new) + raw[start + len(old_json):]
    return None


def beta_header(req: ChatRequest, target: Target, ledger: list[str]) -> str:
    flags = list(req.beta)
    dropped = [f for f in flags if any(f.startswith(p) for p in target.beta_deny)]
    if target.beta_allow is not None:
        dropped += [f for f in flags if f not in dropped and not any(f.startswith(p) for p in target.beta_allow)]
    if dropped:
        ledger.append("dropped anthropic-beta: " + ",".join(dropped))
        flags = [f for f in flags if f not in dropped]
    if target.oauth and OAUTH_BETA not in flags:
        flags.append(OAUTH_BETA)
    return ",".join(flags)


# -- shared by the cloud hosts of Anthropic's models (bedrock, vertex): same body, own auth -------


def hosted_beta_flags(req: ChatRequest, target: Target, ledger: list[str]) -> list[str]:
    """The passthrough's anthropic-beta filtering, without the OAuth flag (the host
    authenticates its own way)."""
    flags = beta_header(req, dataclasses.replace(target, oauth=False), ledger)
    return [f for f in flags.split(",") if f and f != OAUTH_BETA]


def hosted_body_limits(body: dict[str, Any], target: Target, ledger: list[str], host: str) -> None:
    """Drop the fields the host rejects (``Target.drop_params``) and clamp max_tokens to the cap."""
    dropped = sorted(k for k in body if k in target.drop_params)
    if dropped:
        ledger.append(f"dropped for {host}: " + ",".join(dropped))
        for key in dropped:
            del body[key]
    max_tokens = body.get("max_tokens")
    cap = target.max_tokens_cap
    if cap and isinstance(max_tokens, int) and max_tokens > cap:
        ledger.append(f"clamped max_tokens {max_tokens} -> {cap}")
        body["max_tokens"] = cap


def hosted_response(status: int, body: Mapping[str, Any], up: UpstreamRequest) -> ChatResponse:
    """The host's Anthropic response, naming the model the client asked for."""
    out = dict(body)
    if up.requested_model:
        out["model"] = up.requested_model
    return ChatResponse(body=out, status=status)


def hosted_message_start(data: JSON, requested_model: str) -> JSON | None:
    """message_start data naming the model the client asked for; None when nothing changes."""
    message = data.get("message")
    if not requested_model or not isinstance(message, dict):
        return None
    return {**data, "message": {**message, "model": requested_model}}


def v1_url(base_url: str, path: str) -> str:
    """``{base}/v1{path}``; a base URL that names /v1 already is not given a second one."""
    base = base_url.rstrip("/")
    return base + path if base.endswith("/v1") else base + "/v1" + path


def messages_url(base_url: str) -> str:
    return v1_url(base_url, "/messages")


class AnthropicAdapter:
    kind: ClassVar[str] = "anthropic"
    spec: ClassVar[KindSpec] = KindSpec(
        label="Anthropic Messages API",
        auth=AuthSpec(key_header="x-api-key", key_prefix=""),
        stream_framing=SSE_PASSTHROUGH,  # the upstream's events reach the client byte for byte
        options={"anthropic_version": Option("str", "anthropic-version when the client sends none"),
                 **ANTHROPIC_BETAS},
        starter=Starter("https://api.anthropic.com", *CLAUDE_TIERS),
    )

    def probe(self, target: Target) -> UpstreamRequest:
        """GET /v1/models: free, read-only, and refused without a valid key or OAuth token."""
        headers = {"anthropic-version": target.anthropic_version or DEFAULT_VERSION, **dict(target.headers)}
        if target.oauth:
            headers["anthropic-beta"] = OAUTH_BETA
        return UpstreamRequest(url=v1_url(target.base_url, "/models"), body=b"", headers=headers, stream=False,
                               method="GET")

    def translate_request(self, req: ChatRequest, target: Target) -> UpstreamRequest:
        ledger: list[str] = []
        body = req.body
        requested = str(body.get("model", ""))
        raw: bytes | None = req.raw or None
        max_tokens = body.get("max_tokens")
        cap = target.max_tokens_cap
        if cap and isinstance(max_tokens, int) and max_tokens > cap:
            ledger.append(f"clamped max_tokens {max_tokens} -> {cap}")
            raw = None
            body = {**body, "max_tokens": cap}
        if raw is not None and requested != target.model:
            raw = replace_model(raw, requested, target.model)
        if raw is None:
            raw = body_dumps({**body, "model": target.model})
        headers = {
            "content-type": "application/json",
            "anthropic-version": req.anthropic_version or target.anthropic_version,
            **dict(target.headers),
        }
        beta = beta_header(req, target, ledger)
        if beta:
            headers["anthropic-beta"] = beta
        return UpstreamRequest(
            url=messages_url(target.base_url),
            body=raw,
            headers=headers,
            stream=bool(body.get("stream")),
            ledger=ledger,
            requested_model=requested,
        )

    def translate_response(self, status: int, body: Mapping[str, Any], up: UpstreamRequest) -> ChatResponse:
        return ChatResponse(body=dict(body), status=status)

    def stream_translator(self, up: UpstreamRequest) -> PassthroughStream:
        return PassthroughStream()

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> AdapterError:
        return classify_anthropic_error(status, body, headers)


def classify_anthropic_error(status: int, body: bytes, headers: Mapping[str, str]) -> AdapterError:
    message = error_message_from(body)
    error_type = error_type_for(status)
    try:
        data = loads(body)
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            error_type = str(data["error"].get("type") or error_type)
    except ValueError:
        pass
    if status in (401, 403):
        return AdapterError(
            f"upstream provider rejected the gateway's credentials ({status}): {message}",
            status=502, error_type="api_error",
        )
    if status == 400 and is_context_length_message(message):
        return AdapterError(message, status=400, error_type="invalid_request_error")
    if is_retryable_status(status):
        mapped = status if status in (429, 500, 502, 503, 504, 529) else 502
        return AdapterError(message, status=mapped, retryable=True, error_type=error_type,
                            retry_after=parse_retry_after(headers))
    return AdapterError(message, status=status, error_type=error_type)


class PassthroughStream:
    """Forwards Anthropic events untouched (``raw`` bytes) while reading usage for the log."""

    def __init__(self) -> None:
        self.stats = StreamStats()

    def feed(self, event: StreamEvent) -> list[StreamEvent]:
        data = event.data
        kind = data.get("type", event.event)
        stats = self.stats
        if kind == "message_start":
            usage = data.get("message", {}).get("usage") or {}
            self._usage(usage)
        elif kind == "message_delta":
            self._usage(data.get("usage") or {})
            stop = (data.get("delta") or {}).get("stop_reason")
            if stop:
                stats.stop_reason = stop
                stats.upstream_stopped = True
        elif kind == "content_block_start":
            stats.first_content = True
        elif kind == "message_stop":
            stats.finished = True
        elif kind == "error":
            err = data.get("error") or {}
            stats.error = str(err.get("message") or err.get("type") or "error")
        return [event]

    def flush(self) -> list[StreamEvent]:
        return []

    def _usage(self, usage: Mapping[str, Any]) -> None:
        stats = self.stats
        for name in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
            value = usage.get(name)
            if isinstance(value, int) and value:
                setattr(stats, name, value)
