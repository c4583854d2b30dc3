"""Shared helpers of the table-driven adapter tests: case files, targets, subset matching."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from providers.adapters.base import StreamEvent, Target, UpstreamRequest

CASES_ROOT = Path(__file__).resolve().parent / "cases"
ABSENT = "<absent>"  # in an expected subset: the key must be missing

_FIELD_TYPES = {f.name: str(f.type) for f in dataclasses.fields(Target)}


def load_cases(kind: str, prefix: str) -> Any:
    """pytest parametrize over tests/providers/cases/<kind>/<prefix>*.json, ids from their names."""
    cases = [json.loads(f.read_text()) for f in sorted((CASES_ROOT / kind).glob(prefix + "*.json"))]
    return pytest.mark.parametrize("case", cases, ids=[c["name"] for c in cases])


def make_target(base: dict[str, Any], fields: dict[str, Any]) -> Target:
    """A Target from JSON: lists become the tuple/frozenset the field is typed as."""
    merged = dict(base, **fields)
    for name, value in merged.items():
        if isinstance(value, list):
            merged[name] = frozenset(value) if "frozenset" in _FIELD_TYPES.get(name, "") else tuple(value)
    return Target(**merged)


def assert_subset(expected: Any, actual: Any, path: str = "$") -> None:
    """Every key of ``expected`` is in ``actual`` with a matching value (lists match whole)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected object, got {actual!r}"
        for key, value in expected.items():
            if value == ABSENT:
                assert key not in actual, f"{path}.{key} should be absent in {actual!r}"
                continue
            assert key in actual, f"{path}.{key} missing in {actual!r}"
            assert_subset(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual!r} != {expected!r}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_subset(e, a, f"{path}[{i}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def stream_upstream(meta: dict[str, Any], *, model: str | None = None) -> UpstreamRequest:
    """The streaming UpstreamRequest a transcript's ``meta`` describes (model, tool names, estimate)."""
    return UpstreamRequest(url="", body=b"", headers={}, stream=True,
                           requested_model=model or meta.get("model", "claude-x"),
                           tool_names=meta.get("tool_names", {}), input_estimate=meta.get("input_estimate", 100))


def stream_replay(parser: Any, translator: Any, chunks: Any) -> tuple[list[list[Any]], Any]:
    """Feed ``chunks`` through a framer and a stream translator as the gateway does, then flush both:
    the events as ``[name, data]`` pairs and the translator's stats."""
    out: list[StreamEvent] = []
    for chunk in chunks:
        for event in parser.feed(chunk):
            out += translator.feed(event)
    for event in parser.flush():
        out += translator.feed(event)
    out += translator.flush()
    return [[e.event, e.data] for e in out], translator.stats
