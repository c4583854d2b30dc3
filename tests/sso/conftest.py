"""A real OpenID Connect provider (node-oidc-provider, from npm into .cache/) on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import REPO_ROOT

MODULE = REPO_ROOT / ".cache" / "oidc-provider" / "node_modules" / "oidc-provider" / "lib" / "index.js"
SCRIPT = REPO_ROOT / "tests" / "oidc_provider" / "provider.mjs"
INSTALL_HINT = "make oidc-deps (npm install --prefix .cache/oidc-provider oidc-provider@9)"


@dataclass
class OpenIDProvider:
    issuer: str
    client_id: str
    client_secret: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="session")
def oidc_module() -> Path:
    missing = None
    if shutil.which("node") is None:
        missing = "node is not installed"
    elif not MODULE.exists():
        missing = f"oidc-provider is not installed ({INSTALL_HINT})"
    if missing:
        if os.environ.get("REQUIRE_E2E") == "1":
            pytest.fail(f"REQUIRE_E2E=1 but {missing}", pytrace=False)
        pytest.skip(missing)
    return MODULE


def _wait_ready(op: OpenIDProvider, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if op.proc.poll() is not None:
                raise RuntimeError(f"the OpenID provider exited with {op.proc.returncode}:\n{op.log()}")
            try:
                if client.get(f"{op.issuer}/.well-known/openid-configuration").status_code == 200:
                    return
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.1)
    raise RuntimeError(f"the OpenID provider did not answer within {timeout:.0f} s ({last}):\n{op.log()}")


@contextlib.contextmanager
def start_provider(module: Path, *, port: int, redirect_uri: str, accounts: dict[str, list[str]],
                   log_path: Path) -> Iterator[OpenIDProvider]:
    """node tests/oidc_provider/provider.mjs on 127.0.0.1:port with one client and these accounts."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OIDC_PROVIDER_MODULE": str(module),
        "OIDC_PORT": str(port), "OIDC_CLIENT_ID": "gateway-test", "OIDC_CLIENT_SECRET": "test-only-client-secret",
        "OIDC_REDIRECT_URI": redirect_uri, "OIDC_ACCOUNTS": json.dumps(accounts),
    }
    with log_path.open("ab") as log:
        proc = subprocess.Popen(["node", str(SCRIPT)], env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    op = OpenIDProvider(f"http://127.0.0.1:{port}", "gateway-test", "test-only-client-secret", proc, log_path)
    try:
        _wait_ready(op)
        yield op
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
