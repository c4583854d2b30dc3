"""What-if: the gateway's settings with no Django middleware at all.

Measures what the middleware stack costs on the API path (each sync ``MiddlewareMixin`` hop is a
``sync_to_async`` thread round trip under ASGI). The dashboard/admin do not work with this.

    .venv/bin/python bench/run.py --quick --settings bench.whatif.nomw_settings
"""

from proxy_project.settings import *  # noqa: F403

MIDDLEWARE: list[str] = []  # type: ignore[no-redef]
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410"]
