"""Run the real gateway under daphne as a subprocess, for black-box and end-to-end tests.

    with FakeOpenAI() as up, start_gateway({"PREFERRED_PROVIDER": "openai",
                                            "OPENAI_BASE_URL": up.base_url,
                                            "OPENAI_API_KEY": "sk-test-fake"}, tmp_path) as gw:
        httpx.post(f"{gw.url}/v1/messages", headers={"x-api-key": gw.client_key}, json=...)

Steps: ``manage.py migrate --noinput``, ``manage.py seed`` (reads the seed variables from ``env``),
``manage.py create_client_key e2e --key sk-gw-test-e2e-0000``, then ``python -m proxy_project.edge_daphne`` on a free
loopback port, polled on ``GET /health`` until it answers 200. The database is a fresh SQLite file
in ``tmp_path``. On exit daphne gets SIGTERM (SIGKILL after 10 s) and the tail of its log is printed,
which pytest shows for failing tests.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
CLIENT_KEY = "sk-gw-test-e2e-0000"

# Variables from the developer's shell that would change what the gateway seeds or where it
# connects; the caller's ``env`` sets what a test needs.
_SCRUBBED_PREFIXES = (
    "OPENAI_",
    "ANTHROPIC_",
    "CUSTOM_HEADER_",
    "GATEWAY_",
    "AWS_",
    "CLAUDE_",
    "FIELD_ENCRYPTION_",
)
_SCRUBBED = {
    "PREFERRED_PROVIDER",
    "BIG_MODEL",
    "MIDDLE_MODEL",
    "SMALL_MODEL",
    "REDIS_URL",
    "DATABASE_URL",
    "DJANGO_SETTINGS_MODULE",
    "SECRET_KEY_FILE",
    "REQUIRE_SECRET_KEY",
    "REQUEST_TIMEOUT",
    "MAX_TOKENS_LIMIT",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
}


class GatewayStartError(RuntimeError):
    pass


@dataclass
class GatewayProcess:
    url: str
    client_key: str
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    log_path: Path
    db_path: Path
    port: int
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        """Everything daphne and the app wrote to stdout/stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def manage(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run another ``manage.py`` command against the same database and settings."""
        return _manage(list(args), self.env, check=check, timeout=timeout)

    def headers(self, style: str = "x-api-key") -> dict[str, str]:
        """Auth headers with the client key (``style``: ``x-api-key`` or ``bearer``)."""
        if style == "bearer":
            return {"authorization": f"Bearer {self.client_key}", "anthropic-version": "2023-06-01"}
        return {"x-api-key": self.client_key, "anthropic-version": "2023-06-01"}

    def staff_headers(self) -> dict[str, str]:
        """A staff bearer token (for /health?detail=1, the admin API, the docs), created once."""
        if "staff_token" not in self.extra:
            env = {**self.env, "DJANGO_SUPERUSER_PASSWORD": "pw-tests-staff"}
            _manage(["createsuperuser", "--noinput", "--username", "tests-staff", "--email", "staff@example.com"], env)
            self.extra["staff_token"] = self.manage("create_admin_token", "--user", "tests-staff", "--print").stdout.strip()
        return {"authorization": f"Bearer {self.extra['staff_token']}"}

    def alive(self) -> bool:
        return self.proc.poll() is None


def gateway_env(env: Mapping[str, str], db_path: Path) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in _SCRUBBED and not k.startswith(_SCRUBBED_PREFIXES)
    }
    base.update(
        {
            "DJANGO_SETTINGS_MODULE": "proxy_project.settings",
            "DATABASE_URL": f"sqlite:///{db_path}",
            "SECRET_KEY": "test-secret-not-real",
            # Given, not generated, so gateways started on one shared database agree on it (as a
            # deployment's processes share GATEWAY_HOME); tests/ops/test_secrets.py covers generation.
            "FIELD_ENCRYPTION_KEY": "test-field-key-not-real",
            # Shown-once credentials go next to the test's database.
            "GATEWAY_HOME": str(db_path.parent / "gateway-home"),
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    base.update({k: str(v) for k, v in env.items()})
    return base


CREDENTIALS_LINE = re.compile(r"Credentials \(shown once\) written to (\S+) \(mode 0600\)")


def credentials_file(output: str) -> Path:
    """The file a command named instead of printing credentials (its stdout was not a terminal)."""
    found = CREDENTIALS_LINE.search(output)
    if found is None:
        raise AssertionError(f"no credentials file named in:\n{output[-3000:]}")
    return Path(found.group(1))


def credential(output: str, prefix: str) -> str:
    """The credential starting with ``prefix`` (``sk-gw-``, ``sk-gwadm-``) from the file named in ``output``."""
    for line in credentials_file(output).read_text().splitlines():
        for word in line.split():
            if word.startswith(prefix):
                return word
    raise AssertionError(f"no {prefix}… credential in {credentials_file(output)}")


def _manage(args: list[str], env: Mapping[str, str], *, check: bool = True, timeout: float = 120
            ) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "manage.py", *args]
    done = subprocess.run(cmd, cwd=REPO_ROOT, env=dict(env), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise GatewayStartError(
            f"`manage.py {' '.join(args)}` exited {done.returncode}\n"
            f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
        )
    return done


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(gw: GatewayProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if not gw.alive():
                raise GatewayStartError(f"daphne exited with {gw.proc.returncode} before /health answered")
            try:
                resp = client.get(f"{gw.url}/health")
                if resp.status_code == 200:
                    return
                last = f"HTTP {resp.status_code}: {resp.text[:300]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.1)
    raise GatewayStartError(f"GET /health did not answer 200 within {timeout:.0f} s (last: {last})")


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, so a killed pytest leaves no daphne."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _spawn(env: dict[str, str], log_path: Path, db_path: Path, client_key: str) -> GatewayProcess:
    port = free_port()
    cmd = [sys.executable, "-m", "proxy_project.edge_daphne", "-b", "127.0.0.1", "-p", str(port), "proxy_project.asgi:application"]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    return GatewayProcess(url=f"http://127.0.0.1:{port}", client_key=client_key, proc=proc, env=env,
                          log_path=log_path, db_path=db_path, port=port)


def _stop(gw: GatewayProcess) -> None:
    if gw.proc.poll() is not None:
        return
    gw.proc.send_signal(signal.SIGTERM)
    try:
        gw.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        gw.proc.kill()
        gw.proc.wait(timeout=10)


def _dump(gw: GatewayProcess, failed: bool, lines: int = 200) -> None:
    text = gw.log().splitlines()
    title = "gateway log (test failed)" if failed else "gateway log"
    print(f"\n----- {title}: pid {gw.pid}, {gw.url}, last {min(lines, len(text))} of {len(text)} lines -----")
    print("\n".join(text[-lines:]))
    print("----- end of gateway log -----")


@contextlib.contextmanager
def start_gateway(
    env: Mapping[str, str],
    tmp_path: Path,
    *,
    client_key: str = CLIENT_KEY,
    key_name: str = "e2e",
    timeout: float = 20.0,
    seed: bool = True,
) -> Iterator[GatewayProcess]:
    """Migrate, seed, create the client key and serve the gateway; yields a ``GatewayProcess``."""
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    db_path = tmp_path / "gw.sqlite3"
    log_path = tmp_path / "gateway.log"
    full_env = gateway_env(env, db_path)
    _manage(["migrate", "--noinput"], full_env)
    if seed:
        _manage(["seed"], full_env)
    if client_key:
        _manage(["create_client_key", key_name, "--key", client_key], full_env)

    gw = None
    for attempt in range(3):  # the free port can be taken between probing and binding
        gw = _spawn(full_env, log_path, db_path, client_key)
        try:
            _wait_healthy(gw, timeout)
            break
        except GatewayStartError:
            _stop(gw)
            if attempt == 2 or "Address already in use" not in gw.log():
                _dump(gw, failed=True)
                raise
    assert gw is not None
    failed = False
    try:
        yield gw
    except BaseException:
        failed = True
        raise
    finally:
        _stop(gw)
        _dump(gw, failed=failed)
