"""Signal receivers that turn saves and deletes of tracked rows into audit entries.

pre_save reads the stored row (one query by primary key) so post_save can diff it; queryset
``update()`` sends no signal and is used only for bookkeeping (last use, health, refresh claims).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save

from audit.models import AuditEntry
from audit.services import audit_record, changes_diff, row_values
from audit.tracking import BY_LABEL, Tracked

# Stored values of rows being saved, keyed by id(instance): filled by pre_save, taken by post_save.
# A save that fails in between leaves its entry behind; the cap keeps such leftovers bounded.
_before: dict[int, dict[str, Any] | None] = {}
_BEFORE_CAP = 1000


def _tracked(sender: type[models.Model]) -> Tracked:
    return BY_LABEL[sender._meta.label]


def before_save(sender: type[models.Model], instance: models.Model, raw: bool = False, **_: Any) -> None:
    tracked = _tracked(sender)
    stored = None
    if instance.pk is not None:
        row = sender._default_manager.filter(pk=instance.pk).first()
        stored = row_values(tracked=tracked, row=row) if row is not None else None
    if len(_before) >= _BEFORE_CAP:
        _before.clear()
    _before[id(instance)] = stored


def after_save(sender: type[models.Model], instance: models.Model, created: bool, **_: Any) -> None:
    tracked = _tracked(sender)
    old = _before.pop(id(instance), None)
    changes = changes_diff(tracked=tracked, old=None if created else old, new=row_values(tracked=tracked, row=instance))
    if created or changes:
        action = AuditEntry.Action.CREATE if created else AuditEntry.Action.UPDATE
        audit_record(action=action, row=instance, changes=changes)


def after_delete(sender: type[models.Model], instance: models.Model, **_: Any) -> None:
    tracked = _tracked(sender)
    changes = changes_diff(tracked=tracked, old=row_values(tracked=tracked, row=instance), new=None)
    audit_record(action=AuditEntry.Action.DELETE, row=instance, changes=changes)


def connect() -> None:
    for label in BY_LABEL:
        model = apps.get_model(label)
        uid = f"audit:{label}"
        pre_save.connect(before_save, sender=model, dispatch_uid=f"{uid}:pre")
        post_save.connect(after_save, sender=model, dispatch_uid=f"{uid}:post")
        post_delete.connect(after_delete, sender=model, dispatch_uid=f"{uid}:delete")
