"""The real Claude Code CLI in Vertex mode, through the gateway, to a strict fake Vertex upstream.

Both Vertex sides at once: the CLI runs with ``CLAUDE_CODE_USE_VERTEX=1`` and
``CLAUDE_CODE_SKIP_VERTEX_AUTH=1``, posting ``…/models/{model}:streamRawPredict`` to the gateway
with the client key in ``ANTHROPIC_CUSTOM_HEADERS``; the gateway's only provider is a ``vertex``
backend (service-account JSON whose ``token_uri`` is ``FakeVertex``'s token endpoint), so each
upstream request carries a Google access token the gateway minted itself. The fake plays the model:
write ``hello.txt``, run ``cat`` on it, read it back with the Read tool, then answer ``DONE-<token>``.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CliRun, _base_env
from tests.e2e.test_claude_code_cli import WRITE_CONTENT, _message_from_events, _side_text
from tests.fakes import Recorded, Reply, anthropic_stream_events
from tests.fakes.vertex_server import VERTEX_VERSION, FakeVertex, vertex_token_headers
from tests.support import GatewayProcess, start_gateway
from tests.support.gateway import _manage, gateway_env

pytestmark = pytest.mark.timeout(300)

UPSTREAM_MODEL = "claude-sonnet-4-5"


def _tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for m in body.get("messages") or [] if isinstance(m.get("content"), list)
            for b in m["content"] if b.get("type") == "tool_result"]


def _result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content)
    return str(content or "")


@dataclass
class VertexAgentScript:
    """Write, then Bash ``cat``, then Read, then the final text; side requests get a short text."""

    workdir: Path
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    lock: threading.Lock = field(default_factory=threading.Lock)
    log: list[str] = field(default_factory=list)

    @property
    def target(self) -> Path:
        return self.workdir / "hello.txt"

    @property
    def final_text(self) -> str:
        return f"DONE-{self.token}"

    def steps(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [("toolu_vx_write", "Write", {"file_path": str(self.target), "content": WRITE_CONTENT}),
                ("toolu_vx_bash", "Bash", {"command": f"cat {self.target}", "description": "Show the file"}),
                ("toolu_vx_read", "Read", {"file_path": str(self.target)})]

    def __call__(self, rec: Recorded) -> Reply | None:
        if not rec.path.endswith("Predict") or not isinstance(rec.json, dict):
            return None
        body = rec.json
        names = {t.get("name") for t in body.get("tools") or []}
        done = len(_tool_results(body))
        if not {"Write", "Bash", "Read"} <= names:
            events, kind = anthropic_stream_events(_side_text((body.get("output_config") or {}).get("format"))), "side"
        elif done < len(self.steps()):
            step = self.steps()[done]
            events, kind = anthropic_stream_events(f"Step {done + 1}.", tool_uses=[step]), step[1]
        else:
            events, kind = anthropic_stream_events(self.final_text, usage=(1300, 8, 1024)), "final"
        with self.lock:
            self.log.append(f"{kind} stream={rec.stream}")
        return Reply.sse(events) if rec.stream else Reply.json(_message_from_events(events))


@pytest.fixture(scope="module")
def vertex_upstream() -> Iterator[FakeVertex]:
    with FakeVertex(project="gw-project", region="us-east5") as up:
        yield up


@pytest.fixture(scope="module")
def vertex_gateway(vertex_upstream: FakeVertex, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway whose every tier goes to one vertex provider, configured before it starts."""
    tmp = tmp_path_factory.mktemp("gateway-vertex")
    up = vertex_upstream
    config = {"version": 1, "providers": [{
        "name": "vertex", "kind": "vertex", "base_url": up.base_url, "api_key": json.dumps(up.service_account()),
        "options": {"project": up.project, "region": up.region}}],
        "tiers": [{"name": tier, "entries": [{"provider": "vertex", "model": UPSTREAM_MODEL}]}
                  for tier in ("small", "middle", "big")]}
    (tmp / "vertex.json").write_text(json.dumps(config))
    env = gateway_env({}, tmp / "gw.sqlite3")
    _manage(["migrate", "--noinput"], env)
    _manage(["import_config", str(tmp / "vertex.json")], env)
    with start_gateway({}, tmp, seed=False) as gw:
        yield gw


def _run_vertex_mode(claude, gateway_url: str, key: str, prompt: str, timeout: float = 240) -> CliRun:
    home, workdir = claude.tmp_path / "home", claude.tmp_path / "work"
    home.mkdir(exist_ok=True)
    workdir.mkdir(exist_ok=True)
    env = {**_base_env(home), "CLAUDE_CODE_USE_VERTEX": "1", "CLAUDE_CODE_SKIP_VERTEX_AUTH": "1",
           "ANTHROPIC_VERTEX_BASE_URL": f"{gateway_url}/v1", "ANTHROPIC_VERTEX_PROJECT_ID": "client-project",
           "CLOUD_ML_REGION": "global", "ANTHROPIC_CUSTOM_HEADERS": f"x-api-key: {key}"}
    args = [str(claude.binary), "-p", prompt, "--dangerously-skip-permissions", "--output-format", "json"]
    done = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    print(f"$ claude -p ... (vertex mode, exit {done.returncode})\n--- stdout ---\n{done.stdout[-4000:]}\n"
          f"--- stderr ---\n{done.stderr[-4000:]}")
    return CliRun(done.returncode, done.stdout, done.stderr, workdir)


def test_claude_cli_in_vertex_mode_writes_runs_and_reads_through_vertex_backend(claude, vertex_gateway,
                                                                               vertex_upstream):
    up = vertex_upstream
    up.reset()
    script = VertexAgentScript(workdir=claude.tmp_path / "work")
    up.handler = script
    run = _run_vertex_mode(claude, vertex_gateway.url, vertex_gateway.client_key,
                           "Create hello.txt, show it with cat, then read it back.")
    print("upstream:", [(r.method, r.path) for r in up.requests], "script:", script.log)

    assert run.returncode == 0, run.stderr
    assert script.final_text in run.result()["result"]
    assert script.target.read_text() == WRITE_CONTENT
    main = up.main_requests
    last = main[-1].json
    results = {b["tool_use_id"]: _result_text(b) for b in _tool_results(last)}
    assert list(results) == ["toolu_vx_write", "toolu_vx_bash", "toolu_vx_read"]
    assert "line two with \"quotes\"" in results["toolu_vx_bash"]  # cat's output came back
    assert "Hello from the e2e test ✓" in results["toolu_vx_read"]  # and the Read tool's
    # Upstream is real Vertex wire format, with the gateway's own Google token, never the client key.
    assert up.rejected == [], [(r.path, r.headers.get("authorization", "")[:20]) for r in up.rejected]
    assert all(r.json["anthropic_version"] == VERTEX_VERSION and "model" not in r.json for r in main)
    assert all(vertex_token_headers(r).startswith("ya29.fake-") for r in main)
    assert all(r.path.startswith("/v1/projects/gw-project/locations/us-east5/publishers/anthropic/models/"
                                 "claude-sonnet-4-5@20250929:") for r in main)
    assert len(up.token_requests) == 1
    for r in up.requests:
        assert vertex_gateway.client_key not in r.raw.decode(errors="replace")
        assert vertex_gateway.client_key not in json.dumps(r.headers)
