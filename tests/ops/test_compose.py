"""docker-compose.yml, the Dockerfile and .env.example, checked without a Docker engine: the file's
shape, `docker compose config` where the compose plugin exists, every setting documented, and the
services' own commands run against this machine's PostgreSQL and Redis."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.databases import POSTGRES_ADMIN_URL, postgres_available
from tests.support.gateway import REPO_ROOT, free_port, gateway_env

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
REDIS_TEST_URL = "redis://127.0.0.1:6379/13"  # DB 15 is test_limits_workers' (xdist runs files at once)


def documented() -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (REPO_ROOT / ".env.example").read_text(), re.MULTILINE))


def test_compose_has_web_worker_beat_redis_postgres_with_health_checks():
    assert set(SERVICES) == {"web", "worker", "beat", "redis", "postgres"}
    for name, service in SERVICES.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert "postgres-data" in COMPOSE["volumes"]
    assert any(v.startswith("postgres-data:") for v in SERVICES["postgres"]["volumes"])
    for name in ("web", "worker", "beat"):
        service = SERVICES[name]
        assert service["env_file"] == [{"path": ".env", "required": False}], name  # every variable passes through
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert service["environment"]["DATABASE_URL"].startswith("postgresql://")
        assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}
        assert service["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert SERVICES["worker"]["depends_on"]["web"] == {"condition": "service_healthy"}  # web migrates first
    assert SERVICES["web"]["command"][:3] == ["python", "manage.py", "serve"]  # migrate, then serve


def test_compose_web_takes_its_process_count_from_the_environment():
    web = SERVICES["web"]
    assert web["environment"]["WEB_PROCESSES"] == "${WEB_PROCESSES:-}"  # empty: one per CPU
    assert web["environment"]["REDIS_URL"] == "redis://redis:6379/0"  # the shared parts stay shared
    assert not any("$" in arg for arg in web["command"])  # options come from the environment only
    assert "WEB_PROCESSES" in documented()


def test_dockerfile_installs_the_package_and_runs_as_non_root():
    text = (REPO_ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert "RUN pip install ." in text and re.search(r"^USER gateway$", text, re.MULTILINE)


def _packages() -> set[str]:
    """pyproject's package list (``templates`` holds no Python)."""
    import tomllib

    include = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    return {name.rstrip("*") for name in include["include"]} - {"templates"}


def test_make_run_and_the_image_byte_compile_every_gateway_package(tmp_path):
    """Where PYTHONDONTWRITEBYTECODE is set (the Dockerfile, this machine kind) nothing else writes
    the gateway's .pyc, and each process would compile every module from source at each start."""
    make = re.search(r"^PACKAGES := (.+)$", (REPO_ROOT / "Makefile").read_text(), re.MULTILINE)
    assert make and set(make.group(1).split()) == _packages()
    image = re.search(r"RUN python -m compileall -q ((?:[\w ]|\\\n)+)", (REPO_ROOT / "Dockerfile").read_text())
    assert image and set(image.group(1).replace("\\", " ").split()) == _packages()
    if shutil.which("make"):
        dry = subprocess.run(["make", "-n", "run", "NO_INSTALL=1", f"VENV={tmp_path}"], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=30, check=True).stdout.splitlines()
        steps = [line for line in dry if "compileall" in line or "manage.py serve" in line]
        assert len(steps) == 2 and "compileall" in steps[0] and steps[1].endswith("manage.py serve")


def test_env_example_documents_every_setting_and_seed_variable():
    settings_text = (REPO_ROOT / "proxy_project" / "settings.py").read_text()
    read = set(re.findall(r'env_(?:str|bool|int|float|secret)\(\s*"([A-Z0-9_]+)"', settings_text))
    seeding = (REPO_ROOT / "configuration" / "seeding.py").read_text()
    read |= set(re.findall(r'env\.get\(\s*"([A-Z0-9_]+)"', seeding))
    read |= {"HOST", "PORT", "ADMIN_USER", "ADMIN_PASSWORD", "GATEWAY_CLIENT_KEY", "POSTGRES_PASSWORD"}
    missing = sorted(read - documented())
    assert not missing, f".env.example does not document {missing}"


def test_docker_compose_config_accepts_the_file():
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("no docker compose plugin here; the structure checks above stand in for it")
    done = subprocess.run([docker, "compose", "-f", str(REPO_ROOT / "docker-compose.yml"), "config", "--quiet"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def _argv(command: list[str], port: int) -> list[str]:
    """The service's command for this machine: this venv's Python, a loopback host and a free port."""
    argv = [sys.executable, "-m", "celery", *command[1:]] if command[0] == "celery" else \
        [sys.executable if command[0] == "python" else command[0], *command[1:]]
    for flag, value in (("--host", "127.0.0.1"), ("--port", str(port))):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
    return argv


@pytest.mark.timeout(180)
def test_compose_commands_run_against_local_postgres_and_redis(tmp_path):
    redis = pytest.importorskip("redis")
    if not postgres_available():
        pytest.skip("no PostgreSQL on 127.0.0.1")
    try:
        redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1")
    import psycopg

    name = f"gw_compose_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    env = gateway_env({"DATABASE_URL": database_url, "REDIS_URL": REDIS_TEST_URL}, tmp_path / "unused.sqlite3")
    env["DATABASE_URL"] = database_url
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(_start(_argv(SERVICES["web"]["command"], port), env, tmp_path / "web.log"))
        _wait(lambda: _healthy(port), 60, "web /health", tmp_path / "web.log")
        check = SERVICES["web"]["healthcheck"]["test"]
        probe = [sys.executable, *check[2:]] if check[:2] == ["CMD", "python"] else check
        probe = [a.replace(":8082/", f":{port}/") for a in probe]
        # compose's own health check command. With REDIS_URL web runs one daphne per CPU, each on its
        # own SO_REUSEPORT socket: a connection the kernel hands to a process still starting waits
        # for it (compose retries its check for that), so the check must pass on several connections.
        _wait(lambda: all(subprocess.run(probe, timeout=20).returncode == 0 for _ in range(6)), 60,
              "compose's health check on every web process", tmp_path / "web.log")
        procs.append(_start(_argv(SERVICES["worker"]["command"], port), env, tmp_path / "worker.log"))
        procs.append(_start(_argv(SERVICES["beat"]["command"], port), env, tmp_path / "beat.log"))
        ping = [sys.executable, "-m", "celery", "-A", "proxy_project", "inspect", "ping", "--timeout", "2"]
        _wait(lambda: subprocess.run(ping, cwd=REPO_ROOT, env=env, capture_output=True, timeout=30).returncode == 0,
              60, "the worker to answer ping", tmp_path / "worker.log")
        _wait(lambda: "beat: Starting" in (tmp_path / "beat.log").read_text(errors="replace"), 30,
              "beat to start", tmp_path / "beat.log")
        assert all(p.poll() is None for p in procs)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        redis.Redis.from_url(REDIS_TEST_URL).flushdb()


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text(errors='replace')[-3000:]}")
