"""The README's first command on a fresh copy of the tree reaches a healthy /health within 60 s,
and Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import httpx
import pytest

from proxy_project.supervisor import BEAT_THREAD_APP
from tests.ops.test_serve import session_members
from tests.support.gateway import REPO_ROOT, credential, credentials_file, free_port, gateway_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def tree_files() -> list[str]:
    """What a clone of the work tree holds: tracked files plus new ones not ignored."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO_ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    return [name for name in listed if name and (REPO_ROOT / name).is_file()]


def test_readme_first_command_serves_a_fresh_clone_within_60_seconds(tmp_path):
    first = (REPO_ROOT / "README.md").read_text().splitlines()[0]
    assert first.split("#")[0].strip() == "make run"
    clone = tmp_path / "clone"
    for name in tree_files():
        target = clone / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    assert not (clone / "db.sqlite3").exists()
    port = free_port()
    env = gateway_env({"PORT": str(port)}, clone / "db.sqlite3")
    env.pop("DATABASE_URL")  # the default: SQLite in the clone
    env.pop("SECRET_KEY")
    env.pop("FIELD_ENCRYPTION_KEY")
    env.pop("GATEWAY_HOME")  # the default: data/ in the clone
    log_path = tmp_path / "make-run.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        make = subprocess.Popen(["make", "run", f"VENV={sys.prefix}", "NO_INSTALL=1"], cwd=clone, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        ready = None
        while time.monotonic() - started < 60:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    ready = time.monotonic() - started
                    break
            except httpx.HTTPError:
                pass
            assert make.poll() is None, log_path.read_text(errors="replace")
            time.sleep(0.1)
        assert ready is not None, "no healthy /health within 60 s:\n" + log_path.read_text(errors="replace")
        print(f"fresh clone healthy in {ready:.1f} s")
        deadline = time.monotonic() + 30
        while not any("celery" in cmd for _, cmd in session_members(make.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)  # the worker (beat is a thread of it) starts a second after the server
        commands = [cmd for _, cmd in session_members(make.pid)]
        assert any(f"celery -A {BEAT_THREAD_APP} worker" in c for c in commands), commands
        assert (clone / "data" / "db.sqlite3").exists()
        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the foreground group
        make.wait(timeout=30)
        deadline = time.monotonic() + 30
        while session_members(make.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not session_members(make.pid), session_members(make.pid)
    finally:
        for pid, _ in session_members(make.pid):
            os.kill(pid, signal.SIGKILL)
    text = log_path.read_text(errors="replace")
    for name in ("secret_key", "field_encryption_keys"):  # generated on first start, private
        assert oct((clone / "data" / name).stat().st_mode & 0o777) == "0o600"
    shown = credentials_file(text).read_text()  # the log is not a terminal: a 0600 file holds them
    assert "Client key (shown once, keep it): sk-gw-" in shown
    assert "Staff user 'admin', password (shown once):" in shown
    assert credential(text, "sk-gw-") not in text
