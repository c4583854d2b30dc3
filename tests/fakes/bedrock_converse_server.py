"""A fake Bedrock runtime for the Converse API: ``/model/{id}/converse`` and ``/converse-stream``.

Strict like the real service, before any scripted reply: the SigV4 signature (service ``bedrock``,
recomputed with botocore from what arrived, as ``bedrock_server.verify_sigv4`` does) or a Bedrock
API key as Bearer; then the body as Bedrock validates it, answering 400 ``ValidationException``
for unknown top-level fields (``anthropic_version``, a top-level ``max_tokens``, ``model``,
``stream``...), unknown inferenceConfig fields, a content block that is not exactly one known
member, blank text, roles that do not alternate starting with the user, a toolResult whose
``toolUseId`` no earlier toolUse named, tool blocks without a ``toolConfig``, tool names outside
``^[a-zA-Z0-9_-]{1,64}$`` and a toolChoice naming an undeclared tool.

Streams are binary AWS event-stream messages (the gateway's own encoder), one per event, named by
``:event-type`` with a plain JSON payload; ``converse_stream_frames`` builds them.
"""

from __future__ import annotations

import hmac
import itertools
import json
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from providers.eventstream import encode_event_message, encode_exception
from tests.fakes.bedrock_server import FAKE_CREDENTIALS, bedrock_error, verify_sigv4
from tests.fakes.server import FakeServer, Recorded, Reply, chunk_text

STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
TOP_FIELDS = frozenset({"messages", "system", "inferenceConfig", "toolConfig", "additionalModelRequestFields",
                        "additionalModelResponseFieldPaths", "guardrailConfig", "promptVariables",
                        "requestMetadata", "performanceConfig"})
INFERENCE_FIELDS = frozenset({"maxTokens", "temperature", "topP", "stopSequences"})
BLOCK_MEMBERS = frozenset({"text", "image", "document", "video", "toolUse", "toolResult", "guardContent",
                           "cachePoint", "reasoningContent"})
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ids = itertools.count(1)

# (event type, payload) pairs, e.g. ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "hi"}})
ConverseEvent = tuple[str, dict[str, Any]]


class ConverseRejection(Exception):
    pass


def converse_usage(inp: int = 10, out: int = 5, cache_read: int = 0, cache_write: int = 0) -> dict[str, int]:
    return {"inputTokens": inp, "outputTokens": out, "totalTokens": inp + out + cache_read + cache_write,
            "cacheReadInputTokens": cache_read, "cacheWriteInputTokens": cache_write}


def converse_reply(content: Sequence[dict[str, Any]], stop: str = "end_turn",
                   usage: dict[str, int] | None = None) -> dict[str, Any]:
    """A complete Converse response body (content blocks in Converse's own shape)."""
    return {"output": {"message": {"role": "assistant", "content": list(content)}}, "stopReason": stop,
            "usage": usage or converse_usage(), "metrics": {"latencyMs": 123}}


def converse_stream_events(content: Sequence[dict[str, Any]], stop: str = "end_turn",
                           usage: dict[str, int] | None = None, piece: int = 4) -> list[ConverseEvent]:
    """ConverseStream events for Converse content blocks: text and reasoning cut into pieces, tool
    input as JSON fragments, the usage in ``metadata`` after ``messageStop``."""
    events: list[ConverseEvent] = [("messageStart", {"role": "assistant"})]
    for i, block in enumerate(content):
        if "text" in block:
            events += [("contentBlockDelta", {"contentBlockIndex": i, "delta": {"text": t}})
                       for t in chunk_text(block["text"], size=piece)]
        elif "toolUse" in block:
            tool = block["toolUse"]
            events.append(("contentBlockStart", {"contentBlockIndex": i, "start": {
                "toolUse": {"toolUseId": tool["toolUseId"], "name": tool["name"]}}}))
            raw = json.dumps(tool.get("input", {}), ensure_ascii=False)
            events += [("contentBlockDelta", {"contentBlockIndex": i, "delta": {"toolUse": {"input": t}}})
                       for t in chunk_text(raw, size=piece * 2)]
        elif "reasoningContent" in block:
            events += _reasoning_events(i, block["reasoningContent"], piece)
        events.append(("contentBlockStop", {"contentBlockIndex": i}))
    events.append(("messageStop", {"stopReason": stop}))
    events.append(("metadata", {"usage": usage or converse_usage(), "metrics": {"latencyMs": 99}}))
    return events


def _reasoning_events(i: int, reasoning: dict[str, Any], piece: int) -> list[ConverseEvent]:
    if "redactedContent" in reasoning:
        return [("contentBlockDelta", {"contentBlockIndex": i, "delta": {"reasoningContent": {
            "redactedContent": reasoning["redactedContent"]}}})]
    text = reasoning["reasoningText"]
    out: list[ConverseEvent] = [("contentBlockDelta", {"contentBlockIndex": i, "delta": {"reasoningContent": {"text": t}}})
                                for t in chunk_text(text.get("text", ""), size=piece)]
    if text.get("signature"):
        out.append(("contentBlockDelta", {"contentBlockIndex": i, "delta": {"reasoningContent": {
            "signature": text["signature"]}}}))
    return out


def converse_frame(event_type: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    body = dict(payload, p="abcdefghijkl"[: 1 + len(event_type) % 12])  # AWS pads payloads with "p"
    return encode_event_message(headers, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


def converse_stream_frames(events: Sequence[ConverseEvent]) -> list[bytes]:
    return [converse_frame(name, payload) for name, payload in events]


def converse_stream(events: Sequence[ConverseEvent], *, exception: tuple[str, str] | None = None,
                    **kwargs: Any) -> Reply:
    """An event-stream reply; ``exception`` (type, message) is appended as an exception message."""
    frames = converse_stream_frames(events)
    if exception is not None:
        frames.append(encode_exception(*exception))
    return Reply.sse(frames, headers={"Content-Type": STREAM_CONTENT_TYPE}, **kwargs)


class FakeBedrockConverse(FakeServer):
    """Bedrock runtime (Converse); ``base_url`` is the origin."""

    name: ClassVar[str] = "fake-bedrock-converse"

    def __init__(self, credentials: dict[str, str] | None = None, region: str = "us-east-1",
                 api_key: str | None = None) -> None:
        super().__init__()
        self.credentials = dict(credentials or FAKE_CREDENTIALS)
        self.region = region
        self.api_key = api_key
        self.rejected: list[tuple[Recorded, str]] = []

    def is_main(self, path: str) -> bool:
        parts = path.split("/")
        return len(parts) == 4 and parts[1] == "model" and parts[3] in ("converse", "converse-stream")

    @staticmethod
    def is_stream(rec: Recorded) -> bool:
        return rec.path.endswith("/converse-stream")

    def canned(self, rec: Recorded) -> Reply:
        content = [{"text": "Hello from the fake Bedrock Converse upstream."}]
        if self.is_stream(rec):
            return converse_stream(converse_stream_events(content))
        return Reply.json(converse_reply(content))

    def check(self, rec: Recorded) -> Reply | None:
        bearer = rec.headers.get("authorization", "")
        if self.api_key is not None and bearer.startswith("Bearer "):
            problem = None if hmac.compare_digest(bearer[7:], self.api_key) else "Invalid API Key format"
        else:
            problem = verify_sigv4(rec, self.credentials, self.region)
        if problem is not None:
            name = "InvalidSignatureException" if "signature" in problem else "UnrecognizedClientException"
            return bedrock_error(403, name, problem)
        try:
            validate_converse(rec.json)
        except ConverseRejection as exc:
            return bedrock_error(400, "ValidationException", str(exc))
        return None

    def _choose(self, rec: Recorded) -> Reply:
        if self.is_main(rec.path):
            rejected = self.check(rec)
            if rejected is not None:
                with self._lock:
                    self.rejected.append((rec, rejected.body.decode()))
                return rejected
        return super()._choose(rec)

    def __enter__(self) -> FakeBedrockConverse:
        self.start()
        return self


def _unknown(obj: Any, allowed: frozenset[str], where: str) -> None:
    if not isinstance(obj, dict):
        raise ConverseRejection(f"Malformed input request: {where} must be an object")
    extra = sorted(set(obj) - allowed)
    if extra:
        raise ConverseRejection(f"Malformed input request: {where}: extraneous key [{extra[0]}] is not permitted, "
                                "please reformat your input and try again.")


def validate_converse(body: Any) -> None:
    _unknown(body, TOP_FIELDS, "#")
    _unknown(body.get("inferenceConfig") or {}, INFERENCE_FIELDS, "#/inferenceConfig")
    for block in body.get("system") or ():
        _unknown(block, frozenset({"text", "cachePoint", "guardContent"}), "#/system")
        if "text" in block and not str(block["text"]).strip():
            raise ConverseRejection("The text field in the SystemContentBlock object is blank.")
    declared = _tool_config(body.get("toolConfig"))
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ConverseRejection("The messages field is required.")
    seen: set[str] = set()
    uses_tools = False
    for i, message in enumerate(messages):
        _unknown(message, frozenset({"role", "content"}), f"#/messages/{i}")
        expected = "user" if i % 2 == 0 else "assistant"
        if message.get("role") != expected:
            raise ConverseRejection("A conversation must alternate between user and assistant roles. "
                                    f"(messages.{i} has role {message.get('role')!r})")
        for block in message.get("content") or ():
            uses_tools |= _block(block, message["role"], seen, f"messages.{i}")
    if uses_tools and declared is None:
        raise ConverseRejection("The toolConfig field must be defined when using toolUse and toolResult content "
                                "blocks.")


def _tool_config(config: Any) -> set[str] | None:
    if config is None:
        return None
    _unknown(config, frozenset({"tools", "toolChoice"}), "#/toolConfig")
    names: set[str] = set()
    for tool in config.get("tools") or ():
        _unknown(tool, frozenset({"toolSpec", "cachePoint"}), "#/toolConfig/tools")
        spec = tool.get("toolSpec")
        if spec is None:
            continue
        _unknown(spec, frozenset({"name", "description", "inputSchema"}), "#/toolConfig/tools/toolSpec")
        if not TOOL_NAME.match(str(spec.get("name"))):
            raise ConverseRejection(f"Value '{spec.get('name')}' at 'toolConfig.tools.member.toolSpec.name' failed "
                                    "to satisfy constraint: Member must satisfy regular expression pattern: "
                                    "[a-zA-Z0-9_-]+")
        if set(spec.get("inputSchema") or {}) != {"json"}:
            raise ConverseRejection("toolSpec.inputSchema must have exactly the member json")
        names.add(spec["name"])
    choice = config.get("toolChoice")
    if choice is not None:
        _unknown(choice, frozenset({"auto", "any", "tool"}), "#/toolConfig/toolChoice")
        if "tool" in choice and choice["tool"].get("name") not in names:
            raise ConverseRejection("The tool named in toolChoice is not in toolConfig.tools.")
    return names


def _block(block: Any, role: str, seen: set[str], where: str) -> bool:
    """Check one content block; True when it is a tool block."""
    if not isinstance(block, dict) or len(set(block) & BLOCK_MEMBERS) != 1 or set(block) - BLOCK_MEMBERS:
        raise ConverseRejection(f"{where}.content: a ContentBlock must have exactly one member, got {sorted(block)}")
    (member, value), = block.items()
    if member == "text" and not str(value).strip():
        raise ConverseRejection("The text field in the ContentBlock object is blank. Add text to the text field, "
                                "and try again.")
    if member == "image":
        _unknown(value, frozenset({"format", "source"}), f"{where}.image")
        if value.get("format") not in ("png", "jpeg", "gif", "webp") or set(value["source"]) != {"bytes"}:
            raise ConverseRejection(f"{where}.image: unsupported format or source")
    if member == "toolUse":
        if role != "assistant":
            raise ConverseRejection(f"{where}: toolUse blocks belong to assistant turns")
        _unknown(value, frozenset({"toolUseId", "name", "input"}), f"{where}.toolUse")
        seen.add(value["toolUseId"])
    if member == "toolResult":
        _unknown(value, frozenset({"toolUseId", "content", "status"}), f"{where}.toolResult")
        if value.get("toolUseId") not in seen:
            raise ConverseRejection(f"The toolResult block {value.get('toolUseId')} has no matching toolUse block "
                                    "in an earlier turn.")
        for sub in value.get("content") or ():
            _block(sub, "tool", seen, where + ".toolResult")
    if member == "reasoningContent":
        _unknown(value, frozenset({"reasoningText", "redactedContent"}), f"{where}.reasoningContent")
        if role != "assistant":
            raise ConverseRejection(f"{where}: reasoningContent belongs to assistant turns")
    return member in ("toolUse", "toolResult")
