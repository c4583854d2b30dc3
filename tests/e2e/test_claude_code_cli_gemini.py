"""The real Claude Code CLI runs a multi-step tool session through the gateway to a strict fake Gemini.

The gateway (daphne subprocess, fresh SQLite, no seed) gets its one provider the way a user would
bring it: ``manage.py import_config`` of a ccproxy ``settings.json`` with a ``gemini`` provider.
The fake Gemini (``gemini-3-pro-preview``, so it enforces thought signatures on tool turns) plays
the model: a signed ``Write`` call (after a thought) creating ``hello.txt``, then a bare signed
``Read`` of it (the signature rides on an otherwise empty thinking block), then
``DONE-<token>``. Every later step must carry the earlier steps' signatures on their own
functionCall parts, or the fake answers 400 as Gemini does. See test_claude_code_cli.py for how the
CLI is found and run.
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

from tests.fakes import FakeGemini, Recorded, Reply, gemini_response, gemini_stream, gemini_stream_chunks
from tests.fakes.gemini_server import FAKE_GEMINI_KEY, gemini_usage
from tests.support import GatewayProcess, start_gateway

pytestmark = pytest.mark.timeout(300)

MODEL = "gemini-3-pro-preview"
WRITE_CONTENT = "Hello from Gemini ✓ — line one\nline two with \"quotes\".\n"


@pytest.fixture(scope="module")
def gemini_upstream() -> Iterator[FakeGemini]:
    with FakeGemini() as up:
        yield up


@pytest.fixture(scope="module")
def gemini_gateway(gemini_upstream: FakeGemini, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("gateway-gemini")
    settings = tmp / "settings.json"
    settings.write_text(json.dumps({
        "providers": {"gemini": {"apiKey": FAKE_GEMINI_KEY, "baseURL": gemini_upstream.origin,
                                 "responseStyle": "gemini"}},
        "models": {"bigModel": MODEL, "smallModel": MODEL},
    }))
    with start_gateway({"STREAM_PING_INTERVAL": "5"}, tmp, seed=False) as gw:
        gw.manage("import_config", str(settings), "--replace")
        yield gw


def _declared(body: dict[str, Any]) -> set[str]:
    return {d.get("name") for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []}


def _responses(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [p["functionResponse"] for c in body.get("contents") or [] for p in c.get("parts") or []
            if "functionResponse" in p]


@dataclass
class GeminiScript:
    """Plays the model: signed Write, then signed Read, then the final text."""

    up: FakeGemini
    workdir: Path
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    signatures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    log: list[str] = field(default_factory=list)

    @property
    def target(self) -> Path:
        return self.workdir / "hello.txt"

    def __call__(self, rec: Recorded) -> Reply | None:
        if not self.up.is_main(rec.path) or not isinstance(rec.json, dict):
            return None
        body = rec.json
        done = len(_responses(body))
        if not {"Write", "Read"} <= _declared(body):
            kind, parts = "side", [{"text": "E2E session"}]
        elif done == 0:
            kind, parts = "write", self._call("I will write the file first.", "Write",
                                              {"file_path": str(self.target), "content": WRITE_CONTENT})
        elif done == 1:
            kind, parts = "read", self._call("", "Read", {"file_path": str(self.target)})  # a bare signed call
        else:
            kind, parts = "final", [{"text": f"DONE-{self.token}"}]
        with self.lock:
            self.log.append(f"{kind} stream={self.up.is_stream(rec)} responses={done}")
        usage = gemini_usage(1500, 40, 1024, 25)
        if self.up.is_stream(rec):
            return gemini_stream(gemini_stream_chunks(parts, usage=usage))
        return Reply.json(gemini_response(parts, usage=usage))

    def _call(self, thought: str, name: str, args: dict[str, Any]) -> list[dict[str, Any]]:
        signature = self.up.issue_signature()
        with self.lock:
            self.signatures.append(signature)
        call = {"functionCall": {"name": name, "args": args}, "thoughtSignature": signature}
        return [{"text": thought, "thought": True}, call] if thought else [call]


def _summary(up: FakeGemini) -> str:
    rows = []
    for r in up.requests:
        body = r.json if isinstance(r.json, dict) else {}
        roles = [c.get("role") for c in body.get("contents") or []]
        rows.append(f"{r.method} {r.path} roles={roles} tools={len(_declared(body))}")
    rows += [f"REJECTED {problem}" for _, problem in up.rejected]
    return "\n".join(rows)


def test_claude_cli_multi_step_tool_session_keeps_thought_signatures(claude, gemini_gateway, gemini_upstream):
    gemini_upstream.reset()
    script = GeminiScript(gemini_upstream, claude.tmp_path / "work")
    gemini_upstream.handler = script
    run = claude.run("Create hello.txt in the current directory, then read it back.",
                     gateway_url=gemini_gateway.url, api_key=gemini_gateway.client_key,
                     output_format="stream-json")
    print("upstream requests:\n" + _summary(gemini_upstream) + "\nscript: " + "; ".join(script.log))

    assert run.returncode == 0, run.stderr
    assert run.result()["result"].endswith(f"DONE-{script.token}")
    assert script.target.read_text() == WRITE_CONTENT
    assert gemini_upstream.rejected == [], _summary(gemini_upstream)
    final = next(r.json for r in gemini_upstream.main_requests if len(_responses(r.json)) == 2)
    calls = [p for c in final["contents"] if c["role"] == "model" for p in c["parts"] if "functionCall" in p]
    assert [(p["functionCall"]["name"], p["thoughtSignature"]) for p in calls] == [
        ("Write", script.signatures[0]), ("Read", script.signatures[1])]
    assert [r["name"] for r in _responses(final)] == ["Write", "Read"]
    assert WRITE_CONTENT.splitlines()[0] in json.dumps(_responses(final)[1], ensure_ascii=False)
    for r in gemini_upstream.requests:
        assert r.headers.get("x-goog-api-key") == FAKE_GEMINI_KEY
        assert gemini_gateway.client_key not in r.raw.decode(errors="replace")
    assert run.result()["usage"]["output_tokens"] > 0
