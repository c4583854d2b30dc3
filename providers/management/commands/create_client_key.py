from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from providers.services.bootstrap import credentials_show
from providers.services.keys import client_key_create


class Command(BaseCommand):
    help = (
        "Issue a client key for the gateway and show it once (only its hash is stored): on a terminal, "
        "else in a mode-0600 file under GATEWAY_HOME/credentials whose path is printed. Optional "
        "budgets answer 429 rate_limit_error once used up: --requests-per-minute, --requests-per-day, "
        "--tokens-per-day (input plus output tokens, per UTC day)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="who or what the key is for")
        parser.add_argument("--key", help="use this key instead of a random one (tests, migrations)")
        parser.add_argument("--requests-per-minute", type=int, metavar="N")
        parser.add_argument("--requests-per-day", type=int, metavar="N")
        parser.add_argument("--tokens-per-day", type=int, metavar="N")
        parser.add_argument("--print", action="store_true",
                            help="print the key even when standard output is not a terminal (KEY=$(...))")

    def handle(self, *args: Any, **options: Any) -> None:
        limits = {k: options[k] for k in ("requests_per_minute", "requests_per_day", "tokens_per_day")}
        for name, value in limits.items():
            if value is not None and value < 0:
                raise CommandError(f"--{name.replace('_', '-')} must be 0 or more")
        try:
            _, plaintext = client_key_create(name=options["name"], key=options.get("key"), **limits)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if options.get("key"):
            # The caller chose the key, so it is no news: name it without repeating it.
            self.stdout.write(f"client key {options['name']!r} created ({plaintext[:10]}…)")
        elif options["print"]:
            self.stdout.write(plaintext)
        else:
            credentials_show(out=self.stdout, what="client-key", lines=[plaintext])
