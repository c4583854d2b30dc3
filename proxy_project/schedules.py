"""Default periodic tasks, stored as django-celery-beat rows so they are edited in the admin.

beat_schedule_ensure() creates the rows that are missing (by name) and never touches existing
ones, so an interval changed or a task disabled in the admin stays that way. It runs when beat
starts (proxy_project/celery.py) and from ``manage.py beat_schedule_ensure``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask


@dataclass(frozen=True)
class Default:
    name: str
    task: str
    every: int = 0  # seconds; 0: use the daily crontab below
    hour: int = 3
    minute: int = 17
    description: str = ""


def defaults() -> list[Default]:
    return [
        Default("provider health checks", "providers.tasks.provider_health_check_all",
                every=settings.HEALTH_CHECK_INTERVAL,
                description="GET each enabled provider's models endpoint; results feed circuits and the dashboard."),
        Default("OAuth token refresh", "providers.tasks.oauth_token_refresh_due", every=300,
                description="Refresh Claude OAuth tokens that expire within OAUTH_REFRESH_MARGIN."),
        Default("request log retention", "dashboard.tasks.request_log_prune",
                description="Delete request logs older than REQUEST_LOG_RETENTION_DAYS, in batches."),
        Default("agent fingerprint sighting retention", "routing.tasks.fingerprint_sightings_prune", minute=37,
                description="Delete unassigned agent fingerprints not seen for FINGERPRINT_SIGHTINGS_RETENTION_DAYS."),
        # Hook: presets (issue 5) may add their own periodic work here.
    ]


# Tasks that moved to another app: rows written by an earlier version are pointed at the new name.
MOVED_TASKS = {
    "providers.tasks.request_log_prune": "dashboard.tasks.request_log_prune",
    "providers.tasks.fingerprint_sightings_prune": "routing.tasks.fingerprint_sightings_prune",
}


@transaction.atomic
def beat_schedule_ensure() -> list[str]:
    """Create the missing default PeriodicTask rows; returns the names created."""
    for old, new in MOVED_TASKS.items():
        PeriodicTask.objects.filter(task=old).update(task=new)
    created = []
    for item in defaults():
        if PeriodicTask.objects.filter(name=item.name).exists():
            continue
        task = PeriodicTask(name=item.name, task=item.task, description=item.description)
        if item.every:
            task.interval, _ = IntervalSchedule.objects.get_or_create(every=item.every, period=IntervalSchedule.SECONDS)
        else:
            task.crontab, _ = CrontabSchedule.objects.get_or_create(
                minute=str(item.minute), hour=str(item.hour), day_of_week="*", day_of_month="*",
                month_of_year="*", timezone="UTC",
            )
        task.save()
        created.append(item.name)
    return created
