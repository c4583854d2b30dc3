from __future__ import annotations

import os
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from providers.models import ClientKey, Provider
from providers.services.keys import client_key_create
from providers.services.seeding import seed_from_env


class Command(BaseCommand):
    help = (
        "Start the gateway in one step: migrate, seed providers and tiers from the environment when "
        "there are none, issue a first client key (printed once), then serve with daphne."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8082")))
        parser.add_argument("--no-serve", action="store_true", help="prepare the database, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        if not Provider.objects.exists():
            for note in seed_from_env(env=os.environ):
                self.stdout.write(f"seed: {note}")
        if not ClientKey.objects.exists():
            _, key = client_key_create(name="first key")
            self.stdout.write(self.style.SUCCESS(f"Client key (shown once, keep it): {key}"))
            self.stdout.write(
                f"Use it: ANTHROPIC_BASE_URL=http://{options['host']}:{options['port']} "
                f"ANTHROPIC_API_KEY={key} claude"
            )
        if options["no_serve"]:
            return
        from daphne.cli import CommandLineInterface

        self.stdout.write(f"Serving on http://{options['host']}:{options['port']}  (Ctrl-C stops)")
        CommandLineInterface().run(
            ["-b", options["host"], "-p", str(options["port"]), "proxy_project.asgi:application"]
        )
