"""What-if: the gateway with Twisted's stock response writes (each queued and sent on the
reactor's next turn, the socket registered for writability and unregistered per write) instead of
daphne_tuning's DIRECT_WRITES, to A/B it in bench/compare.py (``stock-write``). A measurement aid
only, never deployed."""

from __future__ import annotations

from proxy_project import daphne_tuning

daphne_tuning.DIRECT_WRITES = False

from proxy_project.asgi import application  # noqa: E402, F401 - served by daphne
