"""Malformed requests get a 400 naming the field, on every inbound endpoint, through real daphne.

The table runs each case against the endpoints it applies to (Messages, count_tokens, the
URL-prefixed route, Bedrock invoke and invoke-with-response-stream, OpenAI chat completions);
a hypothesis fuzz then sends arbitrary and mutated bodies and accepts only 2xx/4xx answers.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.payloads import anthropic_body
from tests.fakes import FakeOpenAI
from tests.support.gateway import CLIENT_KEY, start_gateway

HEADERS = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
MODEL = "claude-sonnet-5"
BEDROCK_MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
MSG = {"model": MODEL, "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def nested(depth: int) -> dict:
    schema: dict = {"type": "object"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def msg(**fields) -> dict:
    return {**MSG, **fields}


def user(*blocks) -> dict:
    return msg(messages=[{"role": "user", "content": list(blocks)}])


def turn(*blocks) -> dict:
    """A user turn, then an assistant turn holding ``blocks``."""
    return msg(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": list(blocks)}])


def tool_result(content, **extra) -> dict:
    return user({"type": "tool_result", "tool_use_id": "toolu_1", "content": content, **extra})


IMG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
NOT_STRING = "Input should be a valid string"
NOT_DICT = "Input should be a valid dictionary"
NOT_LIST = "Input should be a valid list"

# (id, body, the message's expected start, where: "all" = every Anthropic endpoint, "msg" = the
# ones with max_tokens (not count_tokens))
ANTHROPIC_CASES = [
    ("tools_float", msg(tools=1.5), f"tools: {NOT_LIST}", "all"),
    ("text_int", user({"type": "text", "text": 5}), f"messages.0.content.0.text: {NOT_STRING}", "all"),
    ("image_data_int", user({"type": "image", "source": {**IMG, "data": 5}}),
     f"messages.0.content.0.source.data: {NOT_STRING}", "all"),
    ("assistant_content_true", msg(messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": True}]),
     "messages.1.content: Input should be a valid string or list", "all"),
    ("deep_input_schema", msg(tools=[{"name": "Deep", "input_schema": nested(260)}]),
     "tools.0.input_schema.properties.a.properties.a.properties.…: JSON nests deeper than 128 levels", "all"),
    ("model_int", msg(model=5), f"model: {NOT_STRING}", "anthropic"),
    ("model_missing", {"max_tokens": 10, "messages": []}, "model: Field required", "anthropic"),
    ("messages_string", msg(messages="hi"), f"messages: {NOT_LIST}", "all"),
    ("message_int", msg(messages=[5]), f"messages.0: {NOT_DICT}", "all"),
    ("role_unknown", msg(messages=[{"role": "robot", "content": "x"}]),
     "messages.0.role: Input should be 'user', 'assistant' or 'system'", "all"),
    ("content_missing", msg(messages=[{"role": "user"}]), "messages.0.content: Field required", "all"),
    ("block_untyped", user({"text": "x"}), "messages.0.content.0.type: Field required", "all"),
    ("block_type_int", user({"type": 5}), f"messages.0.content.0.type: {NOT_STRING}", "all"),
    ("block_int", user(5), f"messages.0.content.0: {NOT_DICT}", "all"),
    ("tool_use_input_str", turn({"type": "tool_use", "id": "toolu_1", "name": "Read", "input": "x"}),
     f"messages.1.content.0.input: {NOT_DICT}", "all"),
    ("tool_use_id_int", turn({"type": "tool_use", "id": 5, "name": "Read", "input": {}}),
     f"messages.1.content.0.id: {NOT_STRING}", "all"),
    ("tool_use_name_missing", turn({"type": "tool_use", "id": "toolu_1", "input": {}}),
     "messages.1.content.0.name: Field required", "all"),
    ("tool_result_content_int", tool_result(5), "messages.0.content.0.content: Input should be a valid string or list",
     "all"),
    ("tool_result_text_list", tool_result([{"type": "text", "text": [1]}]),
     f"messages.0.content.0.content.0.text: {NOT_STRING}", "all"),
    ("tool_result_image_data", tool_result([{"type": "image", "source": {**IMG, "data": None}}]),
     f"messages.0.content.0.content.0.source.data: {NOT_STRING}", "all"),
    ("tool_result_is_error_str", tool_result("ok", is_error="yes"),
     "messages.0.content.0.is_error: Input should be a valid boolean", "all"),
    ("tool_result_id_missing", user({"type": "tool_result", "content": "ok"}),
     "messages.0.content.0.tool_use_id: Field required", "all"),
    ("thinking_int", turn({"type": "thinking", "thinking": 5, "signature": "sig"}),
     f"messages.1.content.0.thinking: {NOT_STRING}", "all"),
    ("redacted_thinking_null", turn({"type": "redacted_thinking", "data": None}),
     f"messages.1.content.0.data: {NOT_STRING}", "all"),
    ("document_data_int", user({"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                                                "data": 5}}),
     f"messages.0.content.0.source.data: {NOT_STRING}", "all"),
    ("image_url_int", user({"type": "image", "source": {"type": "url", "url": 5}}),
     f"messages.0.content.0.source.url: {NOT_STRING}", "all"),
    ("image_source_str", user({"type": "image", "source": "http://x"}), f"messages.0.content.0.source: {NOT_DICT}",
     "all"),
    ("cache_control_int", user({"type": "text", "text": "x", "cache_control": 5}),
     f"messages.0.content.0.cache_control: {NOT_DICT}", "all"),
    ("search_result_content", user({"type": "search_result", "source": "s", "title": "t", "content": "x"}),
     f"messages.0.content.0.content: {NOT_LIST}", "all"),
    ("system_int", msg(system=5), "system: Input should be a valid string or list", "all"),
    ("system_text_int", msg(system=[{"type": "text", "text": 5}]), f"system.0.text: {NOT_STRING}", "all"),
    ("tool_int", msg(tools=[5]), f"tools.0: {NOT_DICT}", "all"),
    ("tool_name_int", msg(tools=[{"name": 5, "input_schema": {}}]), f"tools.0.name: {NOT_STRING}", "all"),
    ("tool_schema_str", msg(tools=[{"name": "x", "input_schema": "x"}]), f"tools.0.input_schema: {NOT_DICT}", "all"),
    ("server_tool_name_int", msg(tools=[{"type": "web_search_20250305", "name": 5}]), f"tools.0.name: {NOT_STRING}",
     "all"),
    ("tool_choice_str", msg(tool_choice="auto"), f"tool_choice: {NOT_DICT}", "all"),
    ("tool_choice_tool_no_name", msg(tool_choice={"type": "tool"}), "tool_choice.name: Field required", "all"),
    ("thinking_budget_str", msg(thinking={"type": "enabled", "budget_tokens": "1024"}),
     "thinking.budget_tokens: Input should be a valid integer", "all"),
    ("mcp_server_url_int", msg(mcp_servers=[{"type": "url", "url": 5, "name": "x"}]),
     f"mcp_servers.0.url: {NOT_STRING}", "all"),
    ("metadata_user_int", msg(metadata={"user_id": 5}), f"metadata.user_id: {NOT_STRING}", "msg"),
    ("stop_sequences_str", msg(stop_sequences="x"), f"stop_sequences: {NOT_LIST}", "msg"),
    ("temperature_str", msg(temperature="hot"), "temperature: Input should be a valid number", "msg"),
    ("top_k_float", msg(top_k=1.5), "top_k: Input should be a valid integer", "msg"),
    ("stream_str", msg(stream="yes"), "stream: Input should be a valid boolean", "anthropic_msg"),
    ("max_tokens_str", msg(max_tokens="100"), "max_tokens: Input should be a valid integer", "msg"),
    ("max_tokens_bool", msg(max_tokens=True), "max_tokens: Input should be a valid integer", "msg"),
    ("max_tokens_zero", msg(max_tokens=0), "max_tokens: Input should be greater than or equal to 1", "msg"),
    ("max_tokens_missing", {"model": MODEL, "messages": []}, "max_tokens: Field required", "msg"),
    ("service_tier_int", msg(service_tier=5), f"service_tier: {NOT_STRING}", "msg"),
    ("container_int", msg(container=5), f"container: {NOT_STRING}", "msg"),
    ("not_json", b'{"model": ', "request body is not valid JSON", "all"),
    ("array_body", b"[1, 2]", "request body must be a JSON object", "all"),
]

ENDPOINTS = {
    "messages": "/v1/messages?beta=true",
    "count_tokens": "/v1/messages/count_tokens?beta=true",
    "prefixed": "/openai/v1/messages",
    "bedrock": f"/model/{BEDROCK_MODEL}/invoke",
    "bedrock_stream": f"/model/{BEDROCK_MODEL}/invoke-with-response-stream",
}
APPLIES = {  # endpoint -> the case groups it takes
    "messages": {"all", "msg", "anthropic", "anthropic_msg"},
    "count_tokens": {"all", "anthropic"},
    "prefixed": {"all", "msg", "anthropic", "anthropic_msg"},
    "bedrock": {"all", "msg"},
    "bedrock_stream": {"all", "msg"},
}


def _anthropic_params():
    for endpoint, groups in APPLIES.items():
        for case_id, body, expected, where in ANTHROPIC_CASES:
            if where in groups:
                yield pytest.param(endpoint, body, expected, id=f"{endpoint}-{case_id}")


def chat(**fields) -> dict:
    return {**CHAT, **fields}


def chat_user(*parts) -> dict:
    return chat(messages=[{"role": "user", "content": list(parts)}])


OPENAI_CASES = [
    ("content_true", chat(messages=[{"role": "user", "content": True}]),
     "messages.0.content: Input should be a valid string or list"),
    ("text_int", chat_user({"type": "text", "text": 5}), f"messages.0.content.0.text: {NOT_STRING}"),
    ("image_url_int", chat_user({"type": "image_url", "image_url": {"url": 5}}),
     f"messages.0.content.0.image_url.url: {NOT_STRING}"),
    ("file_data_int", chat_user({"type": "file", "file": {"file_data": 5}}),
     f"messages.0.content.0.file.file_data: {NOT_STRING}"),
    ("message_int", chat(messages=[5]), f"messages.0: {NOT_DICT}"),
    ("role_int", chat(messages=[{"role": 5}]), f"messages.0.role: {NOT_STRING}"),
    ("tool_calls_str", chat(messages=[{"role": "assistant", "tool_calls": "x"}]), f"messages.0.tool_calls: {NOT_LIST}"),
    ("tool_call_name_int", chat(messages=[{"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": 5, "arguments": "{}"}}]}]),
     f"messages.0.tool_calls.0.function.name: {NOT_STRING}"),
    ("tool_call_id_int", chat(messages=[{"role": "tool", "tool_call_id": 5, "content": "x"}]),
     f"messages.0.tool_call_id: {NOT_STRING}"),
    ("system_content_int", chat(messages=[{"role": "system", "content": 5}, {"role": "user", "content": "hi"}]),
     "messages.0.content: Input should be a valid string or list"),
    ("tools_float", chat(tools=1.5), f"tools: {NOT_LIST}"),
    ("tool_name_int", chat(tools=[{"type": "function", "function": {"name": 5}}]), f"tools.0.function.name: {NOT_STRING}"),
    ("tool_parameters_str", chat(tools=[{"type": "function", "function": {"name": "f", "parameters": "x"}}]),
     f"tools.0.function.parameters: {NOT_DICT}"),
    ("deep_parameters", chat(tools=[{"type": "function", "function": {"name": "f", "parameters": nested(200)}}]),
     "tools.0.function.parameters.properties.a.properties.a.…: JSON nests deeper than 128 levels"),
    ("temperature_str", chat(temperature="hot"), "temperature: Input should be a valid number"),
    ("max_tokens_str", chat(max_tokens="5"), "max_tokens: Input should be a valid integer"),
    ("stop_int", chat(stop=5), "stop: Input should be a valid string or list"),
    ("stream_str", chat(stream="yes"), "stream: Input should be a valid boolean"),
    ("stream_options_str", chat(stream_options={"include_usage": "yes"}),
     "stream_options.include_usage: Input should be a valid boolean"),
    ("tool_choice_int", chat(tool_choice=5), f"tool_choice: {NOT_STRING}"),
    ("user_int", chat(user=5), f"user: {NOT_STRING}"),
    ("model_missing", {"messages": []}, "model: Field required"),
    ("not_json", b"{", "request body is not valid JSON"),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with FakeOpenAI() as up, start_gateway(
        {"PREFERRED_PROVIDER": "openai", "OPENAI_BASE_URL": up.base_url, "OPENAI_API_KEY": "sk-test-fake"},
        tmp_path_factory.mktemp("badinput"),
    ) as gw, httpx.Client(base_url=gw.url, headers=HEADERS, timeout=30, trust_env=False) as client:
        yield up, gw, client


def post(client: httpx.Client, path: str, body) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(path, content=content, headers={"content-type": "application/json"})


def bedrock_body(body):
    if isinstance(body, bytes):
        return body
    body = {k: v for k, v in body.items() if k not in ("model", "stream")}
    return {**body, "anthropic_version": "bedrock-2023-05-31"}


@pytest.mark.parametrize(("endpoint", "body", "expected"), list(_anthropic_params()))
def test_malformed_anthropic_request_is_a_400_naming_the_field(live, endpoint, body, expected):
    _, _, client = live
    bedrock = endpoint.startswith("bedrock")
    resp = post(client, ENDPOINTS[endpoint], bedrock_body(body) if bedrock else body)
    assert resp.status_code == 400, resp.text
    if bedrock:  # Bedrock's shape: {"message"} and the exception name in a header
        assert resp.headers["x-amzn-errortype"] == "ValidationException"
        message = resp.json()["message"]
    else:
        error = resp.json()
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
        message = error["error"]["message"]
    assert message.startswith(expected), message


@pytest.mark.parametrize(("body", "expected"), [pytest.param(b, e, id=i) for i, b, e in OPENAI_CASES])
def test_malformed_chat_completions_request_is_a_400_in_openai_shape(live, body, expected):
    _, _, client = live
    resp = post(client, "/v1/chat/completions", body)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(expected), error["message"]
    if ": " in expected and not expected.startswith("request body"):
        assert error["param"] == expected.split(": ")[0]


def test_bedrock_anthropic_beta_of_wrong_type_is_a_validation_exception(live):
    _, _, client = live
    resp = post(client, ENDPOINTS["bedrock"], {**bedrock_body(MSG), "anthropic_beta": 5})
    assert resp.status_code == 400
    assert resp.headers["x-amzn-errortype"] == "ValidationException"
    assert resp.json()["message"].startswith("anthropic_beta:")


def claude_code_body() -> dict:
    """A Claude-Code-like body with the additions no schema of today knows."""
    body = anthropic_body(False)
    body["messages"].insert(0, {"role": "system", "content": "system text inside messages"})
    body["messages"][-1]["content"].append({"type": "future_block_2027", "payload": {"x": [1, 2]}})
    body["tools"] += [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
                      {"type": "custom", "name": "mcp__server__tool.with.dots", "input_schema": {"type": "object"}},
                      {"type": "tool_search_tool_regex_20251119", "name": "tool_search"}]
    body.update(thinking={"type": "adaptive"}, output_config={"effort": "high"},
                context_management={"edits": [{"type": "clear_tool_uses_20250919"}]},
                container={"id": "c1", "skills": []}, mcp_servers=[{"type": "url", "url": "http://127.0.0.1:9/mcp",
                                                                   "name": "m", "tool_configuration": {}}],
                some_field_from_2027={"anything": True}, service_tier="auto")
    return body


@pytest.mark.parametrize("endpoint", ["messages", "count_tokens", "prefixed", "bedrock"])
def test_unknown_fields_and_block_types_are_accepted(live, endpoint):
    _, _, client = live
    body = claude_code_body()
    resp = post(client, ENDPOINTS[endpoint], bedrock_body(body) if endpoint == "bedrock" else body)
    assert resp.status_code == 200, resp.text


def test_chat_completions_with_unknown_fields_is_accepted(live):
    _, _, client = live
    body = chat(seed=1, logprobs=False, response_format={"type": "text"}, store=False, future_param=[1],
                messages=[{"role": "developer", "content": "be brief"},
                          {"role": "user", "content": [{"type": "text", "text": "hi"},
                                                       {"type": "image_url", "image_url": "https://x/a.png"}]}])
    resp = post(client, "/v1/chat/completions", body)
    assert resp.status_code == 200, resp.text


# --- fuzz ---------------------------------------------------------------------------------------

SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
FUZZ_BASES = [
    claude_code_body(),
    msg(stream=True, tools=[{"name": "Read", "input_schema": {"type": "object"}}],
        messages=[{"role": "user", "content": "hi"},
                  {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": {}}]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                                "content": [{"type": "text", "text": "x"}]}]}]),
]


def _paths(value, prefix=()):
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from _paths(child, (*prefix, key))


PATHS = [(base, p) for base in FUZZ_BASES for p in _paths(base) if p]


def mutate(base_and_path, value, drop: bool):
    """A copy of a valid body with the value at one path replaced (or the key deleted)."""
    base, path = base_and_path
    body = copy.deepcopy(base)
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    if drop:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return body


FUZZ_BODIES = (st.builds(mutate, st.sampled_from(PATHS), VALUES, st.booleans())
               | st.dictionaries(st.sampled_from(["model", "messages", "max_tokens", "tools", "system", "stream"])
                                 | st.text(max_size=6), VALUES, max_size=6)
               | VALUES)


@settings(max_examples=int(os.environ.get("BADINPUT_FUZZ_EXAMPLES", "250")), deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow])
@given(body=FUZZ_BODIES, endpoint=st.sampled_from(["messages", "messages", "messages", "count_tokens", "bedrock"]))
def test_fuzzed_messages_bodies_never_get_a_5xx(live, body, endpoint):
    _, _, client = live
    sent = bedrock_body(body) if endpoint == "bedrock" and isinstance(body, dict) else body
    resp = post(client, ENDPOINTS[endpoint], json.dumps(sent).encode())
    assert resp.status_code < 500, (resp.status_code, resp.text[:500])
    if resp.status_code == 400 and endpoint != "bedrock":
        assert resp.json()["error"]["type"] == "invalid_request_error"


CHAT_BASES = [
    chat(stream=True, stream_options={"include_usage": True}, temperature=0.5, stop=["x"], max_tokens=100,
         tools=[{"type": "function", "function": {"name": "Read", "parameters": {"type": "object"}}}],
         tool_choice="auto", reasoning_effort="low",
         messages=[{"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                   {"role": "assistant", "content": None, "tool_calls": [
                       {"id": "c1", "type": "function", "function": {"name": "Read", "arguments": "{}"}}]},
                   {"role": "tool", "tool_call_id": "c1", "content": "ok"}]),
]
CHAT_PATHS = [(base, p) for base in CHAT_BASES for p in _paths(base) if p]


@settings(max_examples=int(os.environ.get("BADINPUT_FUZZ_EXAMPLES", "150")), deadline=timedelta(seconds=10),
          suppress_health_check=[HealthCheck.too_slow])
@given(body=st.builds(mutate, st.sampled_from(CHAT_PATHS), VALUES, st.booleans()) | VALUES)
def test_fuzzed_chat_completions_bodies_never_get_a_5xx(live, body):
    _, _, client = live
    resp = post(client, "/v1/chat/completions", json.dumps(body).encode())
    assert resp.status_code < 500, (resp.status_code, resp.text[:500])
    if resp.status_code == 400:
        assert resp.json()["error"]["type"] == "invalid_request_error"


# --- the parser itself (pure, no server) -------------------------------------------------------


def test_body_parse_returns_the_decoded_dict_unchanged():
    from gateway.validation import MESSAGES, body_parse

    body = claude_code_body()
    raw = json.dumps(body).encode()
    assert body_parse(raw, MESSAGES) == body  # extras and unknown blocks kept, nothing coerced


def test_depth_limit_is_what_orjson_can_write_back_with_headroom():
    import orjson

    from gateway.validation import MAX_DEPTH, MESSAGES, BadRequest, body_parse

    def deep(levels):  # ``levels`` nested containers in all, the body included
        return {**MSG, "metadata": {"user_id": "u", "x": json.loads("[" * (levels - 2) + "]" * (levels - 2))}}

    body_parse(json.dumps(deep(MAX_DEPTH)).encode(), MESSAGES)
    orjson.dumps(deep(MAX_DEPTH))
    with pytest.raises(BadRequest) as info:
        body_parse(json.dumps(deep(MAX_DEPTH + 1)).encode(), MESSAGES)
    assert info.value.message.startswith("metadata.x.0.0.0.0.0.0.…: JSON nests deeper than 128 levels")
