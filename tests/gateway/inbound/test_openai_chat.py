"""Inbound OpenAI chat completions <-> canonical Anthropic: table-driven, pure (no database)."""

from __future__ import annotations

import json

import pytest

from gateway.inbound import (
    AnthropicToOpenAIStream,
    InboundError,
    OpenAIChunks,
    error_to_openai,
    from_anthropic,
    openai_status,
    to_anthropic,
)
from providers.adapters.base import StreamEvent
from providers.sse import SSEParser
from tests.providers.casekit import ABSENT, assert_subset

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
USER = {"role": "user", "content": "hi"}
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}




def req(**fields):
    return {"model": "claude-sonnet-5", "messages": [USER], **fields}


# (name, OpenAI request, expected subset of the Anthropic request; ABSENT: the key must be missing)
TO_ANTHROPIC = [
    ("minimal_defaults", req(),
     {"model": "claude-sonnet-5", "max_tokens": 4096, "messages": [USER], "system": ABSENT, "stream": ABSENT,
      "tools": ABSENT, "stop_sequences": ABSENT, "metadata": ABSENT, "thinking": ABSENT}),
    ("system_and_developer_lifted_in_order",
     req(messages=[{"role": "system", "content": "Be brief."}, USER,
                   {"role": "developer", "content": [{"type": "text", "text": "Use French."}]}]),
     {"system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use French."}],
      "messages": [USER]}),
    ("empty_system_dropped", req(messages=[{"role": "system", "content": ""}, USER]), {"system": ABSENT}),
    ("max_tokens", req(max_tokens=77), {"max_tokens": 77}),
    ("max_completion_tokens_wins", req(max_tokens=77, max_completion_tokens=99), {"max_tokens": 99}),
    ("stop_string", req(stop="END"), {"stop_sequences": ["END"]}),
    ("stop_list", req(stop=["a", "", "b"]), {"stop_sequences": ["a", "b"]}),
    ("sampling_renames", req(temperature=0.2, top_p=0.9, seed=4, frequency_penalty=1, logprobs=True),
     {"temperature": 0.2, "top_p": 0.9, "seed": ABSENT, "frequency_penalty": ABSENT, "logprobs": ABSENT}),
    ("stream_flag", req(stream=True, stream_options={"include_usage": True}),
     {"stream": True, "stream_options": ABSENT}),
    ("user_to_metadata", req(user="alice"), {"metadata": {"user_id": "alice"}}),
    ("n_one_is_fine", req(n=1), {"n": ABSENT}),
    ("user_text_parts",
     req(messages=[{"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "text", "text": ""}]}]),
     {"messages": [{"role": "user", "content": [{"type": "text", "text": "look"}]}]}),
    ("image_data_url_to_base64",
     req(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}",
                                                                                      "detail": "low"}}]}]),
     {"messages": [{"role": "user", "content": [
         {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]}]}),
    ("image_http_url_to_url_source",
     req(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}}]}]),
     {"messages": [{"role": "user", "content": [
         {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}}]}]}),
    ("pdf_file_to_document",
     req(messages=[{"role": "user", "content": [
         {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}}]}]),
     {"messages": [{"role": "user", "content": [
         {"type": "document", "title": "a.pdf",
          "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}]}]}),
    ("assistant_tool_calls_to_tool_use",
     req(messages=[USER, {"role": "assistant", "content": None, "tool_calls": [CALL]}]),
     {"messages": [USER, {"role": "assistant", "content": [
         {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}]}]}),
    ("assistant_text_and_tool_calls",
     req(messages=[USER, {"role": "assistant", "content": "Let me check.", "tool_calls": [CALL]}]),
     {"messages": [USER, {"role": "assistant", "content": [
         {"type": "text", "text": "Let me check."},
         {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}]}]}),
    ("assistant_invalid_arguments_kept_raw",
     req(messages=[USER, {"role": "assistant", "tool_calls": [
         {**CALL, "function": {"name": "get_weather", "arguments": '{"city": '}}]}]),
     {"messages": [USER, {"role": "assistant", "content": [
         {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"_raw_arguments": '{"city": '}}]}]}),
    ("assistant_empty_arguments_are_empty_object",
     req(messages=[USER, {"role": "assistant", "tool_calls": [{**CALL, "function": {"name": "n", "arguments": ""}}]}]),
     {"messages": [USER, {"role": "assistant", "content": [
         {"type": "tool_use", "id": "call_1", "name": "n", "input": {}}]}]}),
    ("assistant_empty_turn_dropped",
     req(messages=[USER, {"role": "assistant", "content": ""}, {"role": "user", "content": "again"}]),
     {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "again"}]}]}),
    ("tool_messages_merge_with_following_user_text",
     req(messages=[USER, {"role": "assistant", "tool_calls": [CALL, {**CALL, "id": "call_2"}]},
                   {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                   {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "rainy"}]},
                   {"role": "user", "content": "thanks"}]),
     {"messages": [USER, {"role": "assistant"}, {"role": "user", "content": [
         {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
         {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "rainy"}]},
         {"type": "text", "text": "thanks"}]}]}),
    ("tools_parameters_to_input_schema", req(tools=[WEATHER]),
     {"tools": [{"name": "get_weather", "description": "Weather for a city",
                 "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
      "tool_choice": ABSENT}),
    ("tool_without_parameters_gets_empty_schema",
     req(tools=[{"type": "function", "function": {"name": "ping"}}]),
     {"tools": [{"name": "ping", "input_schema": {"type": "object", "properties": {}}}]}),
    ("tool_choice_auto", req(tools=[WEATHER], tool_choice="auto"), {"tool_choice": {"type": "auto"}}),
    ("tool_choice_required", req(tools=[WEATHER], tool_choice="required"), {"tool_choice": {"type": "any"}}),
    ("tool_choice_none", req(tools=[WEATHER], tool_choice="none"), {"tool_choice": {"type": "none"}}),
    ("tool_choice_function",
     req(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_weather"}}),
     {"tool_choice": {"type": "tool", "name": "get_weather"}}),
    ("tool_choice_without_tools_dropped", req(tool_choice="auto"), {"tool_choice": ABSENT, "tools": ABSENT}),
    ("parallel_tool_calls_false", req(tools=[WEATHER], parallel_tool_calls=False),
     {"tool_choice": {"type": "auto", "disable_parallel_tool_use": True}}),
    ("reasoning_effort_default_limit_grows", req(reasoning_effort="medium"),
     {"output_config": {"effort": "medium"}, "thinking": {"type": "enabled", "budget_tokens": 8192},
      "max_tokens": 4096 + 8192}),
    ("reasoning_effort_budget_fits_explicit_limit", req(reasoning_effort="high", max_completion_tokens=10000),
     {"output_config": {"effort": "high"}, "thinking": {"type": "enabled", "budget_tokens": 5000},
      "max_tokens": 10000}),
    ("reasoning_effort_small_limit_effort_only", req(reasoning_effort="low", max_tokens=1500),
     {"output_config": {"effort": "low"}, "thinking": ABSENT, "max_tokens": 1500}),
    ("reasoning_effort_xhigh_is_max", req(reasoning_effort="xhigh", temperature=0.5),
     {"output_config": {"effort": "max"}, "thinking": ABSENT}),
    ("reasoning_effort_none_disables_thinking", req(reasoning_effort="none"),
     {"thinking": {"type": "disabled"}, "output_config": ABSENT}),
    ("reasoning_off_in_tool_loop",
     req(reasoning_effort="high", messages=[USER, {"role": "assistant", "tool_calls": [CALL]},
                                            {"role": "tool", "tool_call_id": "call_1", "content": "ok"}]),
     {"output_config": {"effort": "high"}, "thinking": ABSENT}),
]




@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in TO_ANTHROPIC], ids=[c[0] for c in TO_ANTHROPIC])
def test_to_anthropic(body, expected):
    assert_subset(expected, to_anthropic(body))


BAD_REQUESTS = [
    ("missing_model", {"messages": [USER]}, "model"),
    ("empty_model", {"model": "", "messages": [USER]}, "model"),
    ("missing_messages", {"model": "m"}, "messages"),
    ("empty_messages", {"model": "m", "messages": []}, "messages"),
    ("n_two", req(n=2), "n"),
    ("unknown_role", req(messages=[{"role": "bot", "content": "x"}]), "messages.0"),
    ("tool_without_id", req(messages=[{"role": "tool", "content": "x"}]), "messages.0.tool_call_id"),
    ("audio_part", req(messages=[{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]),
     "messages.0.content.0"),
    ("image_bad_scheme", req(messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]}]), "messages.0.content.0"),
    ("image_data_url_not_base64", req(messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png,abc"}}]}]), "messages.0.content.0"),
    ("file_id_part", req(messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": "f1"}}]}]),
     "messages.0.content.0"),
    ("max_tokens_zero", req(max_tokens=0), "max_tokens"),
    ("max_tokens_string", req(max_completion_tokens="9"), "max_completion_tokens"),
    ("stop_number", req(stop=5), "stop"),
    ("tools_not_a_list", req(tools={"type": "function"}), "tools"),
    ("custom_tool", req(tools=[{"type": "custom", "custom": {"name": "x"}}]), "tools.0"),
    ("tool_choice_unknown", req(tools=[WEATHER], tool_choice="sometimes"), "tool_choice"),
    ("reasoning_effort_unknown", req(reasoning_effort="extreme"), "reasoning_effort"),
    ("reasoning_effort_object", req(reasoning_effort={"level": "high"}), "reasoning_effort"),
    ("messages_not_objects", req(messages=["hi"]), "messages.0"),
    ("user_content_missing", req(messages=[{"role": "user"}]), "messages.0.content"),
    ("assistant_call_without_id", req(messages=[USER, {"role": "assistant", "tool_calls": [{"function": {"name": "x"}}]}]),
     "messages.1.tool_calls.0"),
]


@pytest.mark.parametrize(("body", "param"), [c[1:] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS])
def test_to_anthropic_rejects_what_cannot_be_sent(body, param):
    with pytest.raises(InboundError) as info:
        to_anthropic(body)
    assert info.value.param == param
    assert info.value.body()["error"]["type"] == "invalid_request_error"


def test_to_anthropic_default_max_tokens_is_an_argument():
    assert to_anthropic(req(), default_max_tokens=123)["max_tokens"] == 123


def message(content, stop_reason="end_turn", usage=None, **extra):
    return {"id": "msg_01abc", "type": "message", "role": "assistant", "model": "claude-x", "content": content,
            "stop_reason": stop_reason, "stop_sequence": None,
            "usage": usage or {"input_tokens": 10, "output_tokens": 5}, **extra}


FROM_ANTHROPIC = [
    ("text_joined", message([{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]),
     {"id": "chatcmpl-01abc", "object": "chat.completion", "created": 1700, "model": "claude-x",
      "choices": [{"index": 0, "finish_reason": "stop",
                   "message": {"role": "assistant", "content": "Hello", "tool_calls": ABSENT,
                               "reasoning_content": ABSENT}}]}),
    ("tool_use_to_tool_calls",
     message([{"type": "text", "text": "Checking"},
              {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}], "tool_use"),
     {"choices": [{"finish_reason": "tool_calls", "message": {"content": "Checking", "tool_calls": [
         {"id": "toolu_1", "type": "function",
          "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]}}]}),
    ("tool_only_content_is_null",
     message([{"type": "tool_use", "id": "t", "name": "n", "input": {}}], "tool_use"),
     {"choices": [{"message": {"content": None, "tool_calls": [
         {"id": "t", "type": "function", "function": {"name": "n", "arguments": "{}"}}]}}]}),
    ("raw_arguments_unwrapped",
     message([{"type": "tool_use", "id": "t", "name": "n", "input": {"_raw_arguments": "{oops"}}], "tool_use"),
     {"choices": [{"message": {"tool_calls": [
         {"id": "t", "type": "function", "function": {"name": "n", "arguments": "{oops"}}]}}]}),
    ("thinking_to_reasoning_content",
     message([{"type": "thinking", "thinking": "hmm", "signature": "sig"}, {"type": "text", "text": "42"}]),
     {"choices": [{"message": {"content": "42", "reasoning_content": "hmm"}}]}),
    ("stop_sequence_is_stop", message([{"type": "text", "text": "a"}], "stop_sequence"),
     {"choices": [{"finish_reason": "stop"}]}),
    ("max_tokens_is_length", message([{"type": "text", "text": "a"}], "max_tokens"),
     {"choices": [{"finish_reason": "length"}]}),
    ("refusal_is_content_filter", message([], "refusal"),
     {"choices": [{"finish_reason": "content_filter", "message": {"content": ""}}]}),
    ("usage_counts_cache_in_prompt",
     message([{"type": "text", "text": "a"}], usage={"input_tokens": 100, "output_tokens": 7,
                                                     "cache_read_input_tokens": 20, "cache_creation_input_tokens": 5}),
     {"usage": {"prompt_tokens": 125, "completion_tokens": 7, "total_tokens": 132,
                "prompt_tokens_details": {"cached_tokens": 20}}}),
    ("openai_backend_id_kept", {**message([]), "id": "msg_chatcmpl-xyz"}, {"id": "chatcmpl-xyz"}),
    ("model_falls_back_to_requested", {**message([]), "model": ""}, {"model": "requested-model"}),
]


@pytest.mark.parametrize(("msg", "expected"), [c[1:] for c in FROM_ANTHROPIC], ids=[c[0] for c in FROM_ANTHROPIC])
def test_from_anthropic(msg, expected):
    assert_subset(expected, from_anthropic(msg, "requested-model", created=1700))


ERRORS = [
    ("rate_limit", 429, b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}',
     {"message": "slow down", "type": "rate_limit_error", "param": None, "code": "rate_limit_exceeded"}),
    ("overloaded", 529, {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
     {"message": "busy", "type": "server_error", "code": "overloaded"}),
    ("not_found", 404, {"type": "error", "error": {"type": "not_found_error", "message": "no route"}},
     {"type": "invalid_request_error", "code": "model_not_found"}),
    ("context_length", 400, {"type": "error", "error": {"type": "invalid_request_error",
                                                        "message": "prompt is too long: 300000 tokens"}},
     {"type": "invalid_request_error", "code": "context_length_exceeded"}),
    ("untyped_uses_status", 502, {"error": {"message": "bad gateway"}}, {"type": "server_error", "code": None}),
    ("not_json", 500, b"<html>oops</html>", {"message": "<html>oops</html>", "type": "server_error"}),
]


@pytest.mark.parametrize(("status", "body", "expected"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_error_to_openai(status, body, expected):
    assert_subset({"error": expected}, error_to_openai(status, body))


def test_openai_status_maps_only_anthropic_specific_codes():
    assert [openai_status(s) for s in (400, 429, 500, 529)] == [400, 429, 500, 503]


# --- streams: recorded Anthropic event sequences -> expected chunk lists ----------------------

START = {"type": "message_start", "message": {
    "id": "msg_01s", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
    "stop_reason": None, "usage": {"input_tokens": 30, "output_tokens": 1, "cache_read_input_tokens": 10,
                                   "cache_creation_input_tokens": 0}}}
TEXT_EVENTS = [
    START,
    {"type": "ping"},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Grüße "}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "🌍"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
     "usage": {"output_tokens": 4}},
    {"type": "message_stop"},
]
TOOL_EVENTS = [
    START,
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "need weather"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "c2ln"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1,
     "content_block": {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"city": '}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'}},
    {"type": "content_block_stop", "index": 1},
    {"type": "content_block_start", "index": 2,
     "content_block": {"type": "tool_use", "id": "toolu_b", "name": "get_time", "input": {}}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{}"}},
    {"type": "content_block_stop", "index": 2},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 20}},
    {"type": "message_stop"},
]
ERROR_EVENTS = [
    START,
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "partial"}},
    {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
]


def delta(d, finish=None):
    return {"delta": d, "finish_reason": finish}


ROLE = delta({"role": "assistant", "content": "", "refusal": None})
USAGE = {"prompt_tokens": 40, "completion_tokens": 4, "total_tokens": 44, "prompt_tokens_details": {"cached_tokens": 10}}

STREAMS = [
    ("text", TEXT_EVENTS, False,
     [ROLE, delta({"content": "Grüße "}), delta({"content": "🌍"}), delta({}, "stop")]),
    ("text_with_usage", TEXT_EVENTS, True,
     [ROLE, delta({"content": "Grüße "}), delta({"content": "🌍"}), delta({}, "stop"), {"usage": USAGE}]),
    ("reasoning_and_tool_calls", TOOL_EVENTS, False,
     [ROLE, delta({"reasoning_content": "need weather"}),
      delta({"tool_calls": [{"index": 0, "id": "toolu_a", "type": "function",
                             "function": {"name": "get_weather", "arguments": ""}}]}),
      delta({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
      delta({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
      delta({"tool_calls": [{"index": 1, "id": "toolu_b", "type": "function",
                             "function": {"name": "get_time", "arguments": ""}}]}),
      delta({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),
      delta({}, "tool_calls")]),
    ("error_midway", ERROR_EVENTS, True,
     [ROLE, delta({"content": "partial"}),
      {"error": {"message": "Overloaded", "type": "server_error", "param": None, "code": "overloaded"}}]),
]


def simplify(chunk):
    """A chunk reduced to what the tables compare (the envelope is checked separately)."""
    if "error" in chunk:
        return chunk
    if not chunk["choices"]:
        return {"usage": chunk["usage"]}
    choice = chunk["choices"][0]
    return {"delta": choice["delta"], "finish_reason": choice["finish_reason"]}


def sse_bytes(events):
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e, ensure_ascii=False)}\n\n".encode() for e in events)


def replay(raw, include_usage, split):
    parser = SSEParser()
    translator = AnthropicToOpenAIStream("requested", include_usage=include_usage, created=1700)
    chunks = []
    for piece in (raw[:split], raw[split:]):
        for event in parser.feed(piece):
            chunks.extend(translator.feed(event))
    for event in parser.flush():
        chunks.extend(translator.feed(event))
    return chunks + translator.flush()


@pytest.mark.parametrize(("events", "include_usage", "expected"), [c[1:] for c in STREAMS],
                         ids=[c[0] for c in STREAMS])
def test_stream_translation_at_every_byte_boundary(events, include_usage, expected):
    raw = sse_bytes(events)
    for split in range(len(raw) + 1):
        assert [simplify(c) for c in replay(raw, include_usage, split)] == expected, f"split at {split}"


def test_stream_chunk_envelope():
    translator = AnthropicToOpenAIStream("requested", include_usage=True, created=1700)
    chunks = [c for e in TEXT_EVENTS for c in translator.feed(StreamEvent(e["type"], e))]
    for chunk in chunks:
        assert (chunk["id"], chunk["object"], chunk["created"], chunk["model"]) == (
            "chatcmpl-01s", "chat.completion.chunk", 1700, "claude-x")
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []


def test_stream_ignores_events_after_the_end():
    translator = AnthropicToOpenAIStream("m")
    for event in ERROR_EVENTS:
        translator.feed(StreamEvent(event["type"], event))
    assert translator.feed(StreamEvent("message_stop", {"type": "message_stop"})) == []
    assert translator.flush() == []


def test_stream_flush_reports_a_stream_that_stopped_early():
    translator = AnthropicToOpenAIStream("m")
    translator.feed(StreamEvent("message_start", START))
    assert translator.flush() == [{"error": {"message": "upstream stream ended early", "type": "server_error",
                                             "param": None, "code": None}}]
    assert AnthropicToOpenAIStream("m").flush() == []


def test_encoder_turns_pings_into_comments_and_ends_with_done():
    encoder = OpenAIChunks(AnthropicToOpenAIStream("m"))
    assert encoder.keepalive(False) == b": keep-alive\n\n"
    start = StreamEvent("message_start", {"type": "message_start", "message": {"id": "msg_1"}})
    assert encoder.encode([start]).startswith(b'data: {"id":"chatcmpl-1"')
    assert encoder.encode([StreamEvent("ping", {"type": "ping"})]) == b": keep-alive\n\n"
    assert encoder.encode([StreamEvent("content_block_stop", {"type": "content_block_stop", "index": 0})]) == b""
    assert encoder.end().endswith(b"data: [DONE]\n\n")  # after an early end: an error chunk first
