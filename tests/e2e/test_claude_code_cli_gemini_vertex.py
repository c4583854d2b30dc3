"""The real Claude Code CLI runs a multi-step tool session through the gateway to a strict fake
Gemini on Vertex AI (gemini_vertex kind).

As test_claude_code_cli_gemini.py, but the upstream is Vertex's: the provider comes in through
``manage.py import_config`` of a gateway file holding the service-account key, the gateway mints
a Google OAuth token against the fake's token endpoint (the fake verifies the JWT's RS256
signature), and every generateContent call must carry that Bearer token, project-scoped paths and
a ``role`` on every content, besides the thought-signature rules of ``gemini-3-pro-preview``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.e2e.test_claude_code_cli_gemini import MODEL, WRITE_CONTENT, GeminiScript, _responses, _summary
from tests.fakes.gemini_vertex_server import FakeGeminiVertex
from tests.support import GatewayProcess, start_gateway

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def vertex_upstream() -> Iterator[FakeGeminiVertex]:
    with FakeGeminiVertex(models={MODEL}) as up:
        yield up


@pytest.fixture(scope="module")
def vertex_gateway(vertex_upstream: FakeGeminiVertex, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("gateway-gemini-vertex")
    config = tmp / "gateway.json"
    provider = {"name": "gemini-vertex", "kind": "gemini_vertex", "preset": "gemini_vertex",
                "base_url": vertex_upstream.origin, "api_key": json.dumps(vertex_upstream.service_account()),
                "options": {"project": vertex_upstream.project, "region": vertex_upstream.region}}
    entries = [{"provider": "gemini-vertex", "model": MODEL}]
    config.write_text(json.dumps({"version": 1, "providers": [provider], "tiers": [
        {"name": t, "entries": entries} for t in ("small", "middle", "big")]}))
    with start_gateway({"STREAM_PING_INTERVAL": "5"}, tmp, seed=False) as gw:
        gw.manage("import_config", str(config), "--replace")
        config.unlink()  # the key is in the database now (encrypted); no copy left on disk
        yield gw


def test_claude_cli_tool_session_on_vertex_keeps_signatures_and_one_token(claude, vertex_gateway, vertex_upstream):
    vertex_upstream.reset()
    script = GeminiScript(vertex_upstream, claude.tmp_path / "work")
    vertex_upstream.handler = script
    run = claude.run("Create hello.txt in the current directory, then read it back.",
                     gateway_url=vertex_gateway.url, api_key=vertex_gateway.client_key,
                     output_format="stream-json")
    print("upstream requests:\n" + _summary(vertex_upstream) + "\nscript: " + "; ".join(script.log))

    assert run.returncode == 0, run.stderr
    assert run.result()["result"].endswith(f"DONE-{script.token}")
    assert script.target.read_text() == WRITE_CONTENT
    assert vertex_upstream.rejected == [], _summary(vertex_upstream)
    final = next(r.json for r in vertex_upstream.main_requests if len(_responses(r.json)) == 2)
    calls = [p for c in final["contents"] if c["role"] == "model" for p in c["parts"] if "functionCall" in p]
    assert [(p["functionCall"]["name"], p["thoughtSignature"]) for p in calls] == [
        ("Write", script.signatures[0]), ("Read", script.signatures[1])]
    main = vertex_upstream.main_requests
    assert all(r.path.startswith("/v1/projects/fake-project/locations/us-central1/publishers/google/models/")
               for r in main)
    assert {r.headers["authorization"] for r in main} == {"Bearer ya29.fake-gemini-1"}
    assert len(vertex_upstream.token_requests) == 1  # one mint for the whole session
    for r in vertex_upstream.requests:
        assert "x-goog-api-key" not in r.headers and "PRIVATE KEY" not in r.raw.decode(errors="replace")
        assert vertex_gateway.client_key not in r.raw.decode(errors="replace")
