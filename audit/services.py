"""Writes of the audit trail. The only writer of AuditEntry rows."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from audit.context import Actor, actor_current
from audit.models import AuditEntry
from audit.tracking import BY_LABEL, Tracked, is_secret

CHANGED = "changed"
_EMPTY: tuple[Any, ...] = (None, "", {}, [])


def _plain(value: Any) -> Any:
    """A JSON-safe copy (datetimes, decimals and UUIDs as strings)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def row_values(*, tracked: Tracked, row: models.Model) -> dict[str, Any]:
    """The audited fields of ``row`` (foreign keys as ids), bookkeeping fields left out."""
    return {
        f.attname: f.value_from_object(row)
        for f in row._meta.concrete_fields
        if f.name not in tracked.ignored and not f.primary_key
    }


def changes_diff(*, tracked: Tracked, old: Mapping[str, Any] | None,
                 new: Mapping[str, Any] | None) -> dict[str, Any]:
    """Field -> ``{"old", "new"}`` for the fields that differ; secrets -> "changed" (no values).

    ``old`` None is a create (every non-empty field is listed), ``new`` None a delete.
    """
    names = list(new or old or {})
    out: dict[str, Any] = {}
    for name in names:
        before = old.get(name) if old is not None else None
        after = new.get(name) if new is not None else None
        if before == after or (old is None and after in _EMPTY) or (new is None and before in _EMPTY):
            continue
        out[name] = CHANGED if is_secret(tracked, name) else {"old": _plain(before), "new": _plain(after)}
    return out


def audit_record(*, action: str, row: models.Model, changes: Mapping[str, Any],
                 actor: Actor | None = None) -> AuditEntry:
    """Store one entry; ``actor`` defaults to the current one (request user, token or command)."""
    who = actor or actor_current()
    return AuditEntry.objects.create(
        actor=who.name[:200], actor_kind=who.kind, action=action, model=row._meta.label,
        object_id=str(row.pk), object_repr=str(row)[:300], changes=dict(changes),
    )


@contextlib.contextmanager
def audit_changes(*, row: models.Model) -> Iterator[None]:
    """Record what the block changed in ``row``'s stored values: for writes made with queryset
    ``update()`` (which sends no signal), such as an OAuth token refresh. Two queries by key."""
    tracked = BY_LABEL[row._meta.label]
    stored = type(row)._default_manager.filter(pk=row.pk).first()
    before = row_values(tracked=tracked, row=stored) if stored is not None else None
    yield
    after_row = type(row)._default_manager.filter(pk=row.pk).first()
    if before is None or after_row is None:
        return
    changes = changes_diff(tracked=tracked, old=before, new=row_values(tracked=tracked, row=after_row))
    if changes:
        audit_record(action=AuditEntry.Action.UPDATE, row=after_row, changes=changes)
