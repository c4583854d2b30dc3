"""Routing writes: agent fingerprints from agent files, sightings of unknown ones in traffic, and
admin edits of the routing configuration, which take effect on the next request."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from providers.models import Provider
from routing.fingerprints import fingerprint
from routing.models import AgentFingerprint, ConfigVersion, ModelTier, TierEntry
from routing.selectors import route_table_invalidate
from runtime import resets
from runtime.dbconn import connections_cleaned
from runtime.outage import DATABASE_ERRORS
from runtime.rows import record_save

_sightings: dict[str, tuple[int, str]] = {}   # fingerprint -> (count, sample) waiting to be written
_reported: dict[str, float] = {}               # fingerprint -> when last queued (throttle)
REPORT_EVERY = 60.0
SAMPLE_LENGTH = 2000
logger = logging.getLogger("gateway.routing")


def fingerprint_sighting(print_: str, sample: str) -> None:
    """Note an unmatched prompt fingerprint (in memory; written by the log flusher).

    At most FINGERPRINT_SIGHTINGS_MAX distinct prints wait in memory: beyond that new ones are
    not noted until the next write (known ones still count)."""
    hit = _sightings.get(print_)
    if hit is None:
        if len(_sightings) >= settings.FINGERPRINT_SIGHTINGS_MAX:
            return
        hit = (0, sample[:SAMPLE_LENGTH])
    _sightings[print_] = (hit[0] + 1, hit[1])


def fingerprint_sightings_waiting() -> bool:
    """Sightings noted and not yet written (the log flusher keeps running while there are)."""
    return bool(_sightings)


async def fingerprint_sightings_aflush() -> None:
    if not _sightings:
        return
    now = time.monotonic()
    for key in [k for k, at in _reported.items() if now - at >= REPORT_EVERY]:
        del _reported[key]  # the throttle forgets prints it no longer holds back
    batch = {k: v for k, v in _sightings.items() if k not in _reported}
    for key in batch:
        _sightings.pop(key, None)
        _reported[key] = now
    if not batch:
        return
    left = await sync_to_async(fingerprint_sightings_write, thread_sensitive=False)(batch)
    for key, (count, sample) in left.items():  # the database is down: keep them for the next try
        _reported.pop(key, None)
        held = _sightings.get(key, (0, sample))
        _sightings[key] = (held[0] + count, held[1])


@resets.register
def fingerprint_sightings_forget() -> None:
    """Drop the sightings waiting to be written and the throttle (tests)."""
    _sightings.clear()
    _reported.clear()


def fingerprint_sightings_write(batch: dict[str, tuple[int, str]]) -> dict[str, tuple[int, str]]:
    """Count each sighting, one transaction per fingerprint so one bad row loses nothing else, then
    keep the unassigned sightings within FINGERPRINT_SIGHTINGS_MAX. Returns the sightings not
    written because the database is unreachable. Queries: a get_or_create (+UPDATE) per print,
    and a COUNT (+ a DELETE) when a new row was created."""
    close_old_connections()  # a connection broken by an earlier outage is replaced, not reused
    now = timezone.now()
    created = False
    items = list(batch.items())
    for index, (print_, (count, sample)) in enumerate(items):
        try:
            created |= _sighting_write(print_, count, sample.replace("\x00", "\ufffd"), now)
        except (OperationalError, InterfaceError):
            connection.close()
            return dict(items[index:])
        except Exception:
            logger.exception("dropped the sighting of agent fingerprint %s", print_)
    if created:
        fingerprint_sightings_cap(limit=settings.FINGERPRINT_SIGHTINGS_MAX)
    return {}


@connections_cleaned  # a pool thread's connection, as dashboard.services._bulk_write
@transaction.atomic
def _sighting_write(print_: str, count: int, sample: str, now: datetime) -> bool:
    row, created = AgentFingerprint.objects.get_or_create(
        fingerprint=print_,
        defaults={"sample": sample[:SAMPLE_LENGTH], "seen_count": count, "first_seen": now, "last_seen": now},
    )
    if not created:
        AgentFingerprint.objects.filter(pk=row.pk).update(seen_count=F("seen_count") + count, last_seen=now)
    return created


def fingerprint_sightings_cap(*, limit: int) -> int:
    """Delete the least recently seen sightings beyond ``limit``; rows with a name or model (agent
    files, admin assignments) are never touched. Returns the rows deleted. Queries: a COUNT, and
    an id SELECT and a DELETE when over the limit."""
    sightings = AgentFingerprint.objects.sightings()
    excess = sightings.count() - limit
    if excess <= 0:
        return 0
    ids = list(sightings.order_by("last_seen", "id").values_list("pk", flat=True)[:excess])
    return AgentFingerprint.objects.filter(pk__in=ids).delete()[0]


def fingerprint_sightings_prune_batch(*, before: datetime, batch_size: int) -> int:
    """Delete up to ``batch_size`` sightings last seen before ``before``. Queries: an id SELECT, a DELETE."""
    ids = list(AgentFingerprint.objects.sightings().filter(last_seen__lt=before)
               .order_by("last_seen").values_list("pk", flat=True)[:batch_size])
    return AgentFingerprint.objects.filter(pk__in=ids).delete()[0] if ids else 0


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


def route_config_changed(**_signal: Any) -> None:
    """Once the edit is committed (reloading before would cache the old rows): a new version
    token, which every process compares within ROUTE_TABLE_TTL seconds, and this process reloads
    on its next request. Connected to every write of the table's rows (routing/apps.py)."""
    transaction.on_commit(_changed_committed)


def _changed_committed() -> None:
    try:
        config_version_bump()
    except DATABASE_ERRORS as exc:  # the edit is committed: never a 500 for it; others reload by ROUTE_TABLE_MAX_AGE
        logger.warning("could not record the route configuration's new version: %s", exc)
    finally:
        route_table_invalidate()


def config_version_bump() -> None:
    """Queries: one UPDATE (plus one INSERT the first time, or after a flush)."""
    token = secrets.token_hex(16)
    if not ConfigVersion.objects.filter(pk=1).update(token=token):
        ConfigVersion.objects.update_or_create(pk=1, defaults={"token": token})


async def aroute_config_changed() -> None:
    """The request path's twin (a credential it refreshed itself): every process reloads, and a
    database that cannot take the new version does not fail the request (as on commit)."""
    await sync_to_async(_changed_committed)()


@transaction.atomic
def tier_save(*, tier: ModelTier, fields: Mapping[str, Any],
              entries: Sequence[Mapping[str, Any]] | None = None) -> ModelTier:
    """Create or update a tier; ``entries`` (provider name, model, enabled) replace its list."""
    record_save(row=tier, fields=fields)
    if entries is not None:
        providers = {p.name: p for p in Provider.objects.filter(name__in=[e["provider"] for e in entries])}
        tier.entries.all().delete()
        for position, entry in enumerate(entries):
            provider = providers.get(entry["provider"])
            if provider is None:
                raise ValidationError({"entries": f"entry {position}: no provider named {entry['provider']!r}"})
            record_save(row=TierEntry(tier=tier, provider=provider, position=position),
                        fields={"model": entry["model"], "enabled": entry.get("enabled", True)})
    return tier
