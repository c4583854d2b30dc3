"""Routing writes: agent fingerprints from agent files, sightings of unknown ones in traffic, and
admin edits of the routing configuration, which take effect on the next request."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from proxy_project.dbconn import connections_cleaned
from routing.fingerprints import fingerprint
from routing.models import AgentFingerprint
from routing.selectors import route_table_invalidate

_sightings: dict[str, tuple[int, str]] = {}   # fingerprint -> (count, sample) waiting to be written
_reported: dict[str, float] = {}               # fingerprint -> when last queued (throttle)
REPORT_EVERY = 60.0


def fingerprint_sighting(print_: str, sample: str) -> None:
    """Note an unmatched prompt fingerprint (in memory; written by the log flusher)."""
    count, old = _sightings.get(print_, (0, sample))
    _sightings[print_] = (count + 1, old)


async def fingerprint_sightings_aflush() -> None:
    if not _sightings:
        return
    now = time.monotonic()
    batch = {k: v for k, v in _sightings.items() if now - _reported.get(k, -REPORT_EVERY) >= REPORT_EVERY}
    for key in batch:
        _sightings.pop(key, None)
        _reported[key] = now
    if batch:
        await sync_to_async(fingerprint_sightings_write, thread_sensitive=False)(batch)


@connections_cleaned  # a pool thread's connection, as dashboard.services._bulk_write
@transaction.atomic
def fingerprint_sightings_write(batch: dict[str, tuple[int, str]]) -> None:
    now = timezone.now()
    for print_, (count, sample) in batch.items():
        row, created = AgentFingerprint.objects.get_or_create(
            fingerprint=print_,
            defaults={"sample": sample[:2000], "seen_count": count, "first_seen": now, "last_seen": now},
        )
        if not created:
            AgentFingerprint.objects.filter(pk=row.pk).update(seen_count=F("seen_count") + count, last_seen=now)


@dataclass(frozen=True)
class AgentFile:
    name: str
    description: str
    model: str
    prompt: str
    fingerprint: str
    path: str


def agent_file_parse(path: Path) -> AgentFile:
    """A Claude Code agent file: markdown with YAML-ish front matter (name, description, model)."""
    text = path.read_text(encoding="utf-8")
    meta: dict[str, str] = {}
    body = text
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end < 0:
            raise ValueError(f"{path}: front matter starts with '---' but never ends")
        for line in text[3:end].splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() and not line.startswith((" ", "\t")):
                meta[key.strip()] = value.strip().strip("'\"")
        body = text[end + 4:].lstrip("\n")
    name = meta.get("name") or path.stem
    return AgentFile(name, meta.get("description", ""), meta.get("model", ""), body, fingerprint(body), str(path))


@transaction.atomic
def fingerprint_record(*, agent: AgentFile, model: str | None = None) -> AgentFingerprint:
    """Store (or update) an agent's fingerprint with the model its requests should use."""
    row, _ = AgentFingerprint.objects.update_or_create(
        fingerprint=agent.fingerprint,
        defaults={
            "name": agent.name,
            "description": agent.description[:2000],
            "model": model if model is not None else ("" if agent.model == "inherit" else agent.model),
            "sample": agent.prompt[:2000],
        },
    )
    return row


# --- Admin edits of providers, tiers, tier entries, routes and agent assignments -------------------


def route_config_changed() -> None:
    """Make this process reload the route table on its next request, once the edit is committed
    (reloading before the commit would cache the old rows). Other processes reload within
    ROUTE_TABLE_TTL seconds."""
    transaction.on_commit(route_table_invalidate)


def route_config_save(*, obj: models.Model) -> None:
    obj.save()
    route_config_changed()


def route_config_delete(*, obj: models.Model) -> None:
    obj.delete()
    route_config_changed()


def route_config_delete_many(*, queryset: models.QuerySet[Any]) -> None:
    queryset.delete()
    route_config_changed()
