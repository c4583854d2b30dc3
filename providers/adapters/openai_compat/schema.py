"""JSON-schema sanitising for backends that reject parts of JSON Schema (Gemini and friends).

The walk knows which keys hold sub-schemas, so a *property named* ``const`` or ``format`` is never
mistaken for a keyword, and values such as ``default`` or ``enum`` are copied untouched.
"""

from __future__ import annotations

from typing import Any

from providers.adapters.base import JSON, dumps

SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems", "items"})
SCHEMA_ONE = frozenset({
    "items", "additionalProperties", "not", "contains", "if", "then", "else", "propertyNames",
    "additionalItems", "unevaluatedItems", "unevaluatedProperties", "contentSchema",
})
FLATTENED = "anyOf (flattened)"  # marker in the ``found`` set: a union was rewritten


def needs_sanitizing(schema: JSON, drop: frozenset[str], flatten: bool) -> bool:
    """Cheap pre-check on the serialised schema so untouched schemas skip the walk."""
    text = dumps(schema)
    if flatten and (b'"anyOf"' in text or b'"oneOf"' in text or b'"type":[' in text):
        return True
    return any(b'"' + key.encode() + b'"' in text for key in drop)


def sanitize_schema(node: Any, drop: frozenset[str], flatten: bool, found: set[str]) -> Any:
    """A copy of ``node`` without the ``drop`` keywords (recording them in ``found``)."""
    if not isinstance(node, dict):
        return node
    out: JSON = {}
    for key, value in node.items():
        if key in drop:
            found.add(key)
        elif key in SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: sanitize_schema(sub, drop, flatten, found) for name, sub in value.items()}
        elif key in SCHEMA_LISTS and isinstance(value, list):
            out[key] = [sanitize_schema(sub, drop, flatten, found) for sub in value]
        elif key in SCHEMA_ONE and isinstance(value, dict):
            out[key] = sanitize_schema(value, drop, flatten, found)
        else:
            out[key] = value
    return flatten_union(out, found) if flatten else out


def flatten_union(node: JSON, found: set[str]) -> JSON:
    """Collapse unions the way Gemini accepts them.

    Steps: ``oneOf`` becomes ``anyOf``; members that are themselves bare unions are spliced in;
    ``null`` members and duplicates go; a single remaining member is merged into the node (the
    node's own keys, such as ``description``, win); ``type: [x, "null"]`` becomes ``type: x``.
    """
    types = node.get("type")
    if isinstance(types, list):
        real = [t for t in types if t != "null"]
        node["type"] = real[0] if len(real) == 1 else real or "null"
        found.add(FLATTENED)
    union = node.pop("anyOf", None)
    one_of = node.pop("oneOf", None)
    if union is None and one_of is None:
        return node
    members: list[Any] = []
    for member in (union or []) + (one_of or []):
        _splice(member, members)
    non_null = [m for m in members if m != {"type": "null"}]
    members = non_null or members
    if members != union:
        found.add(FLATTENED)
    if len(members) != 1 or not isinstance(members[0], dict):
        node["anyOf"] = members
        return node
    found.add(FLATTENED)
    merged = dict(members[0])
    merged.update(node)
    return merged


def _splice(member: Any, out: list[Any]) -> None:
    """Append ``member`` to ``out``, or its own members when it is a bare union."""
    if isinstance(member, dict) and set(member) <= {"anyOf", "description", "title"} and "anyOf" in member:
        for sub in member["anyOf"]:
            _splice(sub, out)
    elif member not in out:
        out.append(member)
