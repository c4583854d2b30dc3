"""The real Claude Code CLI drives a tool loop through the gateway to a fake OpenAI upstream.

Install the CLI once (it is a native binary shipped inside the npm package; nothing else is
downloaded)::

    npm install --prefix .cache/claude-code @anthropic-ai/claude-code

The tests find it at ``.cache/claude-code/node_modules/.bin/claude`` (or ``$CLAUDE_BIN``, or
``claude`` on PATH) and skip when it is missing, unless ``REQUIRE_E2E=1``, which turns the skip
into a failure (CI sets it once the install step is in place).

Each run: the gateway (daphne subprocess, fresh SQLite) is seeded with one OpenAI-compatible
provider pointing at ``FakeOpenAI``; the CLI runs as
``claude -p PROMPT --dangerously-skip-permissions --output-format json`` with a fresh HOME,
``ANTHROPIC_BASE_URL`` at the gateway and the gateway's client key. The fake upstream answers the
agent loop with a streamed ``Write`` tool call creating ``hello.txt``, then, once the tool result
comes back, with ``DONE-<token>``; any other request (title/topic generation, quota probes) gets a
short text.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import FAKE_ANTHROPIC_KEY, FAKE_ANTHROPIC_MODEL
from tests.fakes import (
    FakeOpenAI,
    Recorded,
    Reply,
    anthropic_stream_events,
    openai_completion,
    openai_text_chunks,
    openai_tool_call_chunks,
)

pytestmark = pytest.mark.timeout(300)

WRITE_CONTENT = "Hello from the e2e test ✓ — line one\nline two with \"quotes\" and a tab\t.\n"


def _tool_names(body: dict[str, Any]) -> list[str]:
    return [t.get("function", {}).get("name", "") for t in body.get("tools") or []]


def _write_tool(body: dict[str, Any]) -> str | None:
    """The upstream name of Claude Code's Write tool: named Write, or taking file_path + content."""
    for tool in body.get("tools") or []:
        fn = tool.get("function", {})
        props = set((fn.get("parameters") or {}).get("properties", {}))
        if fn.get("name") == "Write" or {"file_path", "content"} <= props and "old_string" not in props:
            return str(fn.get("name"))
    return None


def _side_text(response_format: Any) -> str:
    """A short answer for side requests; JSON when structured output is asked (session titles)."""
    if isinstance(response_format, dict) and response_format.get("type") in ("json_schema", "json_object"):
        return json.dumps({"title": "E2E session"})
    return "Hello from the side channel."


def _tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body.get("messages") or [] if m.get("role") == "tool"]


@dataclass
class AgentScript:
    """Plays the model: Write tool call first, final text after the tool result."""

    workdir: Path
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    call_id: str = "call_e2e_write_1"
    lock: threading.Lock = field(default_factory=threading.Lock)
    log: list[str] = field(default_factory=list)

    @property
    def final_text(self) -> str:
        return f"DONE-{self.token}"

    @property
    def target(self) -> Path:
        return self.workdir / "hello.txt"

    def __call__(self, rec: Recorded) -> Reply | None:
        if not rec.path.endswith("/chat/completions") or not isinstance(rec.json, dict):
            return None
        body = rec.json
        model = str(body.get("model") or "gpt-test")
        write = _write_tool(body)
        results = _tool_messages(body)
        if write is None:
            kind, reply = "side", self._text(rec, _side_text(body.get("response_format")), model)
        elif not results:
            args = json.dumps({"file_path": str(self.target), "content": WRITE_CONTENT}, ensure_ascii=False)
            kind, reply = "tool_call", self._tool_call(rec, write, args, model)
        else:
            kind, reply = "final", self._text(rec, self.final_text, model)
        with self.lock:
            self.log.append(f"{kind} stream={rec.stream} tools={len(body.get('tools') or [])}")
        return reply

    def _tool_call(self, rec: Recorded, name: str, args: str, model: str) -> Reply:
        if rec.stream:
            return Reply.sse(openai_tool_call_chunks([(self.call_id, name, args)], model=model, usage=(1200, 40, 0),
                                                     text="I'll write the file."))
        return Reply.json(openai_completion("I'll write the file.", tool_calls=[(self.call_id, name, args)],
                                            model=model, usage=(1200, 40, 0)))

    def _text(self, rec: Recorded, text: str, model: str) -> Reply:
        if rec.stream:
            return Reply.sse(openai_text_chunks(text, model=model, usage=(1300, 8, 1024)))
        return Reply.json(openai_completion(text, model=model, usage=(1300, 8, 1024)))


def _summary(up: FakeOpenAI) -> str:
    rows = []
    for r in up.requests:
        body = r.json if isinstance(r.json, dict) else {}
        roles = [m.get("role") for m in body.get("messages") or []]
        rows.append(f"{r.method} {r.path} model={body.get('model')} stream={body.get('stream')} roles={roles} "
                    f"tools={len(body.get('tools') or [])}")
    return "\n".join(rows)


def _assert_tool_loop(up: FakeOpenAI, script: AgentScript) -> None:
    main = [r for r in up.requests if isinstance(r.json, dict) and _write_tool(r.json)]
    assert len(main) >= 2, f"expected the agent loop to call upstream twice:\n{_summary(up)}"
    final = next((r.json for r in main if _tool_messages(r.json)), None)
    assert final is not None, f"no upstream request carried a tool message:\n{_summary(up)}"
    messages = final["messages"]
    (tool_msg,) = _tool_messages(final)
    assert tool_msg["tool_call_id"] == script.call_id
    content = tool_msg["content"]
    text = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
    assert "hello.txt" in text, text
    at = messages.index(tool_msg)
    assistant = messages[at - 1]
    assert assistant["role"] == "assistant"
    (call,) = assistant["tool_calls"]
    assert call["id"] == script.call_id and call["type"] == "function"
    assert call["function"]["name"] == _write_tool(final)
    assert json.loads(call["function"]["arguments"]) == {"file_path": str(script.target), "content": WRITE_CONTENT}
    # System text goes first and only there (Claude Code also puts role=system messages in `messages`).
    assert messages[0]["role"] == "system"
    assert all(m["role"] != "system" for m in messages[1:]), [m["role"] for m in messages]


def _run_loop(claude, gateway, up: FakeOpenAI, **kwargs: Any):
    script = AgentScript(workdir=claude.tmp_path / "work")
    up.handler = script
    run = claude.run("Create hello.txt in the current directory.", gateway_url=gateway.url, **kwargs)
    print("upstream requests:\n" + _summary(up) + "\nscript: " + "; ".join(script.log))
    return run, script


@pytest.mark.parametrize("model", [None, "sonnet", "haiku"], ids=["default-model", "sonnet", "haiku"])
def test_claude_cli_writes_file_through_gateway_with_api_key(claude, gateway, fresh_upstream, model):
    extra = ("--model", model) if model else ()
    run, script = _run_loop(claude, gateway, fresh_upstream, api_key=gateway.client_key, extra_args=extra)

    assert run.returncode == 0, run.stderr
    result = run.result()
    assert result["is_error"] is False, result
    assert script.final_text in result["result"]
    assert script.target.read_text() == WRITE_CONTENT
    _assert_tool_loop(fresh_upstream, script)
    # The client's key is the gateway's own; it never goes upstream.
    for r in fresh_upstream.requests:
        assert gateway.client_key not in r.raw.decode(errors="replace")
        assert gateway.client_key not in json.dumps(r.headers)
        assert r.headers.get("authorization") == "Bearer sk-test-fake"


def test_claude_cli_bearer_token_and_stream_json(claude, gateway, fresh_upstream):
    run, script = _run_loop(claude, gateway, fresh_upstream, auth_token=gateway.client_key,
                            output_format="stream-json")

    assert run.returncode == 0, run.stderr
    assert run.result()["result"].endswith(script.final_text)
    assert script.target.read_text() == WRITE_CONTENT
    _assert_tool_loop(fresh_upstream, script)
    events = run.events()
    tool_uses = [b for e in events if e.get("type") == "assistant"
                 for b in e["message"]["content"] if b.get("type") == "tool_use"]
    assert [(t["name"], t["input"]) for t in tool_uses] == [
        ("Write", {"file_path": str(script.target), "content": WRITE_CONTENT})
    ]
    # The gateway reports upstream usage in the stream, so Claude Code's accounting is not blind.
    assert run.result()["usage"]["output_tokens"] > 0


def test_claude_cli_with_wrong_key_fails_fast_without_reaching_upstream(claude, gateway, fresh_upstream):
    # Claude Code retries a 401 with backoff for minutes unless the answer says `x-should-retry: false`.
    try:
        run = claude.run("Say hi.", gateway_url=gateway.url, api_key="sk-gw-wrong-key-0000", timeout=45)
    except AssertionError as exc:
        raise AssertionError(
            "Claude Code kept retrying the gateway's 401 (does it send `x-should-retry: false`?)\n"
            + gateway.log()[-2000:]
        ) from exc

    result = run.result()
    assert run.returncode != 0 and result["is_error"] is True
    assert result.get("api_error_status") == 401
    assert fresh_upstream.requests == [], _summary(fresh_upstream)


# --- Anthropic passthrough ------------------------------------------------------------------------


def _has_tool_result(body: dict[str, Any]) -> bool:
    return any(
        isinstance(m.get("content"), list) and any(b.get("type") == "tool_result" for b in m["content"])
        for m in body.get("messages") or []
    )


@dataclass
class AnthropicAgentScript(AgentScript):
    call_id: str = "toolu_e2e_write_1"

    def __call__(self, rec: Recorded) -> Reply | None:
        if rec.path != "/v1/messages" or not isinstance(rec.json, dict):
            return None
        body = rec.json
        model = str(body.get("model"))
        names = [t.get("name") for t in body.get("tools") or []]
        if "Write" not in names:
            text = _side_text((body.get("output_config") or {}).get("format"))
            events, kind = anthropic_stream_events(text, model=model), "side"
        elif not _has_tool_result(body):
            tool = (self.call_id, "Write", {"file_path": str(self.target), "content": WRITE_CONTENT})
            events, kind = anthropic_stream_events("I'll write the file.", model=model, tool_uses=[tool]), "tool_call"
        else:
            events, kind = anthropic_stream_events(self.final_text, model=model, usage=(1300, 8, 1024)), "final"
        with self.lock:
            self.log.append(f"{kind} stream={rec.stream}")
        if rec.stream:
            return Reply.sse(events, headers={"request-id": "req_fake_e2e"})
        return Reply.json(_message_from_events(events))


def _message_from_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold a stream's events into the equivalent non-stream message (for non-stream retries)."""
    msg = dict(events[0]["message"])
    blocks: list[dict[str, Any]] = []
    partial: dict[int, str] = {}
    for ev in events:
        if ev["type"] == "content_block_start":
            blocks.append(dict(ev["content_block"]))
        elif ev["type"] == "content_block_delta":
            delta = ev["delta"]
            if delta["type"] == "text_delta":
                blocks[ev["index"]]["text"] += delta["text"]
            else:
                partial[ev["index"]] = partial.get(ev["index"], "") + delta["partial_json"]
        elif ev["type"] == "message_delta":
            msg.update(ev["delta"])
            msg["usage"] = {**msg["usage"], **ev["usage"]}
    for index, raw in partial.items():
        blocks[index]["input"] = json.loads(raw)
    msg["content"] = blocks
    return msg


def test_claude_cli_tool_loop_through_anthropic_passthrough(claude, anthropic_gateway, fresh_anthropic_upstream):
    up = fresh_anthropic_upstream
    script = AnthropicAgentScript(workdir=claude.tmp_path / "work")
    up.handler = script
    run = claude.run("Create hello.txt in the current directory.", gateway_url=anthropic_gateway.url,
                     api_key=anthropic_gateway.client_key)
    print("upstream requests:", [(r.method, r.path, r.raw_query) for r in up.requests], script.log)

    assert run.returncode == 0, run.stderr
    assert run.result()["result"] == script.final_text
    assert script.target.read_text() == WRITE_CONTENT
    main = [r for r in up.requests if r.path == "/v1/messages"]
    assert len(main) >= 2
    last = main[-1]
    body = last.json
    assert body["model"] == FAKE_ANTHROPIC_MODEL
    assert last.headers.get("x-api-key") == FAKE_ANTHROPIC_KEY
    assert anthropic_gateway.client_key not in last.raw.decode(errors="replace")
    assert anthropic_gateway.client_key not in json.dumps(last.headers)
    # Passthrough keeps Claude Code's body: the billing line, the system-role message, every tool.
    assert body["system"][0]["text"].startswith("x-anthropic-billing-header:")
    assert "Write" in [t["name"] for t in body["tools"]]
    result_blocks = [b for m in body["messages"] if isinstance(m["content"], list)
                     for b in m["content"] if b.get("type") == "tool_result"]
    assert [b["tool_use_id"] for b in result_blocks] == [script.call_id]


# --- Upstream failures the CLI must recover from ---------------------------------------------------


def _broken_tool_call_stream(script: AgentScript) -> Reply:
    args = json.dumps({"file_path": str(script.target), "content": "TRUNCATED " * 20})
    chunks = openai_tool_call_chunks([("call_broken_1", "Write", args)], arg_piece=12)
    return Reply.sse(chunks, drop_after=5)  # role, head, 3 argument fragments, then the socket dies


def test_claude_cli_recovers_when_upstream_stream_breaks(claude, gateway, fresh_upstream):
    """A mid-stream upstream failure reaches the CLI as an error, never as a complete (truncated) reply."""
    script = AgentScript(workdir=claude.tmp_path / "work")
    fresh_upstream.enqueue(_broken_tool_call_stream(script))
    fresh_upstream.handler = script
    run = claude.run("Create hello.txt in the current directory.", gateway_url=gateway.url,
                     api_key=gateway.client_key)
    print("upstream requests:\n" + _summary(fresh_upstream) + "\nscript: " + "; ".join(script.log))

    assert run.returncode == 0, run.stderr
    assert script.final_text in run.result()["result"]
    assert script.target.read_text() == WRITE_CONTENT
    main = [r for r in fresh_upstream.requests if isinstance(r.json, dict) and _write_tool(r.json)]
    assert len(main) >= 3  # broken stream, the CLI's retry, the turn after the tool result
    assert not any(m.get("tool_call_id") == "call_broken_1" for r in main for m in _tool_messages(r.json))


def test_claude_cli_retries_after_upstream_server_error(claude, gateway, fresh_upstream):
    script = AgentScript(workdir=claude.tmp_path / "work")
    fresh_upstream.enqueue(Reply.error(500, {"error": {"message": "upstream exploded", "type": "server_error"}}))
    fresh_upstream.handler = script
    run = claude.run("Create hello.txt in the current directory.", gateway_url=gateway.url,
                     api_key=gateway.client_key)
    print("upstream requests:\n" + _summary(fresh_upstream) + "\nscript: " + "; ".join(script.log))

    assert run.returncode == 0, run.stderr
    assert script.final_text in run.result()["result"]
    assert script.target.read_text() == WRITE_CONTENT


# --- Bedrock mode ---------------------------------------------------------------------------------


def _run_bedrock_mode(claude, gateway_url: str, key: str, prompt: str, timeout: float = 180):
    """``claude -p`` in Bedrock mode: invoke[-with-response-stream] on the gateway, no AWS auth."""
    import subprocess

    from tests.e2e.conftest import _base_env

    home, workdir = claude.tmp_path / "home", claude.tmp_path / "work"
    home.mkdir(exist_ok=True)
    workdir.mkdir(exist_ok=True)
    env = {**_base_env(home), "CLAUDE_CODE_USE_BEDROCK": "1", "ANTHROPIC_BEDROCK_BASE_URL": gateway_url,
           "CLAUDE_CODE_SKIP_BEDROCK_AUTH": "1", "AWS_REGION": "us-east-1",
           "ANTHROPIC_CUSTOM_HEADERS": f"x-api-key: {key}"}
    args = [str(claude.binary), "-p", prompt, "--dangerously-skip-permissions", "--output-format", "json"]
    done = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    print(f"$ claude -p ... (bedrock mode, exit {done.returncode})\n--- stdout ---\n{done.stdout[-4000:]}\n"
          f"--- stderr ---\n{done.stderr[-4000:]}")
    from tests.e2e.conftest import CliRun

    return CliRun(done.returncode, done.stdout, done.stderr, workdir)


def test_claude_cli_in_bedrock_mode_tool_loop(claude, gateway, fresh_upstream):
    script = AgentScript(workdir=claude.tmp_path / "work")
    fresh_upstream.handler = script
    run = _run_bedrock_mode(claude, gateway.url, gateway.client_key, "Create hello.txt in the current directory.")
    print("upstream requests:\n" + _summary(fresh_upstream) + "\nscript: " + "; ".join(script.log))
    print("gateway log tail:\n" + gateway.log()[-3000:])

    assert run.returncode == 0, run.stderr
    assert script.final_text in run.result()["result"]
    assert script.target.read_text() == WRITE_CONTENT
    _assert_tool_loop(fresh_upstream, script)
