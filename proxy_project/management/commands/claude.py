from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clients.models import ClientKey
from clients.services import client_key_create, client_key_name_free

# Our options and whether each takes a value; the first other argument starts claude's.
OWN_OPTIONS = {"--url": True, "--claude-bin": True, "--start-timeout": True, "--no-start": False,
               "--settings": True, "--pythonpath": True, "--verbosity": True, "-v": True, "--traceback": False,
               "--no-color": False, "--force-color": False, "--skip-checks": False, "-h": False, "--help": False}
KEY_NAME = "claude-launcher"


def split_argv(args: list[str]) -> tuple[list[str], list[str]]:
    """Our options, then everything for claude (after ``--`` or the first argument not ours)."""
    ours: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return ours, args[i + 1:]
        name = arg.split("=", 1)[0]
        if name not in OWN_OPTIONS:
            break
        takes_value = OWN_OPTIONS[name] and "=" not in arg
        ours.extend(args[i:i + 1 + takes_value])
        i += 1 + takes_value
    return ours, args[i:]


def healthy(url: str) -> bool:
    try:
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            return client.get(f"{url}/health").status_code == 200
    except httpx.HTTPError:
        return False


class Command(BaseCommand):
    help = (
        "Run the Claude Code CLI through the gateway: start the gateway (manage.py serve, in the "
        "background, logging to GATEWAY_HOME/gateway.log) if GET <url>/health does not answer, then run "
        "`claude` with ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY set, passing every other argument "
        "through (`manage.py claude -p 'hi' --model sonnet`; put -- before arguments that look like "
        "ours). The key is GATEWAY_CLIENT_KEY, or a key named claude-launcher kept in "
        "GATEWAY_HOME/claude-launcher.key (mode 0600). claude is --claude-bin, CLAUDE_BIN, the one on PATH, "
        "or .cache/claude-code/node_modules/.bin/claude."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", help="the gateway (default: GATEWAY_URL, or http://127.0.0.1:$PORT, port 8082)")
        parser.add_argument("--claude-bin", help="the claude executable to run")
        parser.add_argument("--start-timeout", type=float, default=60.0, help="seconds to wait for a started gateway")
        parser.add_argument("--no-start", action="store_true", help="fail instead of starting the gateway")
        parser.add_argument("claude_args", nargs="*", help="arguments for claude")

    def run_from_argv(self, argv: list[str]) -> None:
        ours, rest = split_argv(argv[2:])
        super().run_from_argv([*argv[:2], *ours, "--", *rest])

    def handle(self, *args: Any, **options: Any) -> None:
        url = gateway_url(options["url"])
        state = state_dir()
        if not healthy(url):
            if options["no_start"]:
                raise CommandError(f"no gateway answers at {url}/health")
            gateway_start(url=url, state=state, timeout=options["start_timeout"], say=self.stderr.write)
        key = os.environ.get("GATEWAY_CLIENT_KEY") or launcher_key(state / f"{KEY_NAME}.key")
        binary = find_claude(options["claude_bin"])
        env = {**os.environ, "ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": key}
        env.pop("ANTHROPIC_AUTH_TOKEN", None)  # Claude Code warns when both credentials are set
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(binary, [binary, *options["claude_args"]], env)


def gateway_url(explicit: str | None = None) -> str:
    return (explicit or os.environ.get("GATEWAY_URL")
            or f"http://127.0.0.1:{os.environ.get('PORT', '8082')}").rstrip("/")


def state_dir() -> Path:
    """Where the launcher key and a background gateway's pid and log live: the data directory."""
    state = Path(os.environ.get("GATEWAY_STATE_DIR") or settings.GATEWAY_HOME)
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    return state


def serve_argv(host: str, port: int, extra: Sequence[str] = ()) -> list[str]:
    """``serve`` through the installed package's entry module: works from a checkout and a wheel."""
    return [sys.executable, "-m", "proxy_project.cli", "serve", "--host", host, "--port", str(port), *extra]


def gateway_start(*, url: str, state: Path, timeout: float, say: Callable[[str], Any],
                  extra: Sequence[str] = ()) -> int:
    """``serve`` in its own session, so it outlives this process; pid in gateway.pid, output
    appended to gateway.log (mode 0600: a first start prints secrets). Returns the pid once
    ``url``/health answers."""
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1") or parts.port is None:
        raise CommandError(f"no gateway answers at {url}/health, and only a local one with a port can be started")
    log_path = state / "gateway.log"
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    proc = subprocess.Popen(
        serve_argv(parts.hostname, parts.port, extra),
        cwd=settings.BASE_DIR, stdin=subprocess.DEVNULL, stdout=log_fd, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    os.close(log_fd)
    (state / "gateway.pid").write_text(f"{proc.pid}\n")
    say(f"started the gateway at {url} (pid {proc.pid}, log {log_path})")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if healthy(url):
            return proc.pid
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise CommandError(f"the gateway exited with {proc.returncode}:\n{tail}")
        time.sleep(0.2)
    raise CommandError(f"the gateway did not answer {url}/health within {timeout:.0f} s (log: {log_path})")


def launcher_key(path: Path) -> str:
    """The stored launcher key while the gateway still accepts it, else a new one (file mode 0600).
    Queries: one ClientKey by hash; on a new key, one INSERT."""
    if path.exists():
        key = path.read_text().strip()
        if key and ClientKey.objects.enabled().filter(key_hash=ClientKey.hash_key(key)).exists():
            return key
    _, key = client_key_create(name=client_key_name_free(base=KEY_NAME))  # names are unique
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    path.chmod(0o600)
    return key


def find_claude(explicit: str | None) -> str:
    local = settings.BASE_DIR / ".cache" / "claude-code" / "node_modules" / ".bin" / "claude"
    for candidate in (explicit, os.environ.get("CLAUDE_BIN"), shutil.which("claude"), str(local)):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
        if candidate and candidate == explicit:
            raise CommandError(f"--claude-bin {explicit} is not an executable file")
    raise CommandError("claude is not installed: npm install -g @anthropic-ai/claude-code, or `make e2e-deps`")
