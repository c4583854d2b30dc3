from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from proxy_project.encryption import SecretsUnreadable, secrets_forget_unreadable, secrets_reencrypt
from runtime import crypto, secrets_store

FROM_ENV = (
    "the field-encryption keys come from the environment (FIELD_ENCRYPTION_KEY(S)), which this command "
    "cannot change: {what}, restart the gateway, then run this command again"
)


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (provider API keys and AWS keys, OAuth access and refresh tokens: "
        "every *_encrypted column) with the newest field-encryption key, in one transaction, and report "
        "the counts. --generate first puts a new random key in front of the keys kept in GATEWAY_HOME; "
        "older keys keep decrypting until --retire-old removes them (after the re-encryption). Keys "
        "given in FIELD_ENCRYPTION_KEYS are rotated by putting a new key first there."
    )
    requires_system_checks: list[str] = []  # the checks would report exactly what this repairs

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--generate", action="store_true", help="add a new random key, first")
        parser.add_argument("--retire-old", action="store_true",
                            help="after re-encrypting, keep only the newest key in GATEWAY_HOME")
        parser.add_argument("--forget-unreadable", action="store_true",
                            help="clear the values no key opens (to be entered again in the admin), "
                                 "instead of failing on them")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(settings.FIELD_ENCRYPTION_KEYS_FILE) if settings.FIELD_ENCRYPTION_KEYS_FILE else None
        if options["generate"]:
            if path is None:
                raise CommandError(FROM_ENV.format(what="put a new key first in FIELD_ENCRYPTION_KEYS"))
            with secrets_store.keys_locked(path):
                secrets_store.keys_write(path, [secrets_store.new_key(), *secrets_store.keys_read(path)])
            self.stdout.write(f"added a new key, first in {path}")
        if options["forget_unreadable"]:
            for description in secrets_forget_unreadable():
                self.stdout.write(f"cleared {description} (no key opens it): enter it again in the admin")
        try:
            report = secrets_reencrypt()
        except SecretsUnreadable as exc:
            raise CommandError(f"{exc}\nno secret was re-encrypted (nothing was changed in the database); "
                               "--forget-unreadable clears these values") from None
        detail = ", ".join(f"{label}: {n}" for label, n in report.counts.items())
        self.stdout.write(f"re-encrypted {report.total} secrets with the newest key ({detail})")
        self._retire(path, options["retire_old"])

    def _retire(self, path: Path | None, retire: bool) -> None:
        keys = crypto.keys()
        if not retire:
            if len(keys) > 1:
                self.stdout.write(f"{len(keys) - 1} older keys still decrypt; --retire-old removes them")
            return
        if path is None:
            raise CommandError(FROM_ENV.format(what="remove all but the first key from FIELD_ENCRYPTION_KEYS"))
        with secrets_store.keys_locked(path):
            current = secrets_store.keys_read(path)
            if current[0] != keys[0]:
                raise CommandError(f"{path} changed during the rotation; run this command again")
            secrets_store.keys_write(path, current[:1])
        self.stdout.write(f"retired {len(current) - 1} older keys from {path}")
