from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from dashboard.services import request_log_prune_batch


class Command(BaseCommand):
    help = ("Delete request logs and fallback events older than --days (default REQUEST_LOG_RETENTION_DAYS) "
            "in batches, printing progress; the Celery beat task does the same on a schedule.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, help="keep this many days (default REQUEST_LOG_RETENTION_DAYS)")
        parser.add_argument("--batch", type=int, help="rows per DELETE (default REQUEST_LOG_PRUNE_BATCH)")

    def handle(self, *args: Any, **options: Any) -> None:
        days = settings.REQUEST_LOG_RETENTION_DAYS if options["days"] is None else options["days"]
        batch = options["batch"] or settings.REQUEST_LOG_PRUNE_BATCH
        if days <= 0 or batch <= 0:
            raise CommandError("--days and --batch must be positive (REQUEST_LOG_RETENTION_DAYS=0 keeps logs)")
        before = timezone.now() - timedelta(days=days)
        total = 0
        while deleted := request_log_prune_batch(before=before, batch_size=batch):
            total += deleted
            self.stderr.write(f"deleted {total} rows so far…")
        self.stdout.write(f"deleted {total} rows older than {before:%Y-%m-%d %H:%M} UTC")
