from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Model signals are the one place that sees every write path (admin, admin REST API,
        # management commands, config import); the receivers only hand rows to audit_record.
        from audit import receivers

        receivers.connect()
