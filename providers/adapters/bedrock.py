"""AWS Bedrock (Anthropic models) via ``invoke`` / ``invoke-with-response-stream``.

The body is the Anthropic Messages body minus ``model`` and ``stream`` (the model is in the URL,
streaming is the endpoint) plus ``anthropic_version: bedrock-2023-05-31`` and the allowed beta
flags as an ``anthropic_beta`` list. Claude model names map to Bedrock model ids through
``MODEL_IDS`` (overridable per provider with ``Target.model_map``) with an optional cross-region
prefix (``Target.region_prefix``: ``us``, ``eu``, ``apac``, ``global``...); an id that already looks
like a Bedrock id or an ARN is used as is. ``normalize_model`` turns the Bedrock-style ids Claude
Code sends in Bedrock mode back into Claude names.

The invoke reply is an Anthropic message; the stream arrives as AWS event-stream frames, which
``providers/eventstream.py`` decodes into the Anthropic events this module's translator sees.
SigV4 signing happens in ``providers/client.py``: this module never sees credentials.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote, unquote

from providers.adapters.anthropic import (
    CLAUDE_TIERS,
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
    error_message_from,
    is_context_length_message,
    loads,
    parse_retry_after,
    probe_chat,
)
from providers.adapters.spec import (
    EVENTSTREAM,
    HOSTED_ANTHROPIC,
    PROBE_MODEL,
    REGION,
    SIGV4_BEDROCK,
    KindSpec,
    Option,
    Starter,
)

BEDROCK_VERSION = "bedrock-2023-05-31"
STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"

# Claude API names -> Bedrock base model ids (no region prefix). Dated names missing here map to
# ``anthropic.<name>-v1:0`` and undated ones to ``anthropic.<name>`` (the newer models' spelling).
MODEL_IDS: dict[str, str] = {
    "claude-3-5-sonnet-20241022": "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "claude-3-5-sonnet-latest": "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "claude-3-5-haiku-latest": "anthropic.claude-3-5-haiku-20241022-v1:0",
    "claude-3-7-sonnet-latest": "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "claude-sonnet-4-0": "anthropic.claude-sonnet-4-20250514-v1:0",
    "claude-sonnet-4": "anthropic.claude-sonnet-4-20250514-v1:0",
    "claude-opus-4-0": "anthropic.claude-opus-4-20250514-v1:0",
    "claude-opus-4": "anthropic.claude-opus-4-20250514-v1:0",
    "claude-opus-4-1": "anthropic.claude-opus-4-1-20250805-v1:0",
    "claude-sonnet-4-5": "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "claude-haiku-4-5": "anthropic.claude-haiku-4-5-20251001-v1:0",
    "claude-opus-4-5": "anthropic.claude-opus-4-5-20251101-v1:0",
    "claude-opus-4-6": "anthropic.claude-opus-4-6-v1",
}

# Cross-region inference profile prefixes ("us.anthropic.claude-...").
REGION_PREFIXES = frozenset({"us", "us-gov", "eu", "apac", "jp", "au", "ca", "global"})

# Beta flags Bedrock's invoke API accepts (it rejects the whole request on any other flag); used
# when the provider sets no ``beta_allow`` of its own.
BEDROCK_BETAS: tuple[str, ...] = (
    "computer-use-2024-10-22",
    "computer-use-2025-01-24",
    "token-efficient-tools-2025-02-19",
    "interleaved-thinking-2025-05-14",
    "output-128k-2025-02-19",
    "dev-full-thinking-2025-05-14",
    "context-1m-2025-08-07",
    "context-management-2025-06-27",
    "effort-2025-11-24",
    "tool-search-tool-2025-10-19",
    "tool-examples-2025-10-29",
)

# Bedrock error name (lower case, without "Exception") -> (gateway status, Anthropic type, retryable)
ERRORS: dict[str, tuple[int, str, bool]] = {
    "throttling": (429, "rate_limit_error", True),
    "servicequotaexceeded": (429, "rate_limit_error", True),
    "serviceunavailable": (503, "overloaded_error", True),
    "modelnotready": (503, "overloaded_error", True),
    "internalserver": (500, "api_error", True),
    "modelstreamerror": (502, "api_error", True),
    "modelerror": (502, "api_error", True),
    "modeltimeout": (504, "timeout_error", True),
    "validation": (400, "invalid_request_error", False),
    "resourcenotfound": (404, "not_found_error", False),
}
# the gateway's AWS credentials or model access are wrong: 502, not the client's fault, no fallback
CREDENTIAL_ERRORS = frozenset({
    "accessdenied", "unrecognizedclient", "invalidsignature", "incompletesignature",
    "missingauthenticationtoken", "expiredtoken", "invalidclienttokenid", "signaturedoesnotmatch",
})
PROMPT_TOO_LONG = "prompt is too long"


def is_bedrock_id(name: str) -> bool:
    """Bedrock model ids carry a provider prefix ("anthropic.", "us.anthropic.") or are ARNs."""
    return name.startswith("arn:") or "." in name


def bedrock_model_id(target: Target) -> str:
    """The Bedrock model id (or ARN) for ``target.model``."""
    name = target.model
    if is_bedrock_id(name):
        return name
    mapped = target.model_map.get(name) or MODEL_IDS.get(name)
    if mapped is None:
        last = name.rsplit("-", 1)[-1]
        mapped = f"anthropic.{name}-v1:0" if len(last) == 8 and last.isdigit() else f"anthropic.{name}"
    prefix = target.region_prefix.strip(".")
    if prefix and mapped.startswith("anthropic."):
        mapped = f"{prefix}.{mapped}"
    return mapped


def _strip_version(name: str) -> str:
    """"claude-x-20250514-v1:0" / "claude-opus-4-6-v1" -> the name without the version suffix."""
    head, sep, version = name.rpartition("-v")
    if not sep:
        return name
    major, _, minor = version.partition(":")
    if major.isdigit() and (not minor or minor.isdigit()):
        return head
    return name


def normalize_model(name: str) -> str:
    """A Bedrock-style model id (as Claude Code sends in Bedrock mode) -> the Claude model name.

    ``us.anthropic.claude-sonnet-4-20250514-v1:0`` -> ``claude-sonnet-4-20250514``; foundation-model
    and inference-profile ARNs are reduced the same way. Anything else (a Claude name, an
    application-inference-profile ARN, another vendor's model) comes back unchanged.
    """
    text = unquote(name) if "%" in name else name
    if text.startswith("arn:"):
        text = text.rpartition("/")[2]
    head, dot, rest = text.partition(".")
    if dot and head in REGION_PREFIXES:
        text = rest
    if not text.startswith("anthropic."):
        return name
    return _strip_version(text[len("anthropic."):])


def _beta_list(req: ChatRequest, target: Target, ledger: list[str]) -> list[str]:
    allow = BEDROCK_BETAS if target.beta_allow is None else target.beta_allow
    return hosted_beta_flags(req, dataclasses.replace(target, beta_allow=allow), ledger)


def _body(req: ChatRequest, target: Target, ledger: list[str]) -> dict[str, Any]:
    body = {k: v for k, v in req.body.items() if k not in ("model", "stream")}
    hosted_body_limits(body, target, ledger, "bedrock")
    body.setdefault("anthropic_version", BEDROCK_VERSION)
    betas = _beta_list(req, target, ledger)
    if betas:
        body["anthropic_beta"] = betas
    return body


REGION_PREFIX = Option("str", 'cross-region inference profile prefix: "us", "eu", "apac", "global"...')


class BedrockAdapter:
    kind: ClassVar[str] = "bedrock"
    spec: ClassVar[KindSpec] = KindSpec(
        label="AWS Bedrock (Anthropic models, SigV4)",
        auth=SIGV4_BEDROCK,                # AWS keys JSON or the AWS chain; a plain key is a Bedrock API key
        stream_framing=EVENTSTREAM,        # Anthropic events in event-stream "chunk" messages
        options={**HOSTED_ANTHROPIC, "region_prefix": REGION_PREFIX, "region": REGION, "probe_model": PROBE_MODEL},
        starter=Starter("https://bedrock-runtime.us-east-1.amazonaws.com", *CLAUDE_TIERS),
        probe_model="claude-haiku-4-5",
        claude_name=normalize_model,
    )

    def probe(self, target: Target) -> UpstreamRequest:
        """A one-token invoke of ``target.model``, signed and shaped as live traffic is.

        The runtime host has no free read: ListFoundationModels lives on the control-plane host
        (``bedrock.<region>``) behind its own IAM action, which a role that may only invoke
        lacks, and CountTokens needs ``bedrock:CountTokens``. One token of the smallest Claude
        model checks exactly what requests need (signature, region, model access, quota) for a
        few millionths of a dollar.
        """
        return self.translate_request(probe_chat(target.model), target)

    def translate_request(self, req: ChatRequest, target: Target) -> UpstreamRequest:
        ledger: list[str] = []
        body = _body(req, target, ledger)
        model_id = bedrock_model_id(target)
        if model_id != target.model:
            ledger.append(f"bedrock model id: {model_id}")
        stream = req.stream
        action = "invoke-with-response-stream" if stream else "invoke"
        url = f"{target.base_url.rstrip('/')}/model/{quote(model_id, safe='')}/{action}"
        headers = {
            "content-type": "application/json",
            "accept": STREAM_CONTENT_TYPE if stream else "application/json",
            **dict(target.headers),
        }
        return UpstreamRequest(url=url, body=body_dumps(body), headers=headers, stream=stream, ledger=ledger,
                               requested_model=str(req.body.get("model", "")))

    def translate_response(self, status: int, body: Mapping[str, Any], up: UpstreamRequest) -> ChatResponse:
        return hosted_response(status, body, up)

    def stream_translator(self, up: UpstreamRequest) -> BedrockStream:
        return BedrockStream(up.requested_model)

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> AdapterError:
        name = headers.get("x-amzn-errortype", "")
        data: Any = None
        with contextlib.suppress(ValueError):
            data = loads(body)
        if isinstance(data, dict):
            name = name or str(data.get("__type") or data.get("code") or "")
            message = str(data.get("message") or data.get("Message") or "") or error_message_from(body)
        else:
            message = error_message_from(body)
        err = bedrock_error(name, message, parse_retry_after(headers))
        return err if err is not None else classify_anthropic_error(status, body, headers)


def error_name(raw: str) -> str:
    """"ThrottlingException:http://internal..." / "com.amazon...#ThrottlingException" -> "throttling"."""
    name = raw.partition(":")[0].rpartition("#")[2].strip().lower()
    return name.removesuffix("exception")


def bedrock_error(raw_name: str, message: str, retry_after: float | None = None) -> AdapterError | None:
    """The gateway's answer for a named Bedrock error (HTTP or in-stream); None when unknown."""
    name = error_name(raw_name)
    message = message.strip() or raw_name or "upstream error"
    if name in CREDENTIAL_ERRORS:
        first = message.split("\n", 1)[0].split(" The Canonical String", 1)[0][:300]
        return AdapterError(f"upstream provider rejected the gateway's credentials ({raw_name.partition(':')[0]}): "
                            f"{first}", status=502, error_type="api_error")
    if name not in ERRORS:
        return None
    status, error_type, retryable = ERRORS[name]
    if status == 400 and is_context_length_message(message):
        at = message.lower().find(PROMPT_TOO_LONG)
        message = message[at:] if at >= 0 else f"{PROMPT_TOO_LONG}: {message}"
    return AdapterError(message, status=status, retryable=retryable, error_type=error_type,
                        retry_after=retry_after if retryable else None)


class BedrockStream(PassthroughStream):
    """Bedrock's decoded Anthropic events: read like the passthrough, re-encoded (no raw bytes).

    Bedrock adds ``amazon-bedrock-invocationMetrics`` to ``message_stop``; it is dropped, and the
    model in ``message_start`` is the name the client asked for (as in ``translate_response``).
    """

    def __init__(self, requested_model: str = "") -> None:
        super().__init__()
        self.requested_model = requested_model

    def feed(self, event: StreamEvent) -> list[StreamEvent]:
        data = event.data
        kind = str(data.get("type") or event.event)
        if kind == "message_stop" and "amazon-bedrock-invocationMetrics" in data:
            data = {k: v for k, v in data.items() if k != "amazon-bedrock-invocationMetrics"}
        elif kind == "message_start":
            data = hosted_message_start(data, self.requested_model) or data
        return super().feed(StreamEvent(kind, data))
