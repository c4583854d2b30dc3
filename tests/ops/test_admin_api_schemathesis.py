"""The admin API against its own OpenAPI schema, fuzzed by schemathesis on a live daphne gateway:
no request, valid or not, may end in a server error."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import start_gateway
from tests.support.gateway import credential

pytestmark = pytest.mark.timeout(600)


def _schemathesis() -> list[str]:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which("schemathesis")
    if found is None:
        pytest.fail("schemathesis is not installed (dev dependency)", pytrace=False)
    return [found]


def test_admin_api_has_no_server_errors_under_schemathesis(tmp_path):
    with start_gateway({}, tmp_path, key_name="schemathesis") as gw:
        env = {**gw.env, "DJANGO_SUPERUSER_PASSWORD": "pw-schemathesis"}
        subprocess.run([sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "ops",
                        "--email", "ops@example.com"], cwd=Path(__file__).resolve().parents[2], env=env,
                       check=True, capture_output=True, timeout=60)
        token = credential(gw.manage("create_admin_token", "--user", "ops").stdout, "sk-gwadm-")  # from its 0600 file
        report = tmp_path / "schemathesis.txt"
        done = subprocess.run(
            [*_schemathesis(), "run", f"{gw.url}/api/openapi.json",
             "--include-path-regex", "^/api/admin/",
             "--checks", "not_a_server_error",
             "--header", f"Authorization: Bearer {token}",
             "--max-examples", os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "30"),
             "--phases", "examples,coverage,fuzzing,stateful",
             "--seed", "20261123", "--workers", "1", "--request-timeout", "20", "--no-color"],
            env={**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"},
            cwd=tmp_path, capture_output=True, text=True, timeout=540,  # its example database goes there
        )
        report.write_text(done.stdout + done.stderr)
        assert done.returncode == 0, f"schemathesis found problems:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
        assert "/api/admin/providers" in done.stdout
        assert " 500 " not in gw.log()
