"""Tool schemas -> the OpenAPI 3.0 subset Gemini's ``functionDeclarations[].parameters`` accepts.

Steps: local ``$ref``s (``#/$defs/X``, ``#/definitions/X``, as pydantic-built MCP tools write them)
are inlined, recursion cut at a fixed depth; then the shared sanitiser (openai_compat/schema.py)
drops the keywords Gemini rejects and flattens unions; string ``format``s other than the two Gemini
knows go too. Gemini answers 400 for any of them, failing the whole request.
"""

from __future__ import annotations

from typing import Any

from providers.adapters.base import JSON, dumps
from providers.adapters.openai_compat.schema import needs_sanitizing, sanitize_schema

DROP = frozenset({
    "$schema", "$id", "$comment", "$anchor", "$defs", "definitions", "$ref", "additionalProperties",
    "propertyNames", "patternProperties", "unevaluatedProperties", "unevaluatedItems", "exclusiveMinimum",
    "exclusiveMaximum", "const", "examples", "default", "uniqueItems", "multipleOf", "contains", "minContains",
    "maxContains", "prefixItems", "additionalItems", "dependentRequired", "dependentSchemas", "if", "then",
    "else", "not", "allOf", "readOnly", "writeOnly", "deprecated", "contentEncoding", "contentMediaType",
    "contentSchema",
})
STRING_FORMATS = frozenset({"enum", "date-time"})
REF_DEPTH = 8  # nested references beyond this (recursive models) become a plain object
FORMAT_FOUND = "format (unsupported string formats)"


def gemini_schema(schema: JSON, extra_drop: frozenset[str], found: set[str]) -> JSON:
    text = dumps(schema)
    if b'"$ref"' in text:
        defs = {**_mapping(schema.get("definitions")), **_mapping(schema.get("$defs"))}
        schema = _inline(schema, defs, 0)
        found.add("$ref (inlined)")
    drop = DROP | extra_drop
    if needs_sanitizing(schema, drop, True):
        schema = sanitize_schema(schema, drop, True, found)
    if b'"format"' in text:
        schema = _formats(schema, found)
    return schema


def _mapping(value: Any) -> JSON:
    return value if isinstance(value, dict) else {}


def _inline(node: Any, defs: JSON, depth: int) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs, depth) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rpartition("/")[2]
        target = defs.get(name) if ref.startswith(("#/$defs/", "#/definitions/")) else None
        if not isinstance(target, dict) or depth >= REF_DEPTH:
            return {"type": "object", **({"description": node["description"]} if "description" in node else {})}
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _inline(merged, defs, depth + 1)
    return {key: (value if key in ("enum", "required") else _inline(value, defs, depth)) for key, value in node.items()}


def _formats(node: Any, found: set[str]) -> Any:
    """A copy without string formats Gemini rejects (a property *named* format is kept)."""
    if isinstance(node, list):
        return [_formats(item, found) for item in node]
    if not isinstance(node, dict):
        return node
    out: JSON = {}
    for key, value in node.items():
        if key == "format" and isinstance(value, str) and node.get("type") == "string" and value not in STRING_FORMATS:
            found.add(FORMAT_FOUND)
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _formats(sub, found) for name, sub in value.items()}
        elif key in ("enum", "required", "description", "title"):
            out[key] = value
        else:
            out[key] = _formats(value, found)
    return out
