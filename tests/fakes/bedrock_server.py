"""A fake AWS Bedrock runtime: SigV4-verified ``invoke`` and ``invoke-with-response-stream``.

Every request to ``/model/{id}/invoke[-with-response-stream]`` must carry a SigV4 signature (service
``bedrock``) made with the fake's credentials: the fake recomputes it with botocore from what it
received and answers 403 ``InvalidSignatureException`` like AWS when it does not match (or a Bedrock
API key as ``Authorization: Bearer`` when ``api_key`` is set). Bodies are checked the way Bedrock
checks them (``anthropic_version`` required, ``model``/``stream`` rejected, unknown beta flags
rejected). Streams are real binary AWS event-stream messages, encoded with the gateway's own
``providers.eventstream.encode_event_message``, with ``:event-type: chunk`` and the payload
``{"bytes": "<base64 Anthropic event JSON>"}``.
"""

from __future__ import annotations

import hmac
import time
from calendar import timegm
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import unquote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from providers.eventstream import encode_chunk, encode_event_message, encode_exception
from tests.fakes.anthropic_server import (
    DEFAULT_TEXT,
    ToolUse,
    Usage,
    anthropic_message,
    anthropic_stream_events,
)
from tests.fakes.server import Chunk, FakeServer, Recorded, Reply

FAKE_CREDENTIALS: dict[str, str] = {
    "access_key_id": "AKIAFAKEBEDROCK00001",
    "secret_access_key": "fAkE/sEcReT+kEy/0123456789abcdefghijklm",
    "session_token": "FwoGZXIvYXdzEFAKE//session+token=",
}
STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
ERROR_NAMESPACE = ":http://internal.amazon.com/coral/com.amazon.bedrock/"
ACCEPTED_BETAS = frozenset({
    "interleaved-thinking-2025-05-14", "context-1m-2025-08-07", "fine-grained-tool-streaming-2025-05-14",
    "token-efficient-tools-2025-02-19", "output-128k-2025-02-19", "context-management-2025-06-27",
    "effort-2025-11-24", "tool-search-tool-2025-10-19", "computer-use-2025-01-24",
})


# --- AWS event-stream encoding (the gateway's own encoder) ----------------------------------------

eventstream_message = encode_event_message  # one binary event-stream message with string headers


def chunk_frame(event: dict[str, Any]) -> bytes:
    """A ``chunk`` event carrying one Anthropic stream event."""
    return encode_chunk(event)


def exception_frame(exception_type: str, message: str) -> bytes:
    """An in-stream exception, e.g. ``exception_frame("modelStreamErrorException", "...")``."""
    return encode_exception(exception_type, message)


# --- bodies and replies -----------------------------------------------------------------------------


def bedrock_stream_events(
    text: str | None = DEFAULT_TEXT,
    usage: Usage = (10, 5),
    tool_uses: Sequence[ToolUse] = (),
    stop_reason: str | None = None,
    pieces: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Anthropic events as Bedrock streams them: no ping, invocation metrics on message_stop."""
    events = anthropic_stream_events(text, model="claude-bedrock-fake", usage=usage, tool_uses=tool_uses,
                                     stop_reason=stop_reason, pieces=pieces, ping=False)
    start_usage = events[0]["message"]["usage"]
    events[-1]["amazon-bedrock-invocationMetrics"] = {
        "inputTokenCount": start_usage["input_tokens"],
        "outputTokenCount": events[-2]["usage"]["output_tokens"],
        "invocationLatency": 321,
        "firstByteLatency": 123,
    }
    return events


def bedrock_message(text: str | None = DEFAULT_TEXT, usage: Usage = (10, 5),
                    tool_uses: Sequence[ToolUse] = ()) -> dict[str, Any]:
    body = anthropic_message(text, model="claude-bedrock-fake", usage=usage, tool_uses=tool_uses)
    body["id"] = "msg_bdrk_" + body["id"][len("msg_"):]
    return body


def bedrock_stream(chunks: Sequence[Chunk], **kwargs: Any) -> Reply:
    """An event-stream reply (dict chunks become ``chunk`` frames, bytes are sent as they are)."""
    return Reply.sse(chunks, headers={"Content-Type": STREAM_CONTENT_TYPE}, **kwargs)


def bedrock_error(status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    """An HTTP error the way Bedrock sends it: ``x-amzn-ErrorType`` and ``{"message": ...}``."""
    return Reply.json({"message": message}, status=status,
                      headers={"x-amzn-ErrorType": error_type + ERROR_NAMESPACE, **(headers or {})})


def model_id(rec: Recorded) -> str:
    """The model id in ``/model/{id}/invoke`` (URL-decoded)."""
    return unquote(rec.path.split("/")[2])


# --- SigV4 verification -----------------------------------------------------------------------------


def _auth_fields(header: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in header[len("AWS4-HMAC-SHA256 "):].split(","):
        key, _, value = part.strip().partition("=")
        fields[key] = value
    return fields


def verify_sigv4(rec: Recorded, credentials: dict[str, str], region: str, service: str = "bedrock") -> str | None:
    """None when ``rec`` is signed with ``credentials``; else why not (for the 403 message)."""
    header = rec.headers.get("authorization", "")
    if not header.startswith("AWS4-HMAC-SHA256 "):
        return "Missing Authentication Token"
    fields = _auth_fields(header)
    scope = fields.get("Credential", "").split("/")
    signed = fields.get("SignedHeaders", "").split(";")
    amz_date = rec.headers.get("x-amz-date", "")
    if len(scope) != 5 or scope[0] != credentials["access_key_id"]:
        return "The security token included in the request is invalid."
    if scope[2:] != [region, service, "aws4_request"] or scope[1] != amz_date[:8]:
        return f"Credential should be scoped to a valid region and service ({'/'.join(scope[1:])})."
    if not {"host", "x-amz-date"} <= set(signed) or any(h not in rec.headers for h in signed):
        return "Signed headers are missing from the request."
    token = credentials.get("session_token")
    if token and (rec.headers.get("x-amz-security-token") != token or "x-amz-security-token" not in signed):
        return "The security token included in the request is invalid."
    try:
        skew = abs(time.time() - timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        return "X-Amz-Date is not a valid timestamp."
    if skew > 300:
        return "Signature expired."
    url = f"http://{rec.headers['host']}{rec.path}" + (f"?{rec.raw_query}" if rec.raw_query else "")
    request = AWSRequest(method=rec.method, url=url, data=rec.raw, headers={h: rec.headers[h] for h in signed})
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(credentials["access_key_id"], credentials["secret_access_key"], token),
                       service, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, fields.get("Signature", "")):
        return ("The request signature we calculated does not match the signature you provided. Check your "
                "AWS Secret Access Key and signing method. Consult the service documentation for details.")
    return None


def validate_body(body: Any) -> str | None:
    """Bedrock's own checks of an Anthropic invoke body (None when it would be accepted)."""
    if not isinstance(body, dict):
        return "Malformed input request, please reformat your input and try again."
    for key in ("model", "stream"):
        if key in body:
            return f"Malformed input request: #: extraneous key [{key}] is not permitted, please reformat your input and try again."
    if body.get("anthropic_version") != "bedrock-2023-05-31":
        return "Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again."
    if any(flag not in ACCEPTED_BETAS for flag in body.get("anthropic_beta", [])):
        return "The model returned the following errors: invalid beta flag"
    return None


class FakeBedrock(FakeServer):
    """Bedrock runtime: ``base_url`` is the origin; POST /model/{id}/invoke[-with-response-stream]."""

    name: ClassVar[str] = "fake-bedrock"

    def __init__(self, credentials: dict[str, str] | None = None, region: str = "us-east-1",
                 api_key: str | None = None) -> None:
        super().__init__()
        self.credentials = dict(credentials or FAKE_CREDENTIALS)
        self.region = region
        self.api_key = api_key  # accept this Bedrock API key as "Authorization: Bearer"
        self.rejected: list[Recorded] = []

    def is_main(self, path: str) -> bool:
        parts = path.split("/")
        return len(parts) == 4 and parts[1] == "model" and parts[3] in ("invoke", "invoke-with-response-stream")

    @staticmethod
    def is_stream(rec: Recorded) -> bool:
        return rec.path.endswith("/invoke-with-response-stream")

    def encode_event(self, chunk: Chunk) -> bytes:
        if isinstance(chunk, dict):
            return chunk_frame(chunk)
        return super().encode_event(chunk)

    def canned(self, rec: Recorded) -> Reply:
        if self.is_stream(rec):
            return bedrock_stream(bedrock_stream_events())
        return Reply.json(bedrock_message())

    def check(self, rec: Recorded) -> Reply | None:
        """Bedrock's authentication and validation, before any scripted reply."""
        bearer = rec.headers.get("authorization", "")
        if self.api_key is not None and bearer.startswith("Bearer "):
            problem = None if hmac.compare_digest(bearer[7:], self.api_key) else "Invalid API Key format"
        else:
            problem = verify_sigv4(rec, self.credentials, self.region)
        if problem is not None:
            name = "InvalidSignatureException" if "signature" in problem else "UnrecognizedClientException"
            return bedrock_error(403, name, problem)
        invalid = validate_body(rec.json)
        if invalid is not None:
            return bedrock_error(400, "ValidationException", invalid)
        return None

    def _choose(self, rec: Recorded) -> Reply:
        if self.is_main(rec.path):
            rejected = self.check(rec)
            if rejected is not None:
                with self._lock:
                    self.rejected.append(rec)
                return rejected
        reply = super()._choose(rec)
        if reply.kind == "sse":
            reply.headers.setdefault("Content-Type", STREAM_CONTENT_TYPE)
        return reply

    def __enter__(self) -> FakeBedrock:
        self.start()
        return self
