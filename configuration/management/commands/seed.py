from __future__ import annotations

import os
from typing import Any

from django.core.management.base import CommandError, CommandParser

from audit.commands import AuditedCommand
from configuration.seeding import seed_from_env


class Command(AuditedCommand):
    help = (
        "Create the first providers and model tiers from environment variables (PREFERRED_PROVIDER, "
        "OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY, BIG_MODEL, MIDDLE_MODEL, SMALL_MODEL, "
        "REQUEST_TIMEOUT, MAX_TOKENS_LIMIT, CUSTOM_HEADER_*). Existing rows are kept unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="overwrite rows that already exist")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            notes = seed_from_env(env=os.environ, force=options["force"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for note in notes:
            self.stdout.write(note)
