from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers.services.keys import client_key_create


class Command(BaseCommand):
    help = "Issue a client key for the gateway and print it once (only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="who or what the key is for")
        parser.add_argument("--key", help="use this key instead of a random one (tests, migrations)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            _, plaintext = client_key_create(name=options["name"], key=options.get("key"))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(plaintext)
