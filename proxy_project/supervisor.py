"""A small supervisor for the one-command gateway: the Celery worker (beat in a thread of it) as a child.

``manage.py serve`` serves HTTP itself (daphne, in-process) and keeps the children here:

- each child runs in its own process group, so Ctrl-C in the terminal reaches only ``serve``,
  which then sends each child SIGTERM (Celery's warm shutdown, which stops its own pool) and,
  after a grace period, kills what is left of each group (pool processes included);
- on Linux a child also gets SIGTERM if ``serve`` dies without cleaning up (PR_SET_PDEATHSIG);
- a child that exits on its own is restarted with a growing delay, at most ``max_restarts`` times.

Only the thread that starts the children may stop them (PDEATHSIG follows the forking thread):
``serve`` does both from the reactor's main thread.

With WEB_PROCESSES > 1 ``serve`` binds one listening socket per web process on the same port
(SO_REUSEPORT, with the configured backlog); its own daphne adopts the first and a ``daphne --fd``
child each of the others, so the kernel spreads connections evenly by address hash. (One shared
socket instead let whichever process woke first take a whole burst: 30 of 30 connections in one
of three processes, as Twisted accepts up to 100 at a time. And serve, which has Django loaded
anyway, serves rather than idling as a 115 MiB supervisor.) ``serve`` keeps the children's
sockets, so a restarted child adopts the same one and its connections queue meanwhile.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _libc is not None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


# ``celery -A`` with this: the gateway's Celery app whose worker runs beat in a thread (below).
BEAT_THREAD_APP = "proxy_project.supervisor:celery_app_beat_thread"


def celery_argv(role: str, *, loglevel: str = "WARNING", concurrency: int = 2, pool: str = "prefork",
                with_beat: bool = False) -> list[str]:
    """The command compose also runs (``celery -A proxy_project worker|beat``), in this venv.

    ``with_beat`` embeds beat in the worker, as a thread (``-A`` BEAT_THREAD_APP): right for the one
    worker of a laptop gateway, never for several workers (each would schedule every task)."""
    app = BEAT_THREAD_APP if role == "worker" and with_beat else "proxy_project"
    argv = [sys.executable, "-m", "celery", "-A", app, role, "--loglevel", loglevel]
    if role == "worker":
        argv += ["--pool", pool, "--concurrency", str(concurrency), "--without-gossip", "--without-mingle",
                 "-n", "gateway@%h"]
    return argv


_beat_thread_app: Any = None

if not TYPE_CHECKING:  # (hidden from mypy, which would otherwise accept any name of this module)

    def __getattr__(name: str) -> Any:
        """``celery_app_beat_thread``, built on first access (``celery -A`` looks it up as an
        attribute), so that serve, which imports this module, never imports Celery."""
        global _beat_thread_app
        if name != "celery_app_beat_thread":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        if _beat_thread_app is None:
            _beat_thread_app = _celery_app_with_beat_thread()
        return _beat_thread_app


def _celery_app_with_beat_thread() -> Any:
    """The gateway's Celery app plus a worker bootstep that runs beat as a thread of the worker.

    Celery's ``-B`` forks beat into a process of its own: a copy of the worker that cost about
    70 MiB PSS (36 MiB of it private) in ``manage.py serve``'s tree. Celery's threaded embedding
    (``EmbeddedService(thread=True)``) runs the same scheduler, with the same database schedule and
    ``beat_init`` signal, in the worker; it wakes at least once a second (Celery's choice for threads,
    so that it stops promptly) instead of every 5 s."""
    from celery import bootsteps
    from celery.beat import EmbeddedService

    from proxy_project.celery import app

    class BeatThread(bootsteps.StartStopStep):
        label = "Beat (thread)"

        def create(self, w: Any) -> Any:
            return EmbeddedService(w.app, thread=True, schedule_filename=w.schedule_filename,
                                   scheduler_cls=w.scheduler)

    app.steps["worker"].add(BeatThread)
    return app


def daphne_endpoint(host: str, port: int, *, backlog: int) -> str:
    """A Twisted endpoint string for daphne's ``-e``: unlike ``-b/-p`` (backlog 50, so a burst of
    connections is reset by the kernel) it sets the listen backlog. Colons in IPv6 hosts are escaped."""
    kind = "tcp6" if ":" in host else "tcp"
    interface = host.replace(":", "\\:")
    return f"{kind}:port={port}:interface={interface}:backlog={backlog}"


def listen_sockets(host: str, port: int, *, backlog: int, count: int) -> list[socket.socket]:
    """``count`` listening sockets on one address (IPv6 when ``host`` has a colon), one per web
    process, bound with SO_REUSEPORT: Linux spreads the connections across them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    first = socket.create_server((host, port), family=family, backlog=backlog, reuse_port=True)
    port = first.getsockname()[1]  # port 0: the others join the one the kernel chose
    rest = [socket.create_server((host, port), family=family, backlog=backlog, reuse_port=True)
            for _ in range(count - 1)]
    return [first, *rest]


def daphne_argv(fd: int, *, access_log: bool = False) -> list[str]:
    """A daphne that adopts the listening socket ``fd`` (inherited through ``pass_fds``)."""
    argv = [sys.executable, "-m", "proxy_project.edge_daphne", "--fd", str(fd)]
    if not access_log:
        argv += ["-v", "0"]
    return [*argv, "proxy_project.asgi:application"]


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    pass_fds: tuple[int, ...] = ()
    essential: bool = False  # when it gives up restarting, serve stops (its service manager restarts it)


@dataclass
class Supervisor:
    cwd: str
    env: Mapping[str, str]
    say: Callable[[str], None] = print
    grace: float = 10.0
    max_restarts: int = 5
    children: list[Child] = field(default_factory=list)
    stopping: bool = False

    def add(self, name: str, argv: Sequence[str], *, pass_fds: tuple[int, ...] = (), essential: bool = False) -> None:
        self.children.append(Child(name, list(argv), pass_fds=pass_fds, essential=essential))

    def start_all(self) -> None:
        for child in self.children:
            self._start(child)

    def _start(self, child: Child) -> None:
        child.proc = subprocess.Popen(  # noqa: S603 - argv built by celery_argv
            child.argv, cwd=self.cwd, env=dict(self.env), stdin=subprocess.DEVNULL,
            process_group=0, preexec_fn=_die_with_parent, pass_fds=child.pass_fds,
        )
        self.say(f"started {child.name} (pid {child.proc.pid})")

    def check(self) -> None:
        """Restart children that exited on their own (call periodically)."""
        now = time.monotonic()
        for child in self.children:
            if self.stopping or child.proc is None or child.proc.poll() is None:
                continue
            if child.restarts >= self.max_restarts:
                if child.next_start >= 0:
                    self.say(f"{child.name} exited with {child.proc.returncode}; not restarting it again")
                    child.next_start = -1
                continue
            if child.next_start == 0:
                child.next_start = now + min(30.0, 2.0**child.restarts)
                self.say(f"{child.name} exited with {child.proc.returncode}; restarting")
            elif now >= child.next_start:
                child.restarts += 1
                child.next_start = 0
                self._start(child)

    def stop_all(self) -> None:
        """SIGTERM every child's group, wait up to ``grace`` seconds, then SIGKILL the rest."""
        self.stopping = True
        running = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)  # the child's own shutdown stops its pool processes
        deadline = time.monotonic() + self.grace
        for proc in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for proc in running:
            # Stragglers and orphaned pool processes: the group lives while any member does, so
            # its id cannot have been reused.
            _signal_group(proc, signal.SIGKILL)
            proc.wait()


    def gave_up(self) -> bool:
        """Whether an essential child exited too often to be restarted again."""
        return any(c.essential and c.next_start < 0 for c in self.children)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
