"""What-if: the gateway with Twisted's and daphne's stock request-body handling, to A/B
proxy_project/daphne_tuning in bench/compare.py. ``WHATIF_STOCK_BODY`` names what goes back to
stock: ``spool`` (bodies of 100,000 bytes and more in a temporary file), ``buffer`` (8 KiB ASGI
body messages), or both. A measurement aid only, never deployed."""

from __future__ import annotations

import os

from proxy_project import daphne_tuning

_stock = os.environ.get("WHATIF_STOCK_BODY", "spool,buffer")
if "spool" in _stock:
    daphne_tuning.IN_MEMORY_MAX = -1  # no length fits: Twisted's own choice of file
if "buffer" in _stock:
    daphne_tuning.REQUEST_BUFFER_SIZE = 8192  # daphne's default

from proxy_project.asgi import application  # noqa: E402, F401 - served by daphne
