from __future__ import annotations

from django.apps import AppConfig


class ProxyProjectConfig(AppConfig):
    """The project as an app: its commands (serve, claude, rotate_encryption_key,
    beat_schedule_ensure) and the system checks for secrets at rest."""

    name = "proxy_project"
    verbose_name = "Gateway"

    def ready(self) -> None:
        from proxy_project import checks  # noqa: F401  (registers the system checks)
