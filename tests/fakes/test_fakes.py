"""The fake upstreams speak valid wire formats: raw httpx and the official SDKs parse their replies."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time

import anthropic
import httpx
import openai
import pytest

from tests.fakes import (
    FakeAnthropic,
    FakeOpenAI,
    Reply,
    anthropic_message,
    anthropic_stream_events,
    openai_completion,
    openai_text_chunks,
    openai_tool_call_chunks,
)


@pytest.fixture
def oai():
    with FakeOpenAI() as up:
        yield up


@pytest.fixture
def ant():
    with FakeAnthropic() as up:
        yield up


def _oai_client(up: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=up.base_url, api_key="sk-test-fake", max_retries=0, timeout=10)


def _ant_client(up: FakeAnthropic) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=up.base_url, api_key="sk-ant-test-fake", max_retries=0, timeout=10)


def _transport_errors() -> tuple[type[Exception], ...]:
    errors: list[type[Exception]] = [anthropic.APIError, httpx.HTTPError]
    try:  # anthropic 2.x ships its own httpx fork
        import httpx2  # type: ignore[import-not-found]

        errors.append(httpx2.HTTPError)
    except ImportError:
        pass
    return tuple(errors)


_TRANSPORT_ERRORS = _transport_errors()


def _sse_data(body: str) -> list[str]:
    return [line[6:] for line in body.splitlines() if line.startswith("data: ")]


# --- OpenAI ---------------------------------------------------------------------------------------


def test_openai_base_url_ends_in_v1(oai):
    assert oai.base_url == f"http://127.0.0.1:{oai.port}/v1"


def test_openai_default_reply_is_json_or_sse_after_stream_flag(oai):
    with httpx.Client() as client:
        plain = client.post(f"{oai.base_url}/chat/completions", json={"model": "m", "messages": []})
        streamed = client.post(f"{oai.base_url}/chat/completions", json={"model": "m", "stream": True, "messages": []})
    assert plain.json()["choices"][0]["message"]["content"] == "Hello from the fake OpenAI upstream."
    assert streamed.headers["content-type"] == "text/event-stream"
    assert streamed.headers["transfer-encoding"] == "chunked"
    assert _sse_data(streamed.text)[-1] == "[DONE]"


def test_openai_sdk_parses_completion_and_records_request(oai):
    oai.enqueue(Reply.json(openai_completion("hi there", usage=(12, 3, 4))))
    out = _oai_client(oai).chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "hey"}], max_tokens=5
    )
    assert out.choices[0].message.content == "hi there"
    assert out.usage is not None and out.usage.prompt_tokens_details is not None
    assert out.usage.prompt_tokens_details.cached_tokens == 4
    rec = oai.requests[0]
    assert rec.method == "POST" and rec.path == "/v1/chat/completions"
    assert rec.headers["authorization"] == "Bearer sk-test-fake"
    assert rec.json["messages"] == [{"role": "user", "content": "hey"}]
    assert json.loads(rec.raw) == rec.json


def test_openai_sdk_parses_text_stream(oai):
    text = "Grüße 👋 from the fake — done."
    oai.enqueue(Reply.sse(openai_text_chunks(text, usage=(7, 9, 2)), split=3))
    stream = _oai_client(oai).chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "x"}], stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 9


@pytest.mark.parametrize("one_chunk", [False, True])
def test_openai_sdk_parses_tool_call_stream(oai, one_chunk):
    calls = [("call_1", "Write", '{"file_path": "/tmp/é.txt", "content": "a\\"b"}'), ("call_2", "Read", "{}")]
    oai.enqueue(Reply.sse(openai_tool_call_chunks(calls, one_chunk=one_chunk)))
    stream = _oai_client(oai).chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "x"}], stream=True
    )
    ids: dict[int, str] = {}
    names: dict[int, str] = {}
    args: dict[int, str] = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        finish = chunk.choices[0].finish_reason or finish
        for tc in chunk.choices[0].delta.tool_calls or []:
            if tc.id:
                ids[tc.index] = tc.id
            if tc.function and tc.function.name:
                names[tc.index] = tc.function.name
            if tc.function and tc.function.arguments:
                args[tc.index] = args.get(tc.index, "") + tc.function.arguments
    assert [(ids[i], names[i], args.get(i, "")) for i in sorted(ids)] == list(calls)
    assert finish == "tool_calls"


def test_openai_completion_with_tool_calls_parses(oai):
    oai.enqueue(Reply.json(openai_completion(tool_calls=[("call_9", "Bash", '{"command": "ls"}')])))
    out = _oai_client(oai).chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "x"}])
    msg = out.choices[0]
    assert msg.finish_reason == "tool_calls"
    assert msg.message.tool_calls is not None
    call = msg.message.tool_calls[0]
    assert call.type == "function"
    assert (call.id, call.function.name, call.function.arguments) == ("call_9", "Bash", '{"command": "ls"}')


def test_openai_error_reply_raises_typed_sdk_error(oai):
    oai.enqueue(Reply.error(429, {"error": {"message": "slow down", "type": "rate_limit"}}, {"retry-after": "7"}))
    with pytest.raises(openai.RateLimitError) as info:
        _oai_client(oai).chat.completions.create(model="gpt-test", messages=[])
    assert info.value.response.headers["retry-after"] == "7"


def test_openai_drop_after_truncates_without_done(oai):
    oai.enqueue(Reply.sse(openai_text_chunks("abcdefghijkl"), drop_after=2))
    with httpx.Client() as client, client.stream("POST", f"{oai.base_url}/chat/completions", json={}) as resp:
        got = b""
        with pytest.raises(httpx.RemoteProtocolError):
            for part in resp.iter_bytes():
                got += part
    assert got.count(b"data: ") == 2 and b"[DONE]" not in got


def test_openai_done_false_omits_done_marker(oai):
    oai.enqueue(Reply.sse(openai_text_chunks("ab"), done=False))
    resp = httpx.post(f"{oai.base_url}/chat/completions", json={"stream": True})
    assert "[DONE]" not in resp.text and _sse_data(resp.text)


def test_split_writes_arrive_as_separate_reads(oai):
    event = {"choices": [{"index": 0, "delta": {"content": "😀😀😀"}}]}
    oai.enqueue(Reply.sse([event], split=5, split_delay=0.02, done=False))
    with httpx.Client() as client, client.stream("POST", f"{oai.base_url}/chat/completions", json={}) as resp:
        parts = list(resp.iter_raw())
    assert len(parts) > 3
    assert b"".join(parts) == b"data: " + json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def test_delay_spaces_events(oai):
    oai.enqueue(Reply.sse(openai_text_chunks("abcd", pieces=["a", "b"]), delay=0.1))
    started = time.monotonic()
    httpx.post(f"{oai.base_url}/chat/completions", json={})
    assert time.monotonic() - started >= 0.4


def test_hang_times_out_client_and_counts_disconnect(oai):
    oai.enqueue(Reply.hang(10))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{oai.base_url}/chat/completions", json={}, timeout=httpx.Timeout(5, read=0.3))
    assert oai.wait_for_disconnects(1, timeout=3) == 1


def test_client_leaving_mid_stream_counts_as_disconnect(oai):
    oai.enqueue(Reply.sse(openai_text_chunks("x" * 200, pieces=["x"] * 200), delay=0.02))
    with httpx.Client() as client, client.stream("POST", f"{oai.base_url}/chat/completions", json={}) as resp:
        for _ in resp.iter_raw():
            break
    assert oai.wait_for_disconnects(1, timeout=3) == 1


def test_handler_answers_after_queue_and_default_applies_when_both_empty(oai):
    oai.enqueue(Reply.json(openai_completion("queued")))
    oai.handler = lambda rec: Reply.json(openai_completion("handled")) if rec.json.get("h") else None
    oai.default = Reply.json(openai_completion("default"))
    url = f"{oai.base_url}/chat/completions"
    with httpx.Client() as client:
        texts = [client.post(url, json=b).json()["choices"][0]["message"]["content"] for b in ({"h": 1}, {"h": 1}, {})]
    assert texts == ["queued", "handled", "default"]
    assert len(oai.wait_for_requests(3)) == 3


def test_handler_exception_becomes_500(oai):
    oai.handler = lambda rec: 1 / 0
    resp = httpx.post(f"{oai.base_url}/chat/completions", json={})
    assert resp.status_code == 500 and "ZeroDivisionError" in resp.text


def test_enqueue_with_path_targets_side_endpoint(oai):
    oai.enqueue(Reply.json({"object": "list", "data": []}), path="/v1/models")
    with httpx.Client() as client:
        assert client.get(f"{oai.base_url}/models").json() == {"object": "list", "data": []}
        assert client.get(f"{oai.base_url}/models").json()["data"][0]["id"] == "gpt-test"
        assert client.get(f"{oai.base_url}/nope").status_code == 404


def test_keep_alive_reuses_one_connection(oai):
    with httpx.Client() as client:
        for _ in range(3):
            client.post(f"{oai.base_url}/chat/completions", json={"stream": True}).raise_for_status()
            client.post(f"{oai.base_url}/chat/completions", json={}).raise_for_status()
    assert len(oai.requests) == 6
    assert oai.connections == 1


def test_wait_for_requests_fails_loudly_on_timeout(oai):
    with pytest.raises(AssertionError, match="expected 1 request"):
        oai.wait_for_requests(1, timeout=0.1)


def test_requests_from_other_threads_are_waited_for(oai):
    def post() -> None:  # nothing is queued: the fake's default answer, or a close at teardown
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{oai.base_url}/chat/completions", json={"q": 1}, timeout=5)

    timer = threading.Timer(0.1, post)
    timer.start()
    (rec,) = oai.wait_for_requests(1, timeout=3)
    assert rec.json == {"q": 1}
    timer.join(timeout=10)  # its error, if any, stays in this test


def test_stop_frees_the_port():
    up = FakeOpenAI().start()
    port = up.port
    up.stop()
    with socket.socket() as sock, pytest.raises(OSError):
        sock.settimeout(0.5)
        sock.connect(("127.0.0.1", port))


def test_stop_ends_hanging_handlers():
    up = FakeOpenAI().start()
    up.enqueue(Reply.hang(30))
    threading.Thread(target=lambda: _swallow(up.base_url), daemon=True).start()
    up.wait_for_requests(1)
    started = time.monotonic()
    up.stop()
    assert time.monotonic() - started < 3


def _swallow(base_url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(f"{base_url}/chat/completions", json={}, timeout=10)


def test_connection_close_framing(oai):
    oai.enqueue(Reply.sse(openai_text_chunks("hey"), chunked=False))
    resp = httpx.post(f"{oai.base_url}/chat/completions", json={})
    assert resp.headers["connection"] == "close" and "transfer-encoding" not in resp.headers
    assert _sse_data(resp.text)[-1] == "[DONE]"


# --- Anthropic ------------------------------------------------------------------------------------


def test_anthropic_sdk_parses_message_and_records_headers(ant):
    ant.enqueue(Reply.json(anthropic_message("hello", model="claude-x", usage=(3, 4, 5))))
    out = _ant_client(ant).messages.create(
        model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    assert out.content[0].type == "text" and out.content[0].text == "hello"
    assert (out.usage.input_tokens, out.usage.output_tokens, out.usage.cache_read_input_tokens) == (3, 4, 5)
    rec = ant.requests[0]
    assert rec.path == "/v1/messages"
    # Older SDKs send x-api-key, newer ones (2.x) a Bearer token.
    assert "sk-ant-test-fake" in (rec.headers.get("x-api-key"), rec.headers.get("authorization", "")[7:])
    assert rec.headers["anthropic-version"]


def test_anthropic_sdk_parses_text_stream(ant):
    text = "Zwölf Boxkämpfer 🥊 jagen Viktor."
    ant.enqueue(Reply.sse(anthropic_stream_events(text, usage=(11, 22)), split=4))
    with _ant_client(ant).messages.stream(
        model="claude-test", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        got = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert got == text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 22
    assert ant.requests[0].json["stream"] is True


def test_anthropic_sdk_parses_tool_use_stream(ant):
    tool_input = {"file_path": "/tmp/a.txt", "content": "line\n\"quoted\" ü"}
    ant.enqueue(Reply.sse(anthropic_stream_events("Writing.", tool_uses=[("toolu_1", "Write", tool_input)])))
    with _ant_client(ant).messages.stream(
        model="claude-test", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["text", "tool_use"]
    block = final.content[1]
    assert block.type == "tool_use" and block.name == "Write" and block.input == tool_input
    assert final.stop_reason == "tool_use"


def test_anthropic_stream_event_names_equal_data_types(ant):
    ant.enqueue(Reply.sse(anthropic_stream_events("abc")))
    resp = httpx.post(f"{ant.base_url}/v1/messages", json={"stream": True})
    blocks = [b for b in resp.text.split("\n\n") if b.strip()]
    for block in blocks:
        event_line, data_line = block.split("\n")
        assert event_line[len("event: "):] == json.loads(data_line[len("data: "):])["type"]
    assert "[DONE]" not in resp.text
    assert json.loads(blocks[-1].split("data: ")[1])["type"] == "message_stop"


def test_anthropic_default_reply_follows_stream_flag(ant):
    client = _ant_client(ant)
    out = client.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert out.content[0].text == "Hello from the fake Anthropic upstream."
    with client.messages.stream(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]) as stream:
        assert "".join(stream.text_stream) == "Hello from the fake Anthropic upstream."


def test_anthropic_error_reply_raises_typed_sdk_error(ant):
    ant.enqueue(Reply.error(529, {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}))
    with pytest.raises(anthropic.APIStatusError) as info:
        _ant_client(ant).messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 529 and "busy" in str(info.value)


def test_anthropic_count_tokens_and_models(ant):
    client = _ant_client(ant)
    count = client.messages.count_tokens(model="m", messages=[{"role": "user", "content": "hello " * 40}])
    assert count.input_tokens > 10
    assert [m.id for m in client.models.list()] == ["claude-test"]
    assert [r.path for r in ant.requests] == ["/v1/messages/count_tokens", "/v1/models"]


def test_anthropic_drop_after_breaks_sdk_stream(ant):
    ant.enqueue(Reply.sse(anthropic_stream_events("abcdefgh"), drop_after=3))
    with pytest.raises(_TRANSPORT_ERRORS), _ant_client(ant).messages.stream(
        model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    ) as stream:
        stream.get_final_message()
