from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.management.base import CommandError, CommandParser

from audit.commands import AuditedCommand
from clients.models import ClientKey
from clients.services import client_key_create, client_key_rotate
from runtime.secrets_store import credentials_show


class Command(AuditedCommand):
    help = (
        "Issue a client key for the gateway and show it once (only its hash is stored): on a terminal, "
        "else in a mode-0600 file under GATEWAY_HOME/credentials whose path is printed. Optional "
        "budgets answer 429 rate_limit_error once used up: --requests-per-minute, --requests-per-day, "
        "--tokens-per-day (input plus output tokens, per UTC day), --usd-per-day and --usd-per-month (money, "
        "priced from the price table; UTC day and calendar month). --rotate replaces the key called NAME."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="who or what the key is for")
        parser.add_argument("--key", help="use this key instead of a random one (tests, migrations)")
        parser.add_argument("--requests-per-minute", type=int, metavar="N")
        parser.add_argument("--requests-per-day", type=int, metavar="N")
        parser.add_argument("--tokens-per-day", type=int, metavar="N")
        parser.add_argument("--usd-per-day", type=Decimal, metavar="USD")
        parser.add_argument("--usd-per-month", type=Decimal, metavar="USD")
        parser.add_argument("--print", action="store_true",
                            help="print the key even when standard output is not a terminal (KEY=$(...))")
        parser.add_argument("--rotate", action="store_true",
                            help="replace the key called NAME: a new key with its name and limits; the old one "
                                 "keeps working for --grace seconds")
        parser.add_argument("--grace", type=int, default=3600, metavar="SECONDS",
                            help="with --rotate: how long the old key keeps working (default 3600; 0: stops now)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rotate"]:
            self._show(self._rotate(options["name"], options["grace"]), options)
            return
        limits = {k: options[k] for k in ("requests_per_minute", "requests_per_day", "tokens_per_day", "usd_per_day",
                                          "usd_per_month")}
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
        else:
            self._show(plaintext, options)

    def _show(self, plaintext: str, options: dict[str, Any]) -> None:
        if options["print"]:
            self.stdout.write(plaintext)
        else:
            credentials_show(out=self.stdout, what="client-key", lines=[plaintext])

    def _rotate(self, name: str, grace: int) -> str:
        old = ClientKey.objects.filter(name=name).first()
        if old is None:
            raise CommandError(f"no client key named {name!r}")
        try:
            _, plaintext = client_key_rotate(key_id=old.pk, grace_seconds=grace)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        old.refresh_from_db()
        self.stderr.write(f"rotated {name!r}: the old key ({old.key_prefix}…) is now named {old.name!r} and "
                          f"expires {old.expires_at:%Y-%m-%d %H:%M:%S} UTC")
        return plaintext
