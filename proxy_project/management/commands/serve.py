from __future__ import annotations

import os
import signal
import socket
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from proxy_project.bootstrap import Prepared, gateway_prepare
from proxy_project.daphne_tuning import event_loop_choice
from proxy_project.encryption import SecretsUnreadable
from proxy_project.supervisor import Supervisor, celery_argv, daphne_argv, daphne_endpoint, listen_sockets
from runtime.secrets_store import credentials_show

# What N processes without Redis do not share (everything else lives in the database).
PER_PROCESS_NOTE = (
    "{n} web processes without REDIS_URL: each process counts client-key limits on its own (a key "
    "may get up to {n} times its requests per minute/day), keeps its own cache, and the live dashboard "
    "shows only the requests of the process its websocket reached (a reload shows all). Circuits, "
    "routes, keys and logs are shared through the database. Set REDIS_URL to share the rest, or "
    "WEB_PROCESSES=1."
)
SQLITE_NOTE = "{n} web processes on SQLite: writes take turns on one file; PostgreSQL (DATABASE_URL) scales further."

UNREADABLE_HINT = (
    "Restore the data directory (GATEWAY_HOME, its field_encryption_keys file) or set FIELD_ENCRYPTION_KEYS "
    "to the keys these were written with; or run `manage.py rotate_encryption_key --forget-unreadable` "
    "to clear them and enter them again in the admin."
)


class Command(BaseCommand):
    help = (
        "Start the gateway in one step: migrate, seed providers and tiers from the environment when "
        "there are none, create a staff user (ADMIN_USER/ADMIN_PASSWORD, or a generated password) "
        "and a first client key when there are none (both shown once: on a terminal, else in a mode-0600 "
        "file under GATEWAY_HOME/credentials), then serve the API and the "
        "dashboard with daphne (WEB_PROCESSES processes on one port, default one per CPU) and run a "
        "Celery worker, with beat in one of its threads, as a child process. Ctrl-C or SIGTERM stops them all."
    )
    requires_system_checks: list[str] = []  # start fast; `manage.py check` runs them on demand

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8082")))
        parser.add_argument("--no-serve", action="store_true", help="prepare the database, then exit")
        parser.add_argument("--no-worker", action="store_true", help="run neither the Celery worker nor beat")
        parser.add_argument("--no-beat", action="store_true", help="run the worker but not beat")
        parser.add_argument("--backlog", type=int, default=None,
                            help="listen backlog (default: LISTEN_BACKLOG, 4096); bursts beyond it are reset")
        parser.add_argument("--processes", type=int, default=None,
                            help="web processes sharing the port (default: WEB_PROCESSES, the CPU count; 1: in-process)")
        parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery worker threads (or processes)")
        parser.add_argument("--worker-pool", default="threads", choices=["threads", "prefork", "solo"],
                            help="Celery pool of the embedded worker (default threads: one process; the "
                                 "gateway's tasks wait on the network and the database, not the CPU)")
        parser.add_argument("--access-log", action="store_true", help="print one line per HTTP request")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            event_loop_choice(os.environ)  # a misspelt EVENT_LOOP stops here, before anything is prepared
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if not options["no_serve"] and settings.GATEWAY_SYSTEM_MALLOC and "PYTHONMALLOC" not in os.environ:
            # Python's small-object allocator keeps a burst's memory (its 1 MiB arenas stay pinned
            # by a few live objects: +75 MiB idle after 1,000 streams); with glibc's malloc the
            # gateway's trim returns it (+5 MiB). Read at interpreter start, hence the re-exec
            # (same pid, same arguments) before anything else happens.
            os.execve(sys.executable, sys.orig_argv, {**os.environ, "PYTHONMALLOC": "malloc"})
        try:
            prepared = gateway_prepare(env=os.environ)
        except SecretsUnreadable as exc:
            raise CommandError(f"{exc}\n{UNREADABLE_HINT}") from None
        for note in prepared.notes:
            self.stdout.write(note)
        self._show_credentials(prepared, f"http://{options['host']}:{options['port']}")
        if options["no_serve"]:
            return
        self._serve(options)

    def _show_credentials(self, prepared: Prepared, base: str) -> None:
        """The first start's generated password and client key, once (never into a log)."""
        secret_lines = []
        if prepared.staff_password:
            secret_lines.append(f"Staff user {prepared.staff_user!r}, password (shown once): {prepared.staff_password}")
        if prepared.client_key:
            secret_lines.append(f"Client key (shown once, keep it): {prepared.client_key}")
        if not secret_lines:
            return
        written = credentials_show(out=self.stdout, what="first-start", lines=secret_lines)
        if prepared.staff_password:
            self.stdout.write(f"Dashboard: {base}/dashboard/   Admin: {base}/admin/")
        if prepared.client_key:
            key = prepared.client_key if written is None else f"<the client key in {written}>"
            self.stdout.write(f"Use it: ANTHROPIC_BASE_URL={base} ANTHROPIC_API_KEY={key} claude")

    def _serve(self, options: dict[str, Any]) -> None:
        """daphne in this process, plus WEB_PROCESSES - 1 daphne children on the same port and the
        Celery children, which all start once the reactor runs."""
        supervisor = Supervisor(cwd=str(settings.BASE_DIR), env=os.environ, say=self.stdout.write)
        processes = options["processes"] or settings.WEB_PROCESSES
        if processes > 1 and not sys.platform.startswith("linux"):
            self.stdout.write(f"WEB_PROCESSES={processes} needs Linux (SO_REUSEPORT balancing); serving with one")
            processes = 1
        backlog = options["backlog"] or settings.LISTEN_BACKLOG
        kept: list[socket.socket] = []
        if processes > 1:
            kept = listen_sockets(options["host"], options["port"], backlog=backlog, count=processes)
            for number, sock in enumerate(kept[1:], start=2):
                supervisor.add(f"web {number}", daphne_argv(sock.fileno(), access_log=options["access_log"]),
                               pass_fds=(sock.fileno(),), essential=True)
            # daphne here adopts the first socket and closes that descriptor itself: detach it.
            here = ["--fd", str(kept.pop(0).detach())]
            self._per_process_notes(processes)
        else:
            here = ["-e", daphne_endpoint(options["host"], options["port"], backlog=backlog)]
        self._add_celery(supervisor, options)
        try:
            self._serve_here(supervisor, options, here, processes)
        finally:
            for sock in kept:  # kept for restarts until now
                sock.close()

    def _add_celery(self, supervisor: Supervisor, options: dict[str, Any]) -> None:
        if not options["no_worker"]:
            # One process for the worker and beat (a thread of the worker: celery_argv): a laptop
            # gateway needs no more (compose runs them as separate services). bench/run.py's make-run
            # cell: 219 MiB PSS for serve + worker, 254 with -B's forked beat, ~600 as five processes.
            supervisor.add("celery worker", celery_argv(
                "worker", concurrency=options["worker_concurrency"], pool=options["worker_pool"],
                with_beat=not options["no_beat"]))

    def _per_process_notes(self, processes: int) -> None:
        if not settings.REDIS_URL:
            self.stdout.write(PER_PROCESS_NOTE.format(n=processes))
        if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
            self.stdout.write(SQLITE_NOTE.format(n=processes))

    def _serve_here(self, supervisor: Supervisor, options: dict[str, Any], bind: list[str], processes: int) -> None:
        from proxy_project.daphne_tuning import edge_command_line

        command_line = edge_command_line()  # installs the reactor on EVENT_LOOP's loop and imports daphne: first
        from twisted.internet import reactor, task

        failed: list[str] = []

        def tick() -> None:
            supervisor.check()
            if supervisor.gave_up() and not failed:  # fewer web processes than asked for: stop
                failed.append("a web process kept exiting; stopped (see its output above)")
                reactor.stop()  # type: ignore[attr-defined, misc]

        checker = task.LoopingCall(tick)
        if supervisor.children:
            # A second's head start: the first requests do not wait behind the children's imports.
            reactor.callLater(1.0, supervisor.start_all)  # type: ignore[attr-defined, arg-type]
            reactor.callLater(3.0, checker.start, 2.0, False)  # type: ignore[attr-defined, arg-type]
        # An ignored SIGINT is inherited (`make run &` in a script, nohup), and Twisted takes SIGINT over
        # only from Python's default handler: restore it, so Ctrl-C always stops serve.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        argv = [*bind, *([] if options["access_log"] else ["-v", "0"])]
        many = f" with {processes} web processes" if processes > 1 else ""
        self.stdout.write(f"Serving on http://{options['host']}:{options['port']}{many}  (Ctrl-C stops)")
        self.stdout.flush()
        try:
            command_line().run([*argv, "proxy_project.asgi:application"])
        finally:
            supervisor.stop_all()
        if failed:
            raise CommandError(failed[0])
