from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proxy_project.settings")

app = Celery("proxy_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def broker_folders_ensure(sender: Celery, **kwargs: Any) -> None:
    """kombu's filesystem transport (the default broker without Redis) needs its folders."""
    if str(sender.conf.broker_url or "").startswith("filesystem://"):
        for folder in (sender.conf.broker_transport_options or {}).values():
            Path(folder).mkdir(parents=True, exist_ok=True)


@beat_init.connect
def beat_defaults_ensure(sender: Any = None, **kwargs: Any) -> None:
    """Beat starts with the default periodic tasks in the database (the admin edits them)."""
    # This module is imported with the settings, before the app registry is ready for models.
    from proxy_project.schedules import beat_schedule_ensure

    beat_schedule_ensure()
