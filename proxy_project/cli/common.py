"""What every subcommand shares: starting Django, handing over to a management command."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.core.management.base import BaseCommand

PROG = "claude-gateway"


def django_setup() -> None:
    """Settings and apps, once; settings errors (a bad variable) surface here."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proxy_project.settings")
    django.setup()


def _command(name: str) -> BaseCommand:
    from django.core.management import get_commands, load_command_class

    return load_command_class(get_commands()[name], name)


# Commands that read or write rows: a fresh data directory gets its tables first (as `serve` does).
NEEDS_TABLES = {"init", "create_client_key", "import_config", "export_config", "claude", "status"}


def database_ready() -> None:
    """Apply pending migrations, quietly (a no-op after the first run: one plan computation)."""
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        call_command("migrate", interactive=False, verbosity=0)


def delegate(command: str, shown_as: str, rest: list[str]) -> int:
    """Run management command ``command`` with ``rest`` as its command line; usage and errors
    name it ``shown_as`` (``claude-gateway import``). CommandError exits with its status."""
    django_setup()
    if command in NEEDS_TABLES and not {"-h", "--help"} & set(rest):
        database_ready()
    prog, _, sub = shown_as.partition(" ")
    _command(command).run_from_argv([prog, sub, *rest])
    return 0


def command_help(command: str, shown_as: str, line: str, examples: str) -> str:
    prog, _, sub = shown_as.partition(" ")
    parser = _command(command).create_parser(prog, sub)
    return f"{line}\n\n{parser.format_help()}\nexamples:\n{examples}\n"
