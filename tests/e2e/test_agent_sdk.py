"""The Python Claude Agent SDK (``claude-agent-sdk``) drives an agent through the gateway.

The SDK launches the Claude Code CLI (``cli_path``: the one the other e2e tests use, so the test
skips with them when it is missing, and fails under ``REQUIRE_E2E=1``) with ``ANTHROPIC_BASE_URL``
at the gateway and the gateway's client key; the gateway passes the traffic to a fake Anthropic
upstream that scripts a ``Write`` tool call, then a final text once the tool result comes back.
The test checks the file the agent wrote and what the SDK reported.
"""

from __future__ import annotations

import os

import pytest

from tests.e2e.conftest import FAKE_ANTHROPIC_KEY, FAKE_ANTHROPIC_MODEL, _base_env
from tests.e2e.test_claude_code_cli import WRITE_CONTENT, AnthropicAgentScript

pytestmark = pytest.mark.timeout(300)


def _agent_sdk():
    try:
        import claude_agent_sdk
    except ImportError:
        if os.environ.get("REQUIRE_E2E") == "1":
            pytest.fail("REQUIRE_E2E=1 but claude-agent-sdk is not installed (pip install -e '.[dev]')",
                        pytrace=False)
        pytest.skip("claude-agent-sdk is not installed (pip install -e '.[dev]')")
    return claude_agent_sdk


async def test_agent_sdk_writes_file_through_gateway(claude_bin, anthropic_gateway, fresh_anthropic_upstream, tmp_path):
    sdk = _agent_sdk()
    up = fresh_anthropic_upstream
    workdir, home = tmp_path / "work", tmp_path / "home"
    workdir.mkdir()
    home.mkdir()
    script = AnthropicAgentScript(workdir=workdir)
    up.handler = script
    env = {**_base_env(home), "ANTHROPIC_BASE_URL": anthropic_gateway.url,
           "ANTHROPIC_API_KEY": anthropic_gateway.client_key}
    options = sdk.ClaudeAgentOptions(cli_path=str(claude_bin), cwd=str(workdir), env=env,
                                     permission_mode="bypassPermissions", max_turns=4, setting_sources=[])
    stderr: list[str] = []
    options.stderr = stderr.append
    messages = [m async for m in sdk.query(prompt="Create hello.txt in the current directory.", options=options)]
    print("upstream:", [(r.method, r.path) for r in up.requests], "script:", script.log, "stderr:", stderr[-20:])

    (result,) = [m for m in messages if isinstance(m, sdk.ResultMessage)]
    assert result.is_error is False, result
    assert result.result == script.final_text
    assert script.target.read_text() == WRITE_CONTENT
    tool_uses = [b for m in messages if isinstance(m, sdk.AssistantMessage) for b in m.content
                 if isinstance(b, sdk.ToolUseBlock)]
    assert [(t.name, t.input) for t in tool_uses] == [
        ("Write", {"file_path": str(script.target), "content": WRITE_CONTENT})]
    main = [r for r in up.requests if r.path == "/v1/messages"]
    assert len(main) >= 2 and main[-1].json["model"] == FAKE_ANTHROPIC_MODEL
    assert all(r.headers.get("x-api-key") == FAKE_ANTHROPIC_KEY for r in main)
    assert all(anthropic_gateway.client_key not in r.raw.decode(errors="replace") for r in up.requests)
