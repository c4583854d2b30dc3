"""`manage.py claude`: starts the gateway when needed, then runs claude (here a stand-in that
records its arguments and environment) pointed at it with a client key."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from proxy_project.management.commands.claude import split_argv
from tests.support.gateway import REPO_ROOT, free_port, gateway_env, start_gateway

pytestmark = pytest.mark.timeout(180)

STAND_IN = """#!{python}
import json, os, sys
with open(os.environ["RECORD_TO"], "w") as out:
    json.dump({{"argv": sys.argv, "env": dict(os.environ)}}, out)
sys.exit(7)
"""


def stand_in(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "claude"
    path.write_text(STAND_IN.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def launch(args: list[str], env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", "claude", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_split_argv_keeps_our_options_and_passes_the_rest():
    assert split_argv(["--url", "http://x:1", "-p", "hi", "--model", "sonnet"]) == (
        ["--url", "http://x:1"], ["-p", "hi", "--model", "sonnet"])
    assert split_argv(["--no-start", "--", "--url", "y"]) == (["--no-start"], ["--url", "y"])
    assert split_argv(["--claude-bin=/bin/c", "--version"]) == (["--claude-bin=/bin/c"], ["--version"])


def test_launcher_uses_a_running_gateway_and_passes_arguments_through(tmp_path):
    record = tmp_path / "record.json"
    binary = stand_in(tmp_path / "bin")
    with start_gateway({}, tmp_path / "gw", client_key="") as gw:
        env = {**gw.env, "RECORD_TO": str(record), "GATEWAY_STATE_DIR": str(tmp_path / "state"),
               "ANTHROPIC_AUTH_TOKEN": "should-be-dropped", "PATH": f"{binary.parent}:{os.environ['PATH']}"}
        done = launch(["--url", gw.url, "-p", "say hi", "--model", "sonnet", "--", "--x"], env)
        assert done.returncode == 7, done.stderr  # claude's own exit status: the launcher exec'd it
        seen = json.loads(record.read_text())
        assert seen["argv"][1:] == ["-p", "say hi", "--model", "sonnet", "--", "--x"]
        assert seen["env"]["ANTHROPIC_BASE_URL"] == gw.url
        assert "ANTHROPIC_AUTH_TOKEN" not in seen["env"]
        key = seen["env"]["ANTHROPIC_API_KEY"]
        key_file = tmp_path / "state" / "claude-launcher.key"
        assert key_file.read_text().strip() == key
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        answer = httpx.post(f"{gw.url}/v1/messages/count_tokens", headers={"x-api-key": key},
                            json={"model": "claude-sonnet-5", "messages": [{"role": "user", "content": "hi"}]})
        assert answer.status_code == 200  # the key works at the gateway
        launch(["--url", gw.url, "--claude-bin", str(binary), "again"], env)
        again = json.loads(record.read_text())
        assert again["env"]["ANTHROPIC_API_KEY"] == key and again["argv"][1:] == ["again"]  # key reused
        launch(["--url", gw.url, "--claude-bin", str(binary)], {**env, "GATEWAY_CLIENT_KEY": "sk-gw-from-env-123"})
        assert json.loads(record.read_text())["env"]["ANTHROPIC_API_KEY"] == "sk-gw-from-env-123"


def test_launcher_starts_the_gateway_when_none_answers(tmp_path):
    record = tmp_path / "record.json"
    binary = stand_in(tmp_path / "bin")
    state = tmp_path / "state"
    port = free_port()
    env = {**gateway_env({"PORT": str(port)}, tmp_path / "gw.sqlite3"), "RECORD_TO": str(record),
           "GATEWAY_STATE_DIR": str(state)}
    started = time.monotonic()
    done = launch(["--claude-bin", str(binary), "--start-timeout", "60", "hello"], env)
    pid = int((state / "gateway.pid").read_text()) if (state / "gateway.pid").exists() else None
    try:
        assert done.returncode == 7, done.stderr + (state / "gateway.log").read_text(errors="replace")[-3000:]
        assert time.monotonic() - started < 60
        assert f"started the gateway at http://127.0.0.1:{port}" in done.stderr
        seen = json.loads(record.read_text())
        assert seen["env"]["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{port}"
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200  # it keeps running
        assert stat.S_IMODE((state / "gateway.log").stat().st_mode) == 0o600
    finally:
        if pid:
            os.killpg(pid, signal.SIGTERM)  # the gateway runs in its own session
            _wait_gone(pid)


def test_launcher_without_a_gateway_and_no_start_fails(tmp_path):
    env = {**gateway_env({}, tmp_path / "gw.sqlite3"), "GATEWAY_STATE_DIR": str(tmp_path)}
    done = launch(["--url", f"http://127.0.0.1:{free_port()}", "--no-start", "x"], env)
    assert done.returncode == 1 and "no gateway answers" in done.stderr


def test_launcher_help_is_documented():
    done = subprocess.run([sys.executable, "manage.py", "claude", "--help"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "ANTHROPIC_BASE_URL" in done.stdout and "--claude-bin" in done.stdout


def _wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(session_of(p) == pid for p in _pids()):
            return
        time.sleep(0.2)
    raise AssertionError(f"processes of session {pid} still running")


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def session_of(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[3])  # after "(comm)": state ppid pgrp session
