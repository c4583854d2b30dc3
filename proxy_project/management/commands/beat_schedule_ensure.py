from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from proxy_project.schedules import beat_schedule_ensure


class Command(BaseCommand):
    help = (
        "Create the default periodic tasks (provider health checks, OAuth token refresh, request log "
        "retention) where missing. Existing rows, as edited in the admin, are kept. Beat runs this at start."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        created = beat_schedule_ensure()
        for name in created:
            self.stdout.write(f"created periodic task: {name}")
        if not created:
            self.stdout.write("every default periodic task exists")
