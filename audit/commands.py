from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from audit.context import Actor, actor_current, actor_scope


class AuditedCommand(BaseCommand):
    """A management command whose writes are recorded as by "command NAME".

    A command run by another (``init`` calling ``import_config``) keeps the outer name: that is
    the one a person typed.
    """

    def execute(self, *args: Any, **options: Any) -> Any:
        current = actor_current()
        if current.kind == "command":
            return super().execute(*args, **options)
        name = type(self).__module__.rpartition(".")[2]
        with actor_scope(Actor("command", f"command {name}")):
            return super().execute(*args, **options)
