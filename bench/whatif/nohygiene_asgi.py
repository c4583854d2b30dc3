"""What-if: the gateway without the API handler's connection cleanup (for bench/compare.py's A/B
of runtime/dbconn.cleanup_schedule). A measurement aid only, never deployed."""

from __future__ import annotations

from proxy_project.asgi import application  # noqa: F401 - served by daphne
from runtime import dbconn


def _skip() -> None:
    return None


dbconn.cleanup_schedule = _skip  # handlers calls it through the module, so this takes effect
