"""Canonical shapes shared by every backend adapter.

The canonical request/response model is the Anthropic Messages API itself: inbound traffic already
speaks it, so parsing once into plain dicts and translating only at the backend edge keeps the hot
path short. Adapters are pure: data in, data out. No Django, no settings, no network, no logging.
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import orjson

if TYPE_CHECKING:
    from providers.adapters.spec import KindSpec

JSON = dict[str, Any]


# Compact JSON, UTF-8, no ASCII escaping (the wire formats all accept raw UTF-8). orjson's own
# functions, not wrappers: every chunk of a translated stream is one loads and one dumps.
dumps: Callable[[Any], bytes] = orjson.dumps
loads: Callable[[bytes | str], Any] = orjson.loads


def body_dumps(value: Any) -> bytes:
    """``value`` as JSON in a buffer of its own size: for an upstream body, which lives until its
    response has ended. orjson returns its output in the buffer it reserved (measured with orjson
    3.13: 127 KiB held for the bench's 46.7 KB upstream body, 8-11x for flat objects); one copy
    (~3 us for 46 KB) gives the rest back. A stream's chunks are written at once and keep dumps."""
    return bytes(memoryview(orjson.dumps(value)))


@dataclass(slots=True)
class ChatRequest:
    """One inbound Anthropic Messages request, parsed once.

    ``body`` is the decoded JSON (``model`` is what the client sent); ``raw`` keeps the original
    bytes so an Anthropic passthrough can forward them unchanged.
    """

    body: JSON
    raw: bytes = b""
    beta: tuple[str, ...] = ()
    anthropic_version: str = "2023-06-01"

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


@dataclass(frozen=True, slots=True)
class Target:
    """Everything an adapter may know about the backend it translates for.

    Built by the service layer from a Provider row; never carries credentials.
    """

    kind: str
    base_url: str
    model: str
    provider: str = ""
    # request shaping
    max_tokens_cap: int | None = None          # clamp max_tokens to the model's output limit
    default_max_tokens: int = 4096
    anthropic_version: str = "2023-06-01"
    oauth: bool = False                        # Anthropic: add the oauth beta flag
    beta_allow: tuple[str, ...] | None = None  # None: forward every anthropic-beta flag
    beta_deny: tuple[str, ...] = ()            # flag prefixes never forwarded
    drop_params: frozenset[str] = frozenset()  # OpenAI params this backend rejects
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    # backend capabilities / quirks (OpenAI-compatible)
    path: str = "/chat/completions"
    images_in_tool_results: bool = False       # False: tool-result images go in a following user msg
    tool_id_max: int | None = None             # e.g. 9 for backends that take only short ids
    tool_id_alnum: bool = False                # ids must be [a-zA-Z0-9]
    schema_drop_keywords: frozenset[str] = frozenset()
    schema_flatten_anyof: bool = False
    reasoning_model: bool = False              # send max_completion_tokens instead of max_tokens
    reasoning_effort: bool = False             # map output_config.effort / thinking to reasoning_effort
    reasoning_history: bool = False            # send earlier thinking back as reasoning_content
    user_max_len: int = 64                     # metadata.user_id -> user, only if it fits (0: never)
    stream_usage: bool = True                  # send stream_options.include_usage
    drop_billing_header: bool = True           # drop Claude Code's per-request billing system line
    # Bedrock
    model_map: Mapping[str, str] = field(default_factory=dict)  # Claude name -> Bedrock model id
    region_prefix: str = ""                    # cross-region inference profile: "us", "eu", "apac"...
    # Vertex AI
    project: str = ""                          # Google Cloud project id
    region: str = ""                           # Vertex location: "us-east5", "europe-west1", "global"


@dataclass(slots=True)
class UpstreamRequest:
    """What the network seam sends: ``method`` (a POST of ``body`` unless a probe's GET) to ``url``
    (auth is added by client.py)."""

    url: str
    body: bytes
    headers: dict[str, str]
    stream: bool
    # upstream tool name -> name the client knows (for names the backend could not take)
    tool_names: dict[str, str] = field(default_factory=dict)
    # human-readable notes of what was dropped or rewritten for this backend
    ledger: list[str] = field(default_factory=list)
    # estimated input tokens, for message_start when the backend reports usage only at the end
    input_estimate: int = 0
    requested_model: str = ""
    method: str = "POST"


@dataclass(slots=True)
class ChatResponse:
    """A complete (non-streaming) Anthropic Messages reply."""

    body: JSON
    status: int = 200

    @property
    def usage(self) -> JSON:
        usage = self.body.get("usage")
        return usage if isinstance(usage, dict) else {}


@dataclass(slots=True)
class StreamEvent:
    """One server-sent event. ``raw`` keeps the exact bytes of a passthrough event."""

    event: str
    data: JSON
    raw: bytes | None = None


@dataclass(slots=True)
class StreamStats:
    """What a stream translator learned along the way (for logs and circuit decisions)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    stop_reason: str | None = None
    first_content: bool = False   # a content block has started
    finished: bool = False        # message_stop was emitted
    # The upstream itself closed its message with a stop reason (Anthropic's message_delta): an
    # empty reply from Claude (end_turn after a tool result) is an answer, not a broken stream.
    upstream_stopped: bool = False
    error: str | None = None      # an error event was emitted


class AdapterError(Exception):
    """A backend answered with an error (or could not be reached).

    ``status`` is the HTTP status the gateway answers with, ``error_type`` the Anthropic error
    type; only ``retryable`` errors move the circuit and trigger fallback.
    """

    def __init__(
        self,
        message: str,
        status: int = 500,
        retryable: bool = False,
        error_type: str = "api_error",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.error_type = error_type
        self.retry_after = retry_after
        self.upstream_status: int | None = None  # set by the service: what the backend answered

    def body(self) -> JSON:
        return error_object(self.error_type, self.message)


ERROR_TYPES_BY_STATUS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type_for(status: int) -> str:
    if status in ERROR_TYPES_BY_STATUS:
        return ERROR_TYPES_BY_STATUS[status]
    return "invalid_request_error" if status < 500 else "api_error"


def is_retryable_status(status: int) -> bool:
    """Provider trouble (rate limits, overload, server errors), never client mistakes."""
    return status in (408, 409, 429) or status >= 500


class StreamTranslator(Protocol):
    stats: StreamStats

    def feed(self, event: StreamEvent) -> list[StreamEvent]: ...

    def flush(self) -> list[StreamEvent]: ...


class Adapter(Protocol):
    """One backend kind: its translation, plus what it decides besides (``spec``, ``probe``)."""

    kind: ClassVar[str]
    spec: ClassVar[KindSpec]

    def probe(self, target: Target) -> UpstreamRequest:
        """The health check's request: a cheap call that needs a valid credential."""
        ...

    def translate_request(self, req: ChatRequest, target: Target) -> UpstreamRequest: ...

    def translate_response(self, status: int, body: Mapping[str, Any], up: UpstreamRequest) -> ChatResponse: ...

    def stream_translator(self, up: UpstreamRequest) -> StreamTranslator: ...

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> AdapterError: ...


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``retry-after`` in seconds or HTTP-date form.

    RFC 9110 allows both forms of Retry-After. An HTTP-date is measured against the response's
    own ``Date`` header (immune to clock skew between us and the provider; pure), else against
    ``now`` (epoch seconds) when the caller passes its clock; without either it is unusable.
    None: no usable value (the caller then infers its own cooldown).
    """
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return _retry_after_date(value, headers.get("date"), now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _http_date(value: str | None) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(value).timestamp() if value else None
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _retry_after_date(value: str, date: str | None, now: float | None) -> float | None:
    until = _http_date(value)
    reference = _http_date(date)
    reference = now if reference is None else reference
    return None if until is None or reference is None else max(0.0, until - reference)


def error_message_from(body: bytes) -> str:
    """Best-effort human message from an upstream error body of any common shape."""
    try:
        data = loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        return text[:500] or "upstream error"
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("msg") or err.get("detail")
            if msg:
                return str(msg)[:2000]
        elif isinstance(err, str):
            return err[:2000]
        if data.get("message"):
            return str(data["message"])[:2000]
    return body.decode("utf-8", "replace")[:500]


CONTEXT_LENGTH_MARKERS = (
    "context length",
    "context_length",
    "maximum context",
    "too many tokens",
    "prompt is too long",
    "input is too long",
    "context window",
    "reduce the length",
)


def is_context_length_message(message: str) -> bool:
    low = message.lower()
    return any(marker in low for marker in CONTEXT_LENGTH_MARKERS)


def error_object(error_type: str, message: str) -> JSON:
    """Anthropic's error shape, for HTTP bodies and SSE ``error`` events alike."""
    return {"type": "error", "error": {"type": error_type, "message": message}}


def anthropic_error_event(error_type: str, message: str) -> StreamEvent:
    return StreamEvent("error", error_object(error_type, message))


_CONTEXT_SPLIT = re.compile(r"maximum context length is (\d+) tokens.*?\((\d+) in the messages", re.S | re.I)
_COMPLETION_LIMIT = re.compile(r"(?:at most|less than or equal to|<=)\s*`?(\d+)", re.I)


def output_budget_from(message: str) -> tuple[int, bool] | None:
    """The max_tokens an upstream would accept, read from its 400 message: (budget, static).

    vLLM-style "maximum context length is C tokens ... (P in the messages, N in the completion)"
    gives C - P (depends on this prompt); "supports at most N completion tokens" gives N (a fixed
    limit of the model). None when the message says neither.
    """
    split = _CONTEXT_SPLIT.search(message)
    if split:
        return int(split.group(1)) - int(split.group(2)), False
    if ("max_tokens" in message or "max_completion_tokens" in message or "completion tokens" in message
            or "max_output_tokens" in message):  # the last: OpenAI Responses
        limit = _COMPLETION_LIMIT.search(message)
        if limit:
            return int(limit.group(1)), True
    return None


# --- health probes (each kind's spec says how it is probed) -------------------------------------


def probe_messages() -> list[dict[str, Any]]:
    """The conversation a probe sends: one user word."""
    return [{"role": "user", "content": "ping"}]


def probe_chat(model: str) -> ChatRequest:
    """The smallest generation a hosted kind's probe sends: one user word, one output token."""
    return ChatRequest(body={"model": model, "max_tokens": 1, "messages": probe_messages()})
