"""`manage.py serve`: the gateway with a Celery worker and beat as children, all stopped together."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from proxy_project.supervisor import BEAT_THREAD_APP, Supervisor, celery_argv
from tests.ops.test_claude_launcher import session_of
from tests.support.gateway import REPO_ROOT, credential, credentials_file, free_port, gateway_env

pytestmark = pytest.mark.timeout(120)


def session_members(sid: int) -> list[tuple[int, str]]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and session_of(int(entry)) == sid:
            try:
                out.append((int(entry), Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()))
            except OSError:
                continue
    return out


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def periodic_tasks(db: Path) -> list[str]:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as conn:
            return [name for (name,) in conn.execute("SELECT name FROM django_celery_beat_periodictask")]
    except sqlite3.Error:  # not migrated yet, or busy
        return []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_runs_worker_and_beat_and_stops_them_all(tmp_path, sig):
    port = free_port()
    env = gateway_env({"CELERY_BROKER_FOLDER": str(tmp_path / "broker")}, tmp_path / "db.sqlite3")
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "manage.py", "serve", "--port", str(port)], cwd=REPO_ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: healthy(f"http://127.0.0.1:{port}"), 30, "/health")
        # beat's start (beat_init) writes the default schedule: beat runs
        wait_for(lambda: periodic_tasks(tmp_path / "db.sqlite3"), 30, "beat's default schedule")
        # one Celery process runs the worker (threads pool) and beat, in a thread: no forked scheduler
        celery = [c for _, c in session_members(proc.pid) if "celery" in c]
        assert len(celery) == 1, celery
        assert f"celery -A {BEAT_THREAD_APP} worker" in celery[0] and "--pool threads" in celery[0]
        assert " -B" not in celery[0]
        assert (tmp_path / "broker" / "queue").is_dir()
        proc.send_signal(sig)  # Ctrl-C (SIGINT) or a service manager's SIGTERM, to serve alone
        proc.wait(timeout=30)
        wait_for(lambda: not session_members(proc.pid), 15, "every child to exit")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid, _ in session_members(proc.pid):
            os.kill(pid, signal.SIGKILL)
        log.close()
    text = (tmp_path / "serve.log").read_text(errors="replace")
    # stdout is a log file, not a terminal: the log names a private file instead of the secrets.
    shown = credentials_file(text)
    assert shown.parent == Path(env["GATEWAY_HOME"]) / "credentials" and oct(shown.stat().st_mode & 0o777) == "0o600"
    secrets = shown.read_text()
    assert "Staff user 'admin', password (shown once):" in secrets and "Client key (shown once" in secrets
    key = credential(text, "sk-gw-")
    password = secrets.split("password (shown once): ")[1].split()[0]
    assert key not in text and password not in text


def _ignore_sigint() -> None:  # in the child: what `cmd &` in a script or `nohup make test &` hands down
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_serve_stops_on_sigint_even_when_its_parent_ignored_sigint(tmp_path):
    port = free_port()
    env = gateway_env({}, tmp_path / "db.sqlite3")
    proc = subprocess.Popen([sys.executable, "manage.py", "serve", "--port", str(port), "--no-worker"],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, preexec_fn=_ignore_sigint)
    try:
        wait_for(lambda: healthy(f"http://127.0.0.1:{port}"), 30, "/health")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_serve_no_worker_starts_no_children(tmp_path):
    port = free_port()
    env = gateway_env({"WEB_PROCESSES": "1"}, tmp_path / "db.sqlite3")  # daphne in serve itself
    proc = subprocess.Popen([sys.executable, "manage.py", "serve", "--port", str(port), "--no-worker"],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_for(lambda: healthy(f"http://127.0.0.1:{port}"), 30, "/health")
        time.sleep(1.5)
        assert [pid for pid, _ in session_members(proc.pid)] == [proc.pid]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_supervisor_restarts_a_child_that_exits_and_stops_its_group(tmp_path):
    said: list[str] = []
    marker = tmp_path / "starts"
    script = f"import time; open({str(marker)!r}, 'a').write('x'); time.sleep(0.2)"
    sup = Supervisor(cwd=str(tmp_path), env=os.environ, say=said.append, grace=2)
    sup.add("flaky", [sys.executable, "-c", script])
    sup.add("sleeper", [sys.executable, "-c", "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"])
    sup.start_all()
    wait_for(lambda: (sup.check() or marker.exists() and len(marker.read_text()) >= 2), 10, "a restart")
    assert any("flaky exited with 0; restarting" in s for s in said)
    sleeper = sup.children[1].proc
    assert sleeper is not None
    sup.stop_all()
    assert sleeper.poll() is not None
    wait_for(lambda: not any(_pgid(p) == sleeper.pid for p in os.listdir("/proc") if p.isdigit()), 5,
             "the sleeper's grandchild to be killed with its group")


def _pgid(pid: str) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, IndexError):
        return None


def listen_backlog(port: int) -> int | None:
    """Send-Q of the listening socket in ``ss -ltn``: its accept backlog."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, timeout=10).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] == "LISTEN":
            return int(parts[2])
    return None


def test_celery_argv_embeds_beat_as_a_thread_of_the_worker_only():
    worker = celery_argv("worker", pool="threads", with_beat=True)
    assert worker[worker.index("-A") + 1] == BEAT_THREAD_APP and "-B" not in worker
    assert celery_argv("worker")[celery_argv("worker").index("-A") + 1] == "proxy_project"
    assert celery_argv("beat", with_beat=True)[3:6] == ["-A", "proxy_project", "beat"]


def test_beat_thread_app_is_the_gateways_app_with_a_beat_step_and_loads_lazily(tmp_path):
    code = ("import sys, proxy_project.supervisor as s; assert 'celery' not in sys.modules; "
            "app = s.celery_app_beat_thread; assert app is s.celery_app_beat_thread; "
            "from proxy_project.celery import app as gateway; assert app is gateway; "
            "print(sorted(step.label for step in app.steps['worker'] if getattr(step, 'label', '')))")
    env = gateway_env({"CELERY_BROKER_FOLDER": str(tmp_path / "broker")}, tmp_path / "db.sqlite3")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['Beat (thread)']"
    import proxy_project.supervisor as supervisor

    with pytest.raises(AttributeError):
        supervisor.no_such_name  # noqa: B018 - only the one name is lazy


def test_serve_refuses_a_misspelt_event_loop_before_preparing_anything(tmp_path):
    env = gateway_env({"EVENT_LOOP": "uv-loop"}, tmp_path / "db.sqlite3")
    out = subprocess.run([sys.executable, "manage.py", "serve", "--port", str(free_port())], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "EVENT_LOOP='uv-loop': expected one of uvloop, asyncio" in out.stderr
    assert not (tmp_path / "db.sqlite3").exists()  # nothing migrated, nothing served


def test_daphne_endpoint_sets_the_backlog_and_escapes_ipv6():
    from proxy_project.supervisor import daphne_endpoint

    assert daphne_endpoint("0.0.0.0", 8082, backlog=4096) == "tcp:port=8082:interface=0.0.0.0:backlog=4096"
    assert daphne_endpoint("::1", 80, backlog=10) == "tcp6:port=80:interface=\\:\\:1:backlog=10"


@pytest.mark.parametrize("processes", ["1", "2"])
def test_serve_listens_with_the_configured_backlog(tmp_path, processes):
    import shutil

    if shutil.which("ss") is None:
        pytest.skip("no ss(8) to read the listen backlog")
    port = free_port()
    env = gateway_env({"LISTEN_BACKLOG": "1234", "WEB_PROCESSES": processes}, tmp_path / "db.sqlite3")
    proc = subprocess.Popen([sys.executable, "manage.py", "serve", "--port", str(port), "--no-worker"],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_for(lambda: healthy(f"http://127.0.0.1:{port}"), 30, "/health")
        somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
        assert listen_backlog(port) == min(1234, somaxconn)
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
        assert b"PYTHONMALLOC=malloc" in environ  # re-exec'd with glibc's allocator, same pid
        # every web process, serve's own daphne included, runs on uvloop (EVENT_LOOP's default)
        def web_on_uvloop() -> bool:  # the other web processes start a second after serve's own
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            web = [proc.pid, *(int(pid) for pid in children)]
            return len(web) == int(processes) and all(
                "uvloop/loop." in Path(f"/proc/{pid}/maps").read_text() for pid in web)

        wait_for(web_on_uvloop, 30, "every web process on uvloop")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# --- several web processes on one port (WEB_PROCESSES) ---------------------------------------------

def listeners(port: int) -> int:
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, timeout=10).stdout
    return sum(line.startswith("LISTEN") for line in out.splitlines())


def accepted_by(port: int) -> Counter[int]:
    """How many established connections to ``port`` each process holds (``ss -tnp``)."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"sport = :{port}"], capture_output=True,
                         text=True, timeout=10).stdout
    return Counter(int(pid) for pid in re.findall(r"pid=(\d+)", out))


def web_children(sid: int) -> list[int]:
    """The ``edge_daphne --fd`` children (serve itself is the first web process)."""
    return [pid for pid, command in session_members(sid) if "-m proxy_project.edge_daphne --fd" in command]


def burst(url: str, count: int) -> tuple[list[int], list[httpx.Client]]:
    """``count`` keep-alive connections opened at once, each asking /health; left open for ss."""
    clients = [httpx.Client(timeout=15, trust_env=False) for _ in range(count)]
    barrier = threading.Barrier(count)

    def one(client: httpx.Client) -> int:
        barrier.wait(timeout=10)
        return client.get(f"{url}/health").status_code

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, clients)), clients


def test_serve_runs_web_processes_that_share_the_port_evenly_and_restarts_one(tmp_path):
    if shutil.which("ss") is None:
        pytest.skip("no ss(8) to see the listening sockets")
    port, url = free_port(), ""
    env = gateway_env({"WEB_PROCESSES": "3"}, tmp_path / "db.sqlite3")
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "manage.py", "serve", "--port", str(port), "--no-worker"],
                            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: healthy(url) and len(web_children(proc.pid)) == 2, 40, "serve and two web children")
        assert listeners(port) == 3  # one SO_REUSEPORT socket per process, all bound by serve
        statuses, clients = burst(url, 30)
        spread = accepted_by(port)
        for client in clients:
            client.close()
        assert statuses == [200] * 30
        # every process accepted some (by address hash; a shared socket once gave one all 30)
        assert set(spread) == {proc.pid, *web_children(proc.pid)}, spread

        victim = web_children(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)  # a crash: serve starts another on the same socket
        during, clients = burst(url, 12)  # its share queues on its socket until the new one adopts it
        for client in clients:
            client.close()
        assert during == [200] * 12
        wait_for(lambda: len(set(web_children(proc.pid)) - {victim}) == 2, 20, "the restarted process")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        wait_for(lambda: not session_members(proc.pid), 15, "every web process to exit")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid, _ in session_members(proc.pid):
            os.kill(pid, signal.SIGKILL)
        log.close()
    text = (tmp_path / "serve.log").read_text(errors="replace")
    assert "with 3 web processes" in text and re.search(r"web [23] exited with -9; restarting", text)
    assert "3 web processes without REDIS_URL: each process counts client-key limits on its own" in text


def test_supervisor_gives_up_on_an_essential_child_after_its_restarts(tmp_path):
    said: list[str] = []
    sup = Supervisor(cwd=str(tmp_path), env=os.environ, say=said.append, grace=2, max_restarts=0)
    sup.add("web 2", [sys.executable, "-c", "raise SystemExit(3)"], essential=True)
    sup.add("celery beat", [sys.executable, "-c", "import time; time.sleep(30)"])
    sup.start_all()
    try:
        wait_for(lambda: (sup.check() or sup.gave_up()), 10, "serve to give up on web 2")
        assert "web 2 exited with 3; not restarting it again" in said
    finally:
        sup.stop_all()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_listen_sockets_share_one_port_with_the_backlog(host):
    from proxy_project.supervisor import listen_sockets

    try:
        socks = listen_sockets(host, 0, backlog=7, count=3)
    except OSError:
        pytest.skip(f"no {host} here")
    try:
        assert len({s.fileno() for s in socks}) == 3
        assert len({s.getsockname()[1] for s in socks}) == 1  # port 0: all on the port the first got
        with socket.create_connection((host, socks[0].getsockname()[1]), timeout=5):
            pass  # the kernel queued it on one of them
    finally:
        for sock in socks:
            sock.close()
