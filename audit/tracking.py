"""Which rows are audited, which of their fields are secrets and which are runtime bookkeeping.

Data only: the receivers look models up by label, so this app imports none of the apps it audits.
"""

from __future__ import annotations

from dataclasses import dataclass

# Field names that always hold secrets, whatever the model: never stored, only "changed".
SECRET_SUFFIXES = ("_encrypted", "_hash", "token", "secret", "password")


@dataclass(frozen=True)
class Tracked:
    label: str                            # app_label.ModelName
    secret: frozenset[str] = frozenset()  # further secret fields (beyond SECRET_SUFFIXES)
    # Bookkeeping written by the gateway itself (health checks, last use, sightings): a save
    # that changes only these is not a configuration change.
    ignored: frozenset[str] = frozenset()


_TIMESTAMPS = frozenset({"created", "updated"})

TRACKED = (
    # Upstream headers may carry credentials (Azure "api-key", custom auth headers).
    Tracked("providers.Provider", secret=frozenset({"headers"}), ignored=_TIMESTAMPS | {
        "health_checked_at", "health_ok", "health_latency_ms", "health_error"}),
    Tracked("clients.ClientKey", ignored=_TIMESTAMPS | {"last_used"}),
    Tracked("clients.StaffToken", ignored=_TIMESTAMPS | {"last_used"}),
    Tracked("providers.OAuthToken", ignored=_TIMESTAMPS | {
        "refreshing_since", "last_refresh_at", "last_error", "refresh_failures"}),
    Tracked("providers.ModelPrice", ignored=_TIMESTAMPS),  # what requests cost and money budgets count
    Tracked("routing.ModelTier", ignored=_TIMESTAMPS),
    Tracked("routing.TierEntry", ignored=_TIMESTAMPS),
    Tracked("routing.Route", ignored=_TIMESTAMPS),
    Tracked("routing.AgentFingerprint", ignored=_TIMESTAMPS | {"seen_count", "first_seen", "last_seen"}),
)

BY_LABEL = {t.label: t for t in TRACKED}


def is_secret(tracked: Tracked, field: str) -> bool:
    return field in tracked.secret or field.endswith(SECRET_SUFFIXES)


def field_label(field: str) -> str:
    """``api_key_encrypted`` -> ``api key``: how the trail names a field."""
    for suffix in ("_encrypted", "_hash"):
        if field.endswith(suffix):
            field = field[: -len(suffix)]
    return field.replace("_", " ")
