"""``doctor``: check what the gateway needs, in order, and say what to fix.

Read-only: providers are probed with the health check's own probe (``health_probe``) but nothing
is recorded, no circuit moves. Exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from proxy_project.cli.common import PROG, django_setup


@dataclass(frozen=True)
class Finding:
    ok: bool | None  # None: worth knowing, not a problem
    what: str
    detail: str
    fix: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, help="seconds for each provider probe (HEALTH_CHECK_TIMEOUT, 10)")
    parser.epilog = ("exit status 0 when everything needed works, 1 otherwise\n\nexamples:\n"
                     "  cgw doctor\n  cgw doctor --timeout 3\n  GATEWAY_HOME=/srv/gateway cgw doctor")


def run(options: argparse.Namespace) -> int:
    failed = False
    for finding in findings(timeout=options.timeout):
        mark = {True: "ok  ", False: "FAIL", None: "note"}[finding.ok]
        print(f"{mark}  {finding.what}: {finding.detail}")
        if finding.fix:
            print(f"      fix: {finding.fix}")
        failed = failed or finding.ok is False
    print(f"\n{'problems found' if failed else 'no problems found'}")
    return 1 if failed else 0


def findings(*, timeout: float | None) -> Iterator[Finding]:
    try:
        django_setup()
    except Exception as exc:  # ImproperlyConfigured and friends: nothing else can run
        yield Finding(False, "configuration", str(exc),
                      "correct that variable in the environment or in GATEWAY_HOME/.env (GATEWAY_ENV_FILE)")
        return
    yield Finding(True, "configuration", "settings load")
    steps: list[Callable[[], Iterator[Finding]]] = [_data_dir, _system_checks, _database]
    for step in steps:
        found = list(step())
        yield from found
        if step is _database and any(f.ok is False for f in found):
            return  # everything below reads the database
    yield from _credentials()
    yield from _redis()
    yield from _providers(timeout)


def _data_dir() -> Iterator[Finding]:
    from django.conf import settings

    home = settings.GATEWAY_HOME
    if home.is_dir() and os.access(home, os.W_OK):
        yield Finding(True, "data directory", str(home))
    else:
        yield Finding(False, "data directory", f"{home} is missing or not writable",
                      f"create it (mkdir -p {home}) or point GATEWAY_HOME at a writable folder")


def _system_checks() -> Iterator[Finding]:
    from django.core import checks

    errors = [m for m in checks.run_checks() if m.level >= checks.ERROR]
    for message in errors:
        yield Finding(False, f"check {message.id}", str(message.msg), message.hint or "")
    if not errors:
        yield Finding(True, "system checks", "passed")


def _database() -> Iterator[Finding]:
    from django.db import DatabaseError, connection
    from django.db.migrations.executor import MigrationExecutor

    where = f"{connection.vendor} {connection.settings_dict.get('NAME')}"
    try:
        connection.ensure_connection()
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        yield Finding(False, "database", f"{where}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}",
                      "start the database or correct DATABASE_URL")
        return
    if pending:
        yield Finding(False, "database", f"{where}: {len(pending)} migrations not applied",
                      f"`{PROG} init` (or `{PROG} serve`, which migrates first)")
    else:
        yield Finding(True, "database", f"{where}, migrated")


def _credentials() -> Iterator[Finding]:
    from django.conf import settings

    from clients.models import ClientKey
    from proxy_project.encryption import secrets_unreadable

    unreadable = secrets_unreadable()
    if unreadable:
        yield Finding(False, "stored secrets", f"{len(unreadable)} cannot be decrypted with the configured keys",
                      "restore GATEWAY_HOME/field_encryption_keys or FIELD_ENCRYPTION_KEYS, or "
                      "`manage.py rotate_encryption_key --forget-unreadable` and enter them again")
    else:
        yield Finding(True, "stored secrets", "all decrypt")
    if settings.GATEWAY_OPEN_ACCESS:
        yield Finding(None, "client keys", "GATEWAY_OPEN_ACCESS is on: anyone who reaches the port may use it")
    elif not ClientKey.objects.enabled().exists():
        yield Finding(False, "client keys", "none enabled: every request is refused",
                      f"`{PROG} keys create NAME` (or `{PROG} claude`, which makes its own)")
    else:
        yield Finding(True, "client keys", f"{ClientKey.objects.enabled().count()} enabled")


def _redis() -> Iterator[Finding]:
    from django.conf import settings

    if not settings.REDIS_URL:
        yield Finding(None, "redis", "REDIS_URL not set: in-process channel layer and cache, folder broker "
                                     "(fine for one machine)")
        return
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        yield Finding(False, "redis", f"{_without_password(settings.REDIS_URL)}: {exc}",
                      "start Redis, or correct or unset REDIS_URL")
    else:
        yield Finding(True, "redis", f"{_without_password(settings.REDIS_URL)} answers")
    finally:
        client.close()


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if not parts.password:
        return url
    host = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname or ""
    return parts._replace(netloc=f"***@{host}").geturl()


def _providers(timeout: float | None) -> Iterator[Finding]:
    """Each enabled provider's models endpoint, probed as the periodic health check does."""
    from django.conf import settings

    from providers.models import Provider
    from providers.probes import health_probe
    from providers.selectors import provider_config

    enabled = list(Provider.objects.select_related("oauth_token").filter(enabled=True).order_by("priority", "name"))
    if not enabled:
        yield Finding(False, "providers", "none enabled: requests have nowhere to go",
                      f"set OPENAI_API_KEY or ANTHROPIC_API_KEY (and BIG_MODEL, SMALL_MODEL), then `{PROG} init`; "
                      f"or `{PROG} import FILE`")
        return
    for provider in enabled:
        try:
            result = health_probe(provider_config(provider), timeout=timeout or settings.HEALTH_CHECK_TIMEOUT)
        except Exception as exc:  # an unreadable secret, a broken row: report it, check the others
            yield Finding(False, f"provider {provider.name}", f"cannot be checked: {exc}", "fix it in the admin")
            continue
        where = f"{provider.kind} at {provider.base_url}"
        if result.ok is None:
            yield Finding(None, f"provider {provider.name}", f"{where}: {result.error}")
        elif result.ok:
            yield Finding(True, f"provider {provider.name}", f"{where}: HTTP {result.status} in {result.latency_ms:.0f} ms")
        else:
            yield Finding(False, f"provider {provider.name}", f"{where}: {result.error}", _provider_fix(result.status))


def _provider_fix(status: int) -> str:
    from providers.probes import CONNECT_STATUS, TIMEOUT_STATUS

    if status in (CONNECT_STATUS, TIMEOUT_STATUS):
        return "is the provider running and its base URL right? (the admin, or the *_BASE_URL variable)"
    if status in (401, 403):
        return "the provider refused its credential: enter a valid API key in the admin (or the *_API_KEY variable)"
    if status == 404:
        return "the base URL does not serve /models: check it (many need /v1 at the end)"
    return "the provider answers with an error: try again later, or check its status page"
