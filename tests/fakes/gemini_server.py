"""A fake Gemini native API (generativelanguage.googleapis.com) that validates like the real one.

``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse`` with the
key in ``x-goog-api-key``. Before any scripted reply the request is checked the way Google's API
checks it, answering 400 ``INVALID_ARGUMENT`` in Google's error shape for: unknown fields (top
level, generationConfig, thinkingConfig, parts, declarations), schema keywords the OpenAPI-subset
``parameters`` rejects (``$schema``, ``additionalProperties``...), an OBJECT schema with empty
properties, roles other than user/model, a functionResponse no earlier functionCall named, and -
for thinking models (``gemini-3*``) - a tool step of the current turn whose first functionCall lost
its ``thoughtSignature`` ("Function call is missing a thought_signature"). Signatures this fake
never issued are "corrupted" (400) unless they are Google's documented stand-in value.

Replies are built with ``gemini_response`` / ``gemini_stream``; ``issue_signature()`` mints a
signature the fake will later accept.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any, ClassVar

from tests.fakes.server import Chunk, FakeServer, Recorded, Reply, chunk_text

FAKE_GEMINI_KEY = "fake-goog-api-key-0123456789"
STAND_IN_SIGNATURES = frozenset({"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"})
TOP_FIELDS = frozenset({"contents", "systemInstruction", "tools", "toolConfig", "generationConfig",
                        "safetySettings", "cachedContent"})
GENERATION_FIELDS = frozenset({"maxOutputTokens", "temperature", "topP", "topK", "stopSequences", "thinkingConfig",
                               "candidateCount", "responseMimeType", "responseSchema", "seed", "presencePenalty",
                               "frequencyPenalty"})
THINKING_FIELDS = frozenset({"thinkingBudget", "includeThoughts", "thinkingLevel"})
PART_DATA = frozenset({"text", "inlineData", "fileData", "functionCall", "functionResponse"})
PART_FIELDS = PART_DATA | {"thought", "thoughtSignature"}
DECLARATION_FIELDS = frozenset({"name", "description", "parameters"})
# keywords of Google's OpenAPI 3.0 Schema subset (anything else is rejected in ``parameters``)
SCHEMA_FIELDS = frozenset({"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
                           "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
                           "pattern", "example", "anyOf", "propertyOrdering", "items", "minimum", "maximum"})
FORMATS = {"string": ("enum", "date-time"), "number": ("float", "double"), "integer": ("int32", "int64")}
STOP_MAX = 5
ROLE_MESSAGE = "Please use a valid role: user, model."
_ids = itertools.count(1)


class GeminiRejection(Exception):
    pass


def gemini_error(code: int, status: str, message: str, reason: str = "") -> Reply:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                             "domain": "googleapis.com"}]
    return Reply.json({"error": error}, status=code)


def gemini_usage(prompt: int = 10, output: int = 5, cached: int = 0, thoughts: int = 0) -> dict[str, int]:
    usage = {"promptTokenCount": prompt, "candidatesTokenCount": output,
             "totalTokenCount": prompt + output + thoughts}
    if cached:
        usage["cachedContentTokenCount"] = cached
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def gemini_response(parts: Sequence[dict[str, Any]], finish: str = "STOP", usage: dict[str, int] | None = None,
                    model: str = "gemini-test") -> dict[str, Any]:
    """A complete GenerateContentResponse body."""
    return {"candidates": [{"content": {"role": "model", "parts": list(parts)}, "finishReason": finish, "index": 0}],
            "usageMetadata": usage or gemini_usage(), "modelVersion": model, "responseId": f"fake-resp-{next(_ids)}"}


def gemini_stream_chunks(parts: Sequence[dict[str, Any]], finish: str = "STOP", usage: dict[str, int] | None = None,
                         model: str = "gemini-test", piece: int = 4) -> list[dict[str, Any]]:
    """Stream chunks as Gemini sends them: text cut into pieces, other parts whole, the finish reason
    and final usage on the last chunk."""
    rid = f"fake-resp-{next(_ids)}"
    chunks: list[dict[str, Any]] = []
    for part in parts:
        if "text" in part and part["text"] and "thoughtSignature" not in part:
            pieces = [dict(part, text=t) for t in chunk_text(part["text"], size=piece)]
        else:
            pieces = [part]
        chunks += [{"candidates": [{"content": {"role": "model", "parts": [p]}, "index": 0}],
                    "modelVersion": model, "responseId": rid} for p in pieces]
    last = {"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": finish, "index": 0}],
            "usageMetadata": usage or gemini_usage(), "modelVersion": model, "responseId": rid}
    if chunks:
        chunks[-1]["candidates"][0]["finishReason"] = finish
        chunks[-1]["usageMetadata"] = last["usageMetadata"]
    else:
        chunks.append(last)
    return chunks


def gemini_stream(chunks: Sequence[Chunk], **kwargs: Any) -> Reply:
    return Reply.sse(chunks, **kwargs)


class FakeGemini(FakeServer):
    """Gemini native API; ``base_url`` is the origin (the adapter adds ``/v1beta``)."""

    name: ClassVar[str] = "fake-gemini"

    def __init__(self, api_key: str = FAKE_GEMINI_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.rejected: list[tuple[Recorded, str]] = []
        self.signatures: set[str] = set()
        self._sig_ids = itertools.count(1)

    def issue_signature(self) -> str:
        """A fresh opaque signature (base64-like, with the characters that need care)."""
        sig = f"CpwBAdHtim9+fake/sig{next(self._sig_ids):04d}=="
        with self._lock:
            self.signatures.add(sig)
        return sig

    def is_main(self, path: str) -> bool:
        return path.startswith("/v1beta/models/") and path.endswith((":generateContent", ":streamGenerateContent"))

    @staticmethod
    def model_of(rec: Recorded) -> str:
        return rec.path.split("/")[-1].split(":")[0]

    @staticmethod
    def is_stream(rec: Recorded) -> bool:
        return rec.path.endswith(":streamGenerateContent")

    def encode_event(self, chunk: Chunk) -> bytes:
        if isinstance(chunk, dict):  # Google frames its events with CRLF
            return b"data: " + json.dumps(chunk, ensure_ascii=False, separators=(",", ":")).encode() + b"\r\n\r\n"
        return super().encode_event(chunk)

    def canned(self, rec: Recorded) -> Reply:
        parts = [{"text": "Hello from the fake Gemini upstream."}]
        if self.is_stream(rec):
            return gemini_stream(gemini_stream_chunks(parts, model=self.model_of(rec)))
        return Reply.json(gemini_response(parts, model=self.model_of(rec)))

    def side_reply(self, rec: Recorded) -> Reply | None:
        if rec.method == "GET" and rec.path == "/v1beta/models":
            if rec.headers.get("x-goog-api-key") != self.api_key:
                return gemini_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                                    "API_KEY_INVALID")
            return Reply.json({"models": [{"name": "models/gemini-test"}]})
        return None

    def _choose(self, rec: Recorded) -> Reply:
        if self.is_main(rec.path):
            problem = self.check(rec)
            if problem is not None:
                with self._lock:
                    self.rejected.append((rec, problem[1]))
                return gemini_error(*problem)
        return super()._choose(rec)

    def check(self, rec: Recorded) -> tuple[int, str, str, str] | None:
        if rec.headers.get("x-goog-api-key") != self.api_key:
            return 400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", "API_KEY_INVALID"
        if self.is_stream(rec) and rec.query.get("alt") != "sse":
            return 400, "INVALID_ARGUMENT", "fake: streams are served as SSE only with alt=sse", ""
        try:
            validate_request(rec.json, thinking_model=self.model_of(rec).startswith("gemini-3"),
                             issued=self.signatures)
        except GeminiRejection as exc:
            return 400, "INVALID_ARGUMENT", str(exc), ""
        return None

    def __enter__(self) -> FakeGemini:
        self.start()
        return self


def _unknown(obj: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise GeminiRejection(f'Invalid JSON payload received. Unknown name "{extra[0]}" at \'{where}\': '
                              "Cannot find field.")


def validate_request(body: Any, *, thinking_model: bool, issued: set[str], role_required: bool = False,
                     top_fields: frozenset[str] = TOP_FIELDS) -> None:
    """``role_required``: Vertex's rule (the Developer API takes a content without a role as the user's)."""
    if not isinstance(body, dict):
        raise GeminiRejection("Invalid JSON payload received.")
    _unknown(body, top_fields, "")
    config = body.get("generationConfig") or {}
    _unknown(config, GENERATION_FIELDS, "generation_config")
    _unknown(config.get("thinkingConfig") or {}, THINKING_FIELDS, "generation_config.thinking_config")
    if "responseSchema" in config:
        _schema(config["responseSchema"], "generation_config.response_schema")
    if len(config.get("stopSequences") or ()) > STOP_MAX:
        raise GeminiRejection("* GenerateContentRequest.generation_config.stop_sequences: at most 5 are allowed")
    for tool in body.get("tools") or ():
        for declaration in tool.get("functionDeclarations") or ():
            _unknown(declaration, DECLARATION_FIELDS, "tools[0].function_declarations")
            if "parameters" in declaration:
                _schema(declaration["parameters"], f"function_declarations[{declaration.get('name')}].parameters")
    system = body.get("systemInstruction")
    if system is not None:
        _parts(system.get("parts"), "system_instruction")
    _contents(body.get("contents"), thinking_model, issued, role_required)


def _schema(node: Any, where: str) -> None:
    if not isinstance(node, dict):
        return
    _unknown(node, SCHEMA_FIELDS, where)
    fmt = node.get("format")
    if fmt is not None and fmt not in FORMATS.get(str(node.get("type")), ()):
        raise GeminiRejection(f"* GenerateContentRequest.tools[0].{where}.format: only {FORMATS} are supported "
                              f"(got {fmt!r} for type {node.get('type')!r})")
    if node.get("type") == "object" and "properties" in node and not node["properties"]:
        raise GeminiRejection(f"* GenerateContentRequest.tools[0].{where}.properties: should be non-empty for "
                              "OBJECT type")
    for name, sub in (node.get("properties") or {}).items():
        _schema(sub, f"{where}.properties[{name}]")
    if isinstance(node.get("items"), dict):
        _schema(node["items"], where + ".items")
    for sub in node.get("anyOf") or ():
        _schema(sub, where + ".any_of")


def _parts(parts: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(parts, list) or not parts:
        raise GeminiRejection(f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.")
    for part in parts:
        _unknown(part, PART_FIELDS, where + ".parts[0]")
        if len(PART_DATA & set(part)) != 1:
            raise GeminiRejection(f"* GenerateContentRequest.{where}.parts[0].data: required oneof field 'data' "
                                  "must have one initialized field")
    return parts


def _contents(contents: Any, thinking_model: bool, issued: set[str], role_required: bool = False) -> None:
    """Roles, functionResponse names, and the signature rule of thinking models (current turn only:
    after the last user content that answers no function call)."""
    if not isinstance(contents, list) or not contents:
        raise GeminiRejection("* GenerateContentRequest.contents: contents is not specified")
    called: set[str] = set()
    turn_start = 0
    for i, content in enumerate(contents):
        role = content.get("role")
        if role is None and not role_required:
            role = "user"
        if role not in ("user", "model"):
            raise GeminiRejection(f"{ROLE_MESSAGE} (got {role!r})")
        parts = _parts(content.get("parts"), f"contents[{i}]")
        for part in parts:
            _signature(part, issued)
            if "functionCall" in part:
                called.add(part["functionCall"].get("name"))
            if "functionResponse" in part and part["functionResponse"].get("name") not in called:
                raise GeminiRejection(f"* GenerateContentRequest.contents[{i}].parts: function response "
                                      f"{part['functionResponse'].get('name')!r} has no matching function call")
        if role == "user" and not any("functionResponse" in p for p in parts):
            turn_start = i + 1
    if not thinking_model:
        return
    for i, content in enumerate(contents[turn_start:], start=turn_start):
        first = next((p for p in content["parts"] if "functionCall" in p), None)
        if content.get("role") == "model" and first is not None and not first.get("thoughtSignature"):
            raise GeminiRejection(f"Function call is missing a thought_signature in functionCall parts. This is "
                                  f"required for tools to work correctly (contents[{i}]).")


def _signature(part: dict[str, Any], issued: set[str]) -> None:
    sig = part.get("thoughtSignature")
    if sig is not None and sig not in issued and sig not in STAND_IN_SIGNATURES:
        raise GeminiRejection("Corrupted thought signature.")
