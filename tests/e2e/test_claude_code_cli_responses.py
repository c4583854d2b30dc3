"""The real Claude Code CLI runs a multi-step tool session through the gateway to a strict fake
OpenAI Responses upstream (``openai_responses`` kind).

The fake plays a reasoning model: every turn starts with a reasoning item (summary plus its own
encrypted content), then one tool call: Write ``hello.txt``, then Bash copying it, then Read of the
copy, then the final ``DONE-<token>`` text. The fake rejects what /v1/responses rejects (chat
fields, orphan ``function_call_output``, reasoning items without encrypted content under
``store: false``), so a green run proves each turn's history was a valid Responses input and that
the encrypted reasoning of every earlier turn came back. See test_claude_code_cli.py for the CLI
setup (install hint, skipping).
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
    FakeResponses,
    Recorded,
    Reply,
    responses_function_call,
    responses_message,
    responses_reasoning,
    responses_reply,
)
from tests.support import GatewayProcess, start_gateway
from tests.support.gateway import _manage, gateway_env

pytestmark = pytest.mark.timeout(300)

MODEL = "gpt-5-codex"
CONTENT = "Responses e2e ✓\nsecond line\n"
TO_RESPONSES = ("from providers.models import Provider; "
                "Provider.objects.filter(kind='openai_compat').update(kind='openai_responses', "
                "options={'reasoning_effort': 'auto'})")


@pytest.fixture(scope="module")
def responses_upstream() -> Iterator[FakeResponses]:
    with FakeResponses() as up:
        yield up


@pytest.fixture(scope="module")
def responses_gateway(responses_upstream: FakeResponses, tmp_path_factory: pytest.TempPathFactory
                      ) -> Iterator[GatewayProcess]:
    """A gateway whose seeded OpenAI provider is switched to the Responses kind before it serves."""
    env = {"PREFERRED_PROVIDER": "openai", "OPENAI_BASE_URL": responses_upstream.base_url,
           "OPENAI_API_KEY": "sk-test-fake", "BIG_MODEL": MODEL, "MIDDLE_MODEL": MODEL, "SMALL_MODEL": MODEL,
           "STREAM_PING_INTERVAL": "5"}
    tmp = tmp_path_factory.mktemp("gateway-responses")
    full_env = gateway_env(env, tmp / "gw.sqlite3")  # the database start_gateway uses in ``tmp``
    _manage(["migrate", "--noinput"], full_env)
    _manage(["seed"], full_env)
    _manage(["shell", "-c", TO_RESPONSES], full_env)
    with start_gateway(env, tmp, seed=False) as gw:
        yield gw


def _tool_names(body: dict[str, Any]) -> set[str]:
    return {str(t.get("name")) for t in body.get("tools") or []}


def _items(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    items = body.get("input")
    return [i for i in items if isinstance(i, dict) and i.get("type") == kind] if isinstance(items, list) else []


@dataclass
class ResponsesAgent:
    """Plays a reasoning model over four turns, keyed on how many tool outputs the input holds."""

    workdir: Path
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    lock: threading.Lock = field(default_factory=threading.Lock)
    log: list[str] = field(default_factory=list)

    @property
    def final_text(self) -> str:
        return f"DONE-{self.token}"

    def encrypted(self, turn: int) -> str:
        return f"gAAAAABe2eEncryptedTurn{turn}-{self.token}=="

    def steps(self) -> list[tuple[str, dict[str, Any]]]:
        hello, copy = self.workdir / "hello.txt", self.workdir / "copy.txt"
        return [("Write", {"file_path": str(hello), "content": CONTENT}),
                ("Bash", {"command": f"cp {hello} {copy}", "description": "Copy hello.txt"}),
                ("Read", {"file_path": str(copy)})]

    def __call__(self, rec: Recorded) -> Reply | None:
        body = rec.json
        if not isinstance(body, dict) or not {"Write", "Bash", "Read"} <= _tool_names(body):
            return None  # side requests (titles, probes) get the canned text
        turn = len(_items(body, "function_call_output"))
        steps = self.steps()
        output: list[dict[str, Any]] = [responses_reasoning([f"Step {turn + 1}: deciding"], self.encrypted(turn))]
        if turn < len(steps):
            name, args = steps[turn]
            output.append(responses_function_call(f"call_e2e_{turn}", name, json.dumps(args, ensure_ascii=False)))
        else:
            output.append(responses_message(self.final_text))
        with self.lock:
            self.log.append(f"turn={turn} stream={rec.stream}")
        return responses_reply(rec, output, usage=(1500 + 100 * turn, 40, 1024))


def test_claude_cli_multi_step_tool_session_over_responses(claude, responses_gateway, responses_upstream):
    up = responses_upstream
    up.reset()
    agent = ResponsesAgent(workdir=claude.tmp_path / "work")
    up.handler = agent
    run = claude.run("Write hello.txt, copy it with a shell command, then read the copy.",
                     gateway_url=responses_gateway.url, api_key=responses_gateway.client_key)
    print("script:", agent.log, "\nrejections:", up.rejections, "\ngateway log:\n", responses_gateway.log()[-3000:])

    assert run.returncode == 0, run.stderr
    assert agent.final_text in run.result()["result"]
    assert (agent.workdir / "copy.txt").read_text() == CONTENT
    assert up.rejections == []
    main = [r.json for r in up.main_requests if isinstance(r.json, dict) and "Read" in _tool_names(r.json)]
    last = max(main, key=lambda b: len(_items(b, "function_call_output")))
    assert len(_items(last, "function_call_output")) == 3
    # the read-back reached the model, and every earlier turn's encrypted reasoning came back
    assert "second line" in _items(last, "function_call_output")[2]["output"]
    carried = [i["encrypted_content"] for i in _items(last, "reasoning")]
    assert carried == [agent.encrypted(t) for t in range(3)]
    assert all(b["store"] is False and "messages" not in b for b in main)
    assert all(r.headers.get("authorization") == "Bearer sk-test-fake" for r in up.main_requests)
