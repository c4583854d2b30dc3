"""A gateway in the background: ``serve -d``, ``stop``, ``status``, ``logs``.

Its pid and log are gateway.pid and gateway.log in the data directory (the same files
``claude`` writes when it starts one), so each command finds the gateway the others started.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import BinaryIO

from proxy_project.cli.common import PROG, database_ready, django_setup

EXIT_NOT_RUNNING = 3  # LSB `status`: "program is not running"


def wants_detach(rest: list[str]) -> bool:
    return "-d" in rest or "--detach" in rest


def _state() -> Path:
    django_setup()
    from proxy_project.management.commands.claude import state_dir

    return state_dir()


def _url(host: str | None, port: str | None) -> str:
    from proxy_project.management.commands.claude import gateway_url

    if host or port:
        return f"http://{host or '127.0.0.1'}:{port or os.environ.get('PORT', '8082')}"
    return gateway_url()


def serve_detached(rest: list[str]) -> int:
    """``serve -d [--host H] [--port N] [--start-timeout S] [serve's options]``: start, wait for
    /health, return."""
    parser = argparse.ArgumentParser(prog=f"{PROG} serve -d")
    parser.add_argument("-d", "--detach", action="store_true")
    parser.add_argument("--host")
    parser.add_argument("--port")
    parser.add_argument("--start-timeout", type=float, default=60.0)
    options, extra = parser.parse_known_args(rest)
    state = _state()
    from django.core.management.base import CommandError

    from proxy_project.management.commands.claude import gateway_start, healthy

    url = _url(options.host, options.port)
    if healthy(url):
        print(f"a gateway already answers at {url}")
        return 0
    try:
        pid = gateway_start(url=url, state=state, timeout=options.start_timeout, say=print, extra=extra)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"ready (pid {pid}); `{PROG} logs -f` follows its log, `{PROG} stop` stops it")
    return 0


def add_stop(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait before SIGKILL (30)")
    parser.epilog = "examples:\n  cgw stop\n  cgw stop --timeout 5"


def _running_pid(state: Path) -> int | None:
    """The recorded pid while that process is still our gateway (a reused pid is not)."""
    try:
        pid = int((state / "gateway.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        cmdline = b""  # no /proc (macOS): trust the file while the pid lives
    if cmdline and b"serve" not in cmdline:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").is_file() and " Z " in Path(f"/proc/{pid}/stat").read_text()


def stop(options: argparse.Namespace) -> int:
    """SIGTERM the gateway (it stops its Celery children), SIGKILL its session after --timeout."""
    state = _state()
    pid = _running_pid(state)
    if pid is None:
        (state / "gateway.pid").unlink(missing_ok=True)
        print("no background gateway is running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + options.timeout
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not _gone(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # started in its own session: pid is the group id
        print(f"the gateway (pid {pid}) did not stop within {options.timeout:g} s: killed")
    else:
        print(f"stopped the gateway (pid {pid})")
    (state / "gateway.pid").unlink(missing_ok=True)
    return 0


def add_status(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the gateway (default: GATEWAY_URL, or http://127.0.0.1:$PORT)")
    parser.add_argument("--details", action="store_true",
                        help="also providers, circuits, keys and recent requests (`manage.py status`)")
    parser.epilog = ("exit status 0 when a gateway answers, 3 when none does\n\nexamples:\n"
                     "  cgw status\n  cgw status --details\n  cgw status --url http://127.0.0.1:9000")


def status(options: argparse.Namespace) -> int:
    state = _state()
    from django.conf import settings
    from django.core.management import call_command

    from proxy_project.management.commands.claude import gateway_url, healthy

    url = gateway_url(options.url)
    answering = healthy(url)
    pid = _running_pid(state)
    print(f"gateway:        {url} {'answers' if answering else 'does not answer'}")
    print(f"background pid: {pid if pid else '-'}")
    print(f"data directory: {settings.GATEWAY_HOME}")
    print(f"log:            {state / 'gateway.log'}")
    if options.details:
        database_ready()
        call_command("status")
    return 0 if answering else EXIT_NOT_RUNNING


def add_logs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new lines (Ctrl-C stops)")
    parser.add_argument("-n", "--lines", type=int, default=50, metavar="N", help="how many last lines (50)")
    parser.epilog = "examples:\n  cgw logs\n  cgw logs -f\n  cgw logs -n 200"


def logs(options: argparse.Namespace) -> int:
    path = _state() / "gateway.log"
    if not path.is_file():
        print(f"no log yet at {path} (`{PROG} serve -d` or `{PROG} claude` starts a gateway that writes it)",
              file=sys.stderr)
        return 1
    # Ctrl-C is how a person stops following: not an error.
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError), path.open("rb") as log:
        lines = log.read().splitlines(keepends=True)
        sys.stdout.buffer.write(b"".join(lines[-options.lines:] if options.lines > 0 else []))
        sys.stdout.flush()
        if options.follow:
            _follow(log)
    return 0


def _follow(log: BinaryIO) -> None:
    """Print what is appended, until Ctrl-C (a person watching: polling twice a second is enough)."""
    while True:
        chunk = log.read()
        if chunk:
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
        else:
            time.sleep(0.5)
