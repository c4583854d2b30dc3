from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser

from audit.commands import AuditedCommand
from clients.services import staff_token_create
from runtime.secrets_store import credentials_show


class Command(AuditedCommand):
    help = (
        "Issue a bearer token for the admin REST API (/api/admin/, schema at /api/openapi.json) "
        "for a staff user and show it once (only its hash is stored): on a terminal, else in a "
        "mode-0600 file under GATEWAY_HOME/credentials whose path is printed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", default="admin", help="the staff user's username (default: admin)")
        parser.add_argument("--name", default="cli", help="what the token is for")
        parser.add_argument("--print", action="store_true",
                            help="print the token even when standard output is not a terminal (TOKEN=$(...))")

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model()
        user = users.objects.filter(**{users.USERNAME_FIELD: options["user"]}).first()
        if user is None:
            raise CommandError(f"no user named {options['user']!r} (manage.py serve creates one, or createsuperuser)")
        try:
            _, plaintext = staff_token_create(user=user, name=options["name"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if options["print"]:
            self.stdout.write(plaintext)
        else:
            credentials_show(out=self.stdout, what="admin-token", lines=[plaintext])
