"""The real Claude Code CLI runs a multi-step tool session through the gateway to a strict, SigV4-
verifying fake Bedrock Converse runtime playing a Qwen coder model.

The gateway (daphne subprocess, fresh SQLite, no seed) gets its one ``bedrock_converse`` provider
through ``manage.py import_config`` of the gateway's own JSON format, with fake AWS keys stored
encrypted. The fake plays the model: reasoning then a ``Write`` call creating ``hello.txt``, then
a ``Read`` of it, then ``DONE-<token>``. Every request must be signed with the fake's keys, name
its tools in ``toolConfig``, and carry each toolResult after its toolUse, or the fake answers 400
as Bedrock does. See test_claude_code_cli.py for how the CLI is found and run.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import (
    FakeBedrockConverse,
    Recorded,
    Reply,
    converse_reply,
    converse_stream,
    converse_stream_events,
)
from tests.fakes.bedrock_converse_server import converse_usage
from tests.fakes.bedrock_server import FAKE_CREDENTIALS
from tests.support import GatewayProcess, start_gateway

pytestmark = pytest.mark.timeout(300)

MODEL = "us.qwen.qwen3-coder-480b-a35b-v1:0"
WRITE_CONTENT = "Hello from Bedrock Converse ✓ — line one\nline two with \"quotes\".\n"
THOUGHT = "The user wants a file; I will write it first."


@pytest.fixture(scope="module")
def converse_upstream() -> Iterator[FakeBedrockConverse]:
    with FakeBedrockConverse() as up:
        yield up


@pytest.fixture(scope="module")
def converse_gateway(converse_upstream: FakeBedrockConverse,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("gateway-converse")
    config = tmp / "gateway.json"
    entries = [{"provider": "qwen-bedrock", "model": MODEL}]
    config.write_text(json.dumps({
        "version": 1,
        "providers": [{"name": "qwen-bedrock", "kind": "bedrock_converse", "base_url": converse_upstream.origin,
                       "api_key": json.dumps(FAKE_CREDENTIALS), "options": {"region": "us-east-1"}}],
        "tiers": [{"name": name, "entries": entries} for name in ("small", "middle", "big")],
    }))
    with start_gateway({"STREAM_PING_INTERVAL": "5"}, tmp, seed=False) as gw:
        gw.manage("import_config", str(config), "--replace")
        yield gw


def _declared(body: dict[str, Any]) -> set[str]:
    return {t["toolSpec"]["name"] for t in (body.get("toolConfig") or {}).get("tools") or [] if "toolSpec" in t}


def _results(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [b["toolResult"] for m in body.get("messages") or [] for b in m.get("content") or [] if "toolResult" in b]


@dataclass
class ConverseScript:
    """Plays the model: reasoning + Write, then Read, then the final text."""

    up: FakeBedrockConverse
    workdir: Path
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    lock: threading.Lock = field(default_factory=threading.Lock)
    log: list[str] = field(default_factory=list)

    @property
    def target(self) -> Path:
        return self.workdir / "hello.txt"

    def __call__(self, rec: Recorded) -> Reply | None:
        if not self.up.is_main(rec.path) or not isinstance(rec.json, dict):
            return None
        body = rec.json
        done = len(_results(body))
        if not {"Write", "Read"} <= _declared(body):
            kind, content, stop = "side", [{"text": "E2E session"}], "end_turn"
        elif done == 0:
            kind, stop = "write", "tool_use"
            content = [{"reasoningContent": {"reasoningText": {"text": THOUGHT}}},
                       {"toolUse": {"toolUseId": "tooluse_write1", "name": "Write",
                                    "input": {"file_path": str(self.target), "content": WRITE_CONTENT}}}]
        elif done == 1:
            kind, stop = "read", "tool_use"
            content = [{"toolUse": {"toolUseId": "tooluse_read2", "name": "Read", "input": {"file_path": str(self.target)}}}]
        else:
            kind, content, stop = "final", [{"text": f"DONE-{self.token}"}], "end_turn"
        with self.lock:
            self.log.append(f"{kind} stream={self.up.is_stream(rec)} results={done}")
        usage = converse_usage(1500, 40, 1024, 0)
        if self.up.is_stream(rec):
            return converse_stream(converse_stream_events(content, stop=stop, usage=usage))
        return Reply.json(converse_reply(content, stop=stop, usage=usage))


def _summary(up: FakeBedrockConverse) -> str:
    rows = []
    for r in up.requests:
        body = r.json if isinstance(r.json, dict) else {}
        roles = [m.get("role") for m in body.get("messages") or []]
        rows.append(f"{r.method} {r.path} roles={roles} tools={len(_declared(body))}")
    rows += [f"REJECTED {problem}" for _, problem in up.rejected]
    return "\n".join(rows)


def test_claude_cli_multi_step_tool_session_over_converse(claude, converse_gateway, converse_upstream):
    converse_upstream.reset()
    script = ConverseScript(converse_upstream, claude.tmp_path / "work")
    converse_upstream.handler = script
    run = claude.run("Create hello.txt in the current directory, then read it back.",
                     gateway_url=converse_gateway.url, api_key=converse_gateway.client_key,
                     output_format="stream-json")
    print("upstream requests:\n" + _summary(converse_upstream) + "\nscript: " + "; ".join(script.log))

    assert run.returncode == 0, run.stderr
    assert run.result()["result"].endswith(f"DONE-{script.token}")
    assert script.target.read_text() == WRITE_CONTENT
    assert converse_upstream.rejected == [], _summary(converse_upstream)
    final = next(r.json for r in converse_upstream.main_requests if len(_results(r.json)) == 2)
    assert [r["toolUseId"] for r in _results(final)] == ["tooluse_write1", "tooluse_read2"]
    assert WRITE_CONTENT.splitlines()[0] in json.dumps(_results(final)[1], ensure_ascii=False)
    # Qwen takes its reasoning back: the thinking block Claude Code kept returns as reasoningContent
    reasoning = [b["reasoningContent"] for m in final["messages"] if m["role"] == "assistant"
                 for b in m["content"] if "reasoningContent" in b]
    assert reasoning == [{"reasoningText": {"text": THOUGHT}}]
    for r in converse_upstream.requests:
        assert r.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 ")
        raw = r.raw.decode(errors="replace")
        assert converse_gateway.client_key not in raw and "anthropic_version" not in raw
    assert run.result()["usage"]["output_tokens"] > 0
