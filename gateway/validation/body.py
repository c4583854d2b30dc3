"""One body parser for the three inbound dialects (Anthropic Messages, Bedrock invoke, OpenAI chat).

Steps: decode the JSON once (orjson) -> require an object -> check the nesting depth the JSON
library can write back -> check the fields' types against a dialect schema. The schema is only a
check: the decoded dict is what the gateway uses afterwards, unchanged.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

# orjson writes at most 254 nested arrays/objects ("Recursion limit reached" beyond). A body is
# refused above MAX_DEPTH, which leaves the adapters room to wrap it (OpenAI puts a tool schema
# one level deeper; error and stream envelopes add two or three). Real tool schemas nest < 20.
MAX_DEPTH = 128
ORJSON_DEPTH = 254
_HEADROOM = ORJSON_DEPTH - MAX_DEPTH


class BadRequest(ValueError):
    """A malformed request: a 400 ``invalid_request_error``; ``param`` is the field path."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def body_parse(raw: bytes, schema: TypeAdapter[Any] | None = None) -> dict[str, Any]:
    """The request body as a dict, checked against ``schema`` (if given); else BadRequest."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    depth_check(raw, body)
    if schema is not None:
        body_check(body, schema)
    return body


def depth_check(raw: bytes, body: Any) -> None:
    """BadRequest when ``body`` nests deeper than MAX_DEPTH.

    One orjson.dumps of the body inside _HEADROOM lists fails exactly when it is too deep: about
    a quarter of the cost of parsing it (27 µs for 200 KB; counting brackets in ``raw`` with
    bytes.count takes longer, 65 µs per bracket kind). The path is searched only on refusal."""
    if len(raw) <= MAX_DEPTH:  # too short to hold MAX_DEPTH + 1 opening brackets
        return
    wrapped: Any = body
    for _ in range(_HEADROOM):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except orjson.JSONEncodeError:
        path = deep_path(body)
        raise BadRequest(f"{path or 'body'}: JSON nests deeper than {MAX_DEPTH} levels", path or None) from None


def deep_path(body: Any) -> str:
    """The path of the first value nested deeper than MAX_DEPTH (walks the body: refusals only)."""
    stack: list[tuple[Any, tuple[int | str, ...]]] = [(body, ())]
    while stack:
        value, loc = stack.pop()
        if len(loc) >= MAX_DEPTH and isinstance(value, (dict, list)):
            return error_path(loc[:8]) + (".…" if len(loc) > 8 else "")
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        stack.extend((child, (*loc, key)) for key, child in items)
    return ""


def body_check(body: dict[str, Any], schema: TypeAdapter[Any]) -> None:
    """BadRequest naming the first field whose type is wrong, in pydantic's words."""
    try:
        schema.validate_python(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_context=False, include_input=False)[0]
        path = error_path(first["loc"])
        message = f"{path}: {first['msg']}" if path else str(first["msg"])
        raise BadRequest(message, path or None) from None


def error_path(loc: tuple[int | str, ...]) -> str:
    """``("messages", 0, "content", "~list", 0, "~text", "text")`` -> ``messages.0.content.0.text``
    (union tags, which start with ``~``, are not part of the request's shape)."""
    return ".".join(str(part) for part in loc if not (isinstance(part, str) and part.startswith("~")))
