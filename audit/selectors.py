from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audit.models import AuditEntry
from audit.services import CHANGED
from audit.tracking import field_label


@dataclass(frozen=True)
class ChangeRow:
    id: int
    created: datetime
    actor: str
    action: str
    model: str
    object_repr: str
    summary: list[str]


def change_summary(changes: dict[str, Any]) -> list[str]:
    """``["api key: changed", "priority: 100 → 5"]``: how a panel or the admin shows ``changes``."""
    lines = []
    for name, change in changes.items():
        if change == CHANGED or not isinstance(change, dict):
            lines.append(f"{field_label(name)}: {CHANGED}")
        else:
            lines.append(f"{field_label(name)}: {_short(change.get('old'))} → {_short(change.get('new'))}")
    return lines


def _short(value: Any, limit: int = 60) -> str:
    text = "–" if value in (None, "") else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def recent_changes(*, limit: int = 20) -> list[ChangeRow]:
    """The newest entries (one query on the created index)."""
    return [
        ChangeRow(e.pk, e.created, e.actor, e.action, e.model.rpartition(".")[2], e.object_repr,
                  change_summary(e.changes))
        for e in AuditEntry.objects.order_by("-created", "-id")[:limit]
    ]
