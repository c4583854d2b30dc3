from __future__ import annotations

from django.db import models


class AuditEntry(models.Model):
    """One change to a configuration row: who, when, what, which action and which fields.

    ``changes`` maps a field name to ``{"old": …, "new": …}``, or to the string ``"changed"`` for
    a secret (encrypted fields, key hashes, tokens, upstream headers): their values are never stored.
    """

    class Action(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        DELETE = "delete"

    class ActorKind(models.TextChoices):
        USER = "user"        # a signed-in staff user (admin, dashboard, admin API session)
        TOKEN = "token"      # a staff token on the admin REST API
        COMMAND = "command"  # a management command
        SYSTEM = "system"    # anything else (traffic sightings, background work)

    created = models.DateTimeField(auto_now_add=True)
    actor = models.CharField(max_length=200)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    action = models.CharField(max_length=16, choices=Action.choices)
    model = models.CharField(max_length=100)  # app_label.ModelName
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300)
    changes = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit trail"
        indexes = [
            # The dashboard's "Recent changes" panel and the admin changelist: newest first.
            models.Index(fields=["-created"], name="audit_entry_created"),
            # One object's history (admin filter by model, then search by id).
            models.Index(fields=["model", "object_id"], name="audit_entry_object"),
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.model} {self.object_repr}"
