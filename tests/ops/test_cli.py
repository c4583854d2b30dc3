"""The installed ``claude-gateway``/``cgw`` command, from a wheel in a fresh venv, run from a
folder outside the repository: serve -d, status, logs, stop, keys, doctor, claude -p.

The wheel is built once per session from a copy of the tree (no network: the shared venv's
setuptools and wheel, --no-build-isolation); the fresh venv sees the shared venv's
dependencies through a .pth line placed after its own site-packages, so the gateway it imports
is the wheel's, never the checkout's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.ops.test_fresh_clone import tree_files
from tests.support.gateway import REPO_ROOT, free_port, gateway_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

CLAUDE = REPO_ROOT / ".cache" / "claude-code" / "node_modules" / ".bin" / "claude"


@pytest.fixture(scope="session")
def venv(tmp_path_factory) -> Path:
    """A fresh venv with the gateway installed from its wheel; returns its bin/ folder."""
    try:
        import setuptools  # noqa: F401
        import wheel  # noqa: F401  (bdist_wheel for setuptools < 70.1)
    except ImportError:
        pytest.skip("building the wheel offline needs setuptools and wheel in this venv (the dev extras)")
    root = tmp_path_factory.mktemp("cli-install")
    source = root / "source"
    for name in tree_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(root / "dist"), str(source)], check=True, capture_output=True, timeout=180)
    (wheel_file,) = (root / "dist").glob("claude_gateway-*.whl")
    fresh = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True, timeout=60)
    python = fresh / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--no-index", str(wheel_file)], check=True, capture_output=True, timeout=180)
    own = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip())
    (own / "zz_shared_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return fresh / "bin"


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    """The defaults a person gets: no GATEWAY_HOME, no DATABASE_URL, a HOME of their own."""
    env = gateway_env({"PORT": str(free_port())}, tmp_path / "unused.sqlite3")
    for name in ("PYTHONPATH", "GATEWAY_HOME", "DATABASE_URL", "SECRET_KEY", "FIELD_ENCRYPTION_KEY",
                 "XDG_DATA_HOME", "CELERY_BROKER_FOLDER"):
        env.pop(name, None)
    env["HOME"] = str(tmp_path / "home")
    env["CLIENT_KEY_CACHE_TTL"] = "0"  # a revoked key is refused at once, not within 30 s
    (tmp_path / "elsewhere").mkdir()
    return env


def cgw(venv: Path, env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(venv / "cgw"), *args], cwd=Path(env["HOME"]).parent / "elsewhere", env=env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    print(f"$ cgw {' '.join(args)} -> {done.returncode}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done


def gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def test_installed_command_imports_the_wheel_and_documents_every_subcommand(venv, cli_env):
    where = subprocess.run([str(venv / "python"), "-c", "import proxy_project; print(proxy_project.__file__)"],
                           env=cli_env, cwd=Path(cli_env["HOME"]).parent / "elsewhere", capture_output=True,
                           text=True, check=True).stdout
    assert where.startswith(str(venv.parent)), where
    assert (venv / "claude-gateway").is_file()
    for sub in ("serve", "claude", "stop", "status", "logs", "init", "import", "export", "keys", "hashes", "doctor"):
        done = cgw(venv, cli_env, sub, "--help", timeout=60)
        assert done.returncode == 0 and "usage: claude-gateway" in done.stdout and "examples:" in done.stdout, sub
    assert cgw(venv, cli_env, "keys", "create", "--help").stdout.startswith("usage: claude-gateway keys create")


def test_serve_detached_status_logs_keys_and_stop_from_any_folder(venv, cli_env):
    home = Path(cli_env["HOME"]) / ".local" / "share" / "claude-gateway"
    started = cgw(venv, cli_env, "serve", "-d", "--no-worker")  # Celery adds nothing here but seconds
    assert started.returncode == 0 and "ready (pid" in started.stdout, started.stderr
    pid = int((home / "gateway.pid").read_text())
    url = f"http://127.0.0.1:{cli_env['PORT']}"
    try:
        status = cgw(venv, cli_env, "status")
        assert status.returncode == 0 and "answers" in status.stdout and str(pid) in status.stdout
        assert str(home) in status.stdout and (home / "db.sqlite3").is_file()
        assert "Serving on" in cgw(venv, cli_env, "logs", "-n", "20").stdout
        # Templates and static files ship in the wheel.
        assert httpx.get(f"{url}/admin/login/", timeout=10).status_code == 200
        assert httpx.get(f"{url}/static/dashboard/htmx.min.js", timeout=10).status_code == 200

        key = cgw(venv, cli_env, "keys", "create", "alice", "--print").stdout.strip()
        assert key.startswith("sk-gw-")
        listed = cgw(venv, cli_env, "keys", "list").stdout
        assert "alice" in listed and key[:10] in listed and key not in listed
        body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
        ask = lambda: httpx.post(f"{url}/v1/messages/count_tokens", headers={"x-api-key": key}, json=body,  # noqa: E731
                                 timeout=10).status_code
        assert ask() == 200
        assert cgw(venv, cli_env, "keys", "revoke", "alice").returncode == 0
        assert ask() == 401
        assert "alice" in (line := [r for r in cgw(venv, cli_env, "keys", "list").stdout.splitlines()
                                    if r.startswith("alice")][0]) and " no " in line
        assert cgw(venv, cli_env, "keys", "revoke", "alice").returncode == 1  # nothing left to revoke

        follow = subprocess.Popen([str(venv / "cgw"), "logs", "-f", "-n", "5"], env=cli_env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, start_new_session=True)
        try:
            assert follow.stdout is not None
            assert follow.stdout.readline()  # the tail first; then it waits for more
            follow.send_signal(signal.SIGINT)
            assert follow.wait(timeout=15) == 0
        finally:
            if follow.poll() is None:
                follow.kill()

        stopped = cgw(venv, cli_env, "stop")
        assert stopped.returncode == 0 and f"stopped the gateway (pid {pid})" in stopped.stdout
        assert gone(pid, 15) and not (home / "gateway.pid").exists()
        assert cgw(venv, cli_env, "status").returncode == 3
        assert "no background gateway" in cgw(venv, cli_env, "stop").stdout
    finally:
        if not gone(pid, 0):
            os.killpg(pid, signal.SIGKILL)


def test_doctor_reports_a_dead_provider_and_exits_non_zero(venv, cli_env, tmp_path):
    dead = free_port()  # nobody listens here
    init = cgw(venv, cli_env, "init", "--no-input", "--kind", "openai_compat", "--name", "deadend",
               "--base-url", f"http://127.0.0.1:{dead}/v1", "--api-key", "sk-test-fake-key",
               "--big-model", "m", "--middle-model", "m", "--small-model", "m",
               "-o", str(tmp_path / "gateway.json"), "--import")
    assert init.returncode == 0, init.stderr
    dead_redis = f"redis://127.0.0.1:{free_port()}/4"
    done = cgw(venv, {**cli_env, "REDIS_URL": dead_redis}, "doctor", "--timeout", "3")
    assert done.returncode == 1
    assert f"FAIL  redis: {dead_redis}: Error" in done.stdout and "fix: start Redis" in done.stdout
    assert "ok    database" in done.stdout
    assert f"FAIL  provider deadend: openai_compat at http://127.0.0.1:{dead}/v1: connection failed" in done.stdout
    assert "fix: is the provider running and its base URL right?" in done.stdout
    assert "FAIL  client keys: none enabled" in done.stdout  # and what to run about it


def test_doctor_passes_when_everything_answers(venv, cli_env, tmp_path):
    with FakeOpenAI() as up:
        assert cgw(venv, cli_env, "init", "--no-input", "--kind", "openai_compat", "--name", "fake",
                   "--base-url", up.base_url, "--api-key", "sk-test-fake-key", "--big-model", "m",
                   "--middle-model", "m", "--small-model", "m", "-o", str(tmp_path / "g.json"), "--import",
                   ).returncode == 0
        assert cgw(venv, cli_env, "keys", "create", "bob", "--print").returncode == 0
        done = cgw(venv, {**cli_env, "REDIS_URL": "redis://127.0.0.1:6379/4"}, "doctor")  # the shared Redis, DB 4
    assert done.returncode == 0 and "ok    provider fake" in done.stdout and "no problems found" in done.stdout
    assert "ok    redis: redis://127.0.0.1:6379/4 answers" in done.stdout


@pytest.mark.skipif(not CLAUDE.exists(), reason="the Claude Code CLI is not installed (make e2e-deps)")
def test_claude_subcommand_starts_a_gateway_and_runs_claude_code_through_it(venv, cli_env):
    home = Path(cli_env["HOME"])
    env = {**cli_env, "CLAUDE_BIN": str(CLAUDE), "IS_SANDBOX": "1", "TERM": "dumb", "DISABLE_TELEMETRY": "1",
           "DISABLE_ERROR_REPORTING": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
           "DISABLE_AUTOUPDATER": "1"}
    with FakeOpenAI() as up:
        env.update({"PREFERRED_PROVIDER": "openai", "OPENAI_BASE_URL": up.base_url, "OPENAI_API_KEY": "sk-test-fake",
                    "BIG_MODEL": "gpt-test", "MIDDLE_MODEL": "gpt-test", "SMALL_MODEL": "gpt-test"})
        done = cgw(venv, env, "claude", "--start-timeout", "90", "-p", "say hi", "--output-format", "json",
                   "--dangerously-skip-permissions", timeout=200)
        pid_file = home / ".local" / "share" / "claude-gateway" / "gateway.pid"
        pid = int(pid_file.read_text()) if pid_file.exists() else None
        try:
            assert done.returncode == 0, done.stderr
            result = json.loads(done.stdout.strip().splitlines()[-1])
            assert result["type"] == "result" and not result["is_error"], result
            assert "Hello from the fake OpenAI upstream." in result["result"]
            assert up.requests, "claude's request reached the upstream through the gateway"
            assert "started the gateway at" in done.stderr and pid
            assert cgw(venv, env, "stop").returncode == 0
            assert gone(pid, 15)
        finally:
            if pid and not gone(pid, 0):
                os.killpg(pid, signal.SIGKILL)
