"""Fixtures for end-to-end tests with the real Claude Code CLI against the real gateway process."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes import FakeAnthropic, FakeOpenAI
from tests.support import GatewayProcess, start_gateway
from tests.support.gateway import REPO_ROOT

CLAUDE_INSTALL_HINT = "npm install --prefix .cache/claude-code @anthropic-ai/claude-code"
FAKE_UPSTREAM_MODEL = "gpt-test"
FAKE_ANTHROPIC_MODEL = "claude-upstream-test"
FAKE_ANTHROPIC_KEY = "sk-ant-api03-fake-upstream-key"


def _find_claude() -> Path | None:
    explicit = os.environ.get("CLAUDE_BIN")
    if explicit:
        return Path(explicit)
    local = REPO_ROOT / ".cache" / "claude-code" / "node_modules" / ".bin" / "claude"
    if local.exists():
        return local
    found = shutil.which("claude")
    return Path(found) if found else None


def _unavailable(reason: str) -> None:
    if os.environ.get("REQUIRE_E2E") == "1":
        pytest.fail(f"REQUIRE_E2E=1 but {reason}", pytrace=False)
    pytest.skip(f"{reason}; install it with `{CLAUDE_INSTALL_HINT}` (or set CLAUDE_BIN)")


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    path = _find_claude()
    if path is None or not path.exists():
        _unavailable("the Claude Code CLI is not installed")
    assert path is not None
    try:
        done = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=60, env=_base_env(Path("/tmp"))
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _unavailable(f"{path} does not run: {exc!r}")
    if done.returncode != 0:
        _unavailable(f"`{path} --version` exited {done.returncode}: {done.stderr.strip()[:300]}")
    return path


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as up:
        yield up


@pytest.fixture(scope="module")
def gateway(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    env = {
        "PREFERRED_PROVIDER": "openai",
        "OPENAI_BASE_URL": upstream.base_url,
        "OPENAI_API_KEY": "sk-test-fake",
        "BIG_MODEL": FAKE_UPSTREAM_MODEL,
        "MIDDLE_MODEL": FAKE_UPSTREAM_MODEL,
        "SMALL_MODEL": FAKE_UPSTREAM_MODEL,
        "STREAM_PING_INTERVAL": "5",
    }
    with start_gateway(env, tmp_path_factory.mktemp("gateway")) as gw:
        yield gw


@pytest.fixture(scope="module")
def anthropic_upstream() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as up:
        yield up


@pytest.fixture(scope="module")
def anthropic_gateway(
    anthropic_upstream: FakeAnthropic, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    env = {
        "PREFERRED_PROVIDER": "anthropic",
        "ANTHROPIC_UPSTREAM_URL": anthropic_upstream.base_url,
        "ANTHROPIC_API_KEY": FAKE_ANTHROPIC_KEY,
        "BIG_MODEL": FAKE_ANTHROPIC_MODEL,
        "MIDDLE_MODEL": FAKE_ANTHROPIC_MODEL,
        "SMALL_MODEL": FAKE_ANTHROPIC_MODEL,
    }
    with start_gateway(env, tmp_path_factory.mktemp("gateway-anthropic")) as gw:
        yield gw


@pytest.fixture
def fresh_anthropic_upstream(anthropic_upstream: FakeAnthropic) -> Iterator[FakeAnthropic]:
    anthropic_upstream.reset()
    yield anthropic_upstream
    anthropic_upstream.reset()


@pytest.fixture
def fresh_upstream(upstream: FakeOpenAI) -> Iterator[FakeOpenAI]:
    upstream.reset()
    yield upstream
    upstream.reset()


def _base_env(home: Path) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "TERM": "dumb",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "IS_SANDBOX": "1",  # we run as root; --dangerously-skip-permissions refuses root otherwise
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    return env


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    workdir: Path

    def result(self) -> dict:
        """The final ``result`` object (``--output-format json`` or the last stream-json line)."""
        for line in reversed(self.stdout.strip().splitlines()):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("type") == "result":
                return obj
        raise AssertionError(f"no result object in CLI output:\n{self.stdout[-3000:]}\n{self.stderr[-3000:]}")

    def events(self) -> list[dict]:
        out = []
        for line in self.stdout.splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out


@dataclass
class ClaudeCli:
    binary: Path
    tmp_path: Path

    def run(
        self,
        prompt: str,
        *,
        gateway_url: str,
        api_key: str | None = None,
        auth_token: str | None = None,
        output_format: str = "json",
        extra_args: tuple[str, ...] = (),
        workdir: Path | None = None,
        timeout: float = 180,
    ) -> CliRun:
        home = self.tmp_path / "home"
        home.mkdir(exist_ok=True)
        workdir = workdir or self.tmp_path / "work"
        workdir.mkdir(exist_ok=True)
        env = _base_env(home)
        env["ANTHROPIC_BASE_URL"] = gateway_url
        if api_key is not None:
            env["ANTHROPIC_API_KEY"] = api_key
        if auth_token is not None:
            env["ANTHROPIC_AUTH_TOKEN"] = auth_token
        args = [str(self.binary), "-p", prompt, "--dangerously-skip-permissions", "--output-format", output_format]
        if output_format == "stream-json":
            args.append("--verbose")  # required by the CLI for stream-json with -p
        args += list(extra_args)
        try:
            done = subprocess.run(
                args, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(
                f"claude did not finish within {timeout} s\n--- stdout ---\n{exc.stdout!r}\n--- stderr ---\n{exc.stderr!r}"
            ) from None
        print(f"$ claude -p ... (exit {done.returncode})\n--- stdout ---\n{done.stdout[-4000:]}\n"
              f"--- stderr ---\n{done.stderr[-4000:]}")
        return CliRun(done.returncode, done.stdout, done.stderr, workdir)


@pytest.fixture
def claude(claude_bin: Path, tmp_path: Path) -> ClaudeCli:
    return ClaudeCli(claude_bin, tmp_path)
