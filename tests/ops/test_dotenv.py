""".env is read by settings in every process (`make run` is `manage.py serve`), exported variables
win over it, and a provider without a credential is named at start."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.gateway import REPO_ROOT, gateway_env

pytestmark = pytest.mark.timeout(120)

ENV_FILE = """\
# a person's .env, as .env.example suggests
ADMIN_USER=teamlead
ADMIN_PASSWORD=not-a-real-password
PREFERRED_PROVIDER=openai
BIG_MODEL=qwen3-coder:30b
SMALL_MODEL=qwen3:4b
"""


def serve_prepare(tmp_path: Path, env_file: Path | None, **extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`manage.py serve --no-serve` (migrate, seed, staff user, client key) on a fresh database."""
    db = tmp_path / "db.sqlite3"
    env = gateway_env(extra, db)
    for name in ("ADMIN_USER", "ADMIN_PASSWORD", "HOST", "PORT"):
        if name not in extra:
            env.pop(name, None)
    if env_file is not None:
        env["GATEWAY_ENV_FILE"] = str(env_file)
    done = subprocess.run([sys.executable, "manage.py", "serve", "--no-serve"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=90)
    return done, db


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_dotenv_configures_serve_and_reports_the_missing_key(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(ENV_FILE)
    done, db = serve_prepare(tmp_path, env_file)
    assert done.returncode == 0, done.stderr
    assert rows(db, "select username from auth_user") == [("teamlead",)]
    models = dict(rows(db, "select t.name, e.model from routing_modeltier t join routing_tierentry e "
                           "on e.tier_id = t.id"))
    assert models == {"big": "qwen3-coder:30b", "middle": "qwen3-coder:30b", "small": "qwen3:4b"}
    # No OPENAI_API_KEY for the public API: one line at start, naming the variable.
    warnings = [line for line in done.stdout.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: provider 'openai' has no API key: enter its key in the admin "
                        "(Providers → openai), or set OPENAI_API_KEY and run `manage.py seed --force`"]


def test_exported_variable_beats_dotenv(tmp_path):
    env_file = tmp_path / "team.env"
    env_file.write_text(ENV_FILE + "OPENAI_API_KEY=sk-test-from-dotenv\n")
    done, db = serve_prepare(tmp_path, env_file, ADMIN_USER="exported", MIDDLE_MODEL="qwen3:14b")
    assert done.returncode == 0, done.stderr
    assert rows(db, "select username from auth_user") == [("exported",)]
    tiers = dict(rows(db, "select t.name, e.model from routing_modeltier t join routing_tierentry e "
                          "on e.tier_id = t.id"))
    assert tiers["middle"] == "qwen3:14b"
    assert "warning:" not in done.stdout  # the key came from the file


def test_dotenv_keeps_dollar_references_for_the_gateway(tmp_path):
    """python-dotenv's own ${VAR} interpolation is off: the gateway expands keys at run time."""
    env_file = tmp_path / ".env"
    env_file.write_text("ADMIN_USER=${NOT_SET_ANYWHERE}x\n")
    done, db = serve_prepare(tmp_path, env_file)
    assert done.returncode == 0, done.stderr
    assert rows(db, "select username from auth_user") == [("${NOT_SET_ANYWHERE}x",)]


def test_a_missing_gateway_env_file_fails_loudly(tmp_path):
    done, _ = serve_prepare(tmp_path, tmp_path / "nope.env")
    assert done.returncode != 0
    assert f"GATEWAY_ENV_FILE='{tmp_path / 'nope.env'}' is not a readable file" in done.stderr


def test_every_variable_read_is_in_env_example_and_the_readme():
    import re

    pattern = re.compile(r"""(?:os\.environ\.get\(|os\.environ\[|getenv\(|env_\w+\(|env\.get\()\s*f?["']([A-Z][A-Z0-9_]+)["']""")
    read: set[str] = set()
    for app in ("proxy_project", "providers", "routing", "dashboard", "audit", "sso"):
        for path in (REPO_ROOT / app).rglob("*.py"):
            read.update(pattern.findall(path.read_text()))
    assert len(read) > 50
    example = (REPO_ROOT / ".env.example").read_text()
    readme = (REPO_ROOT / "README.md").read_text()
    documented = {name for name in read if re.search(rf"\b{name}\b", example) and re.search(rf"\b{name}\b", readme)}
    assert sorted(read - documented) == []


def test_the_default_dotenv_is_the_one_next_to_manage_py(tmp_path):
    """Outside tests (no PYTEST_VERSION) settings read BASE_DIR/.env; a copy of the settings
    package in a scratch tree stands in for a checkout, so no real .env is touched."""
    import shutil

    tree = tmp_path / "checkout"
    (tree / "proxy_project").mkdir(parents=True)
    for name in ("__init__.py", "settings.py"):
        shutil.copy(REPO_ROOT / "proxy_project" / name, tree / "proxy_project" / name)
    shutil.copytree(REPO_ROOT / "runtime", tree / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
    (tree / ".env").write_text("ADMIN_USER=teamlead\nPORT=9999\n")
    env = {k: v for k, v in gateway_env({}, tmp_path / "db.sqlite3").items()
           if k not in ("PYTEST_VERSION", "GATEWAY_ENV_FILE", "ADMIN_USER", "PORT", "PYTHONPATH")}
    probe = "import os, proxy_project.settings; print(os.environ['ADMIN_USER'], os.environ['PORT'])"
    done = subprocess.run([sys.executable, "-c", probe], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["teamlead", "9999"]
    done = subprocess.run([sys.executable, "-c", probe], cwd=tree, env={**env, "PORT": "8123"},
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["teamlead", "8123"]  # exported wins
