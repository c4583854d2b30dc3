"""One parse_arguments (providers/adapters/openai_compat/response.py) for both of its callers: tool
calls in an upstream OpenAI answer and tool calls in an inbound OpenAI client's history."""

from __future__ import annotations

import pytest

from gateway.inbound import to_anthropic
from providers.adapters.base import UpstreamRequest
from providers.adapters.openai_compat import OpenAICompatAdapter
from providers.adapters.openai_compat.response import RAW_ARGUMENTS, parse_arguments

# (arguments as sent, the tool_use input both callers produce)
CASES = [
    ('{"command": "ls"}', {"command": "ls"}),
    ('"{\\"command\\": \\"ls\\"}"', {"command": "ls"}),  # double-encoded: unwrapped
    ("", {}),
    (None, {}),
    ({"already": "object"}, {"already": "object"}),
    ('{"command": ', {RAW_ARGUMENTS: '{"command": '}),  # truncated: kept verbatim
    ("[1, 2]", {RAW_ARGUMENTS: "[1, 2]"}),  # JSON, but not an object
    ('"just text"', {RAW_ARGUMENTS: '"just text"'}),
    (42, {RAW_ARGUMENTS: "42"}),
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_parse_arguments(raw, expected):
    assert parse_arguments(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_an_upstream_answer_tool_call(raw, expected):
    body = {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "Bash", "arguments": raw}}]}}]}
    up = UpstreamRequest(url="", body=b"", headers={}, stream=False)
    [block] = OpenAICompatAdapter().translate_response(200, body, up).body["content"]
    assert block["input"] == expected


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_an_inbound_client_history_tool_call(raw, expected):
    call = {"id": "call_1", "type": "function", "function": {"name": "Bash", "arguments": raw}}
    body = {"model": "claude-sonnet-5", "messages": [{"role": "user", "content": "hi"},
                                                     {"role": "assistant", "tool_calls": [call]}]}
    [block] = to_anthropic(body)["messages"][1]["content"]
    assert block == {"type": "tool_use", "id": "call_1", "name": "Bash", "input": expected}
