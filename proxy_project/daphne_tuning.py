"""Two daphne/Twisted defaults that cost the gateway CPU on every large request.

Claude Code requests are often 100 KB to a few MB (tool schemas, long histories). By default
Twisted spools any body of 100,000 bytes or more to a temporary file on disk and daphne then
hands it to the application in 8 KiB ASGI messages (25 messages for 200 KB). Keeping bodies up to
REQUEST_BODY_IN_MEMORY_MAX in memory and passing them in 1 MiB messages removes that work.
Applied when proxy_project.asgi is imported, which daphne does before it builds its server.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import IO, Any

IN_MEMORY_MAX = 64 * 1024 * 1024
REQUEST_BUFFER_SIZE = 1024 * 1024
_applied: list[bool] = []


def apply() -> None:
    if _applied:
        return
    _applied.append(True)
    try:
        from daphne import server as daphne_server
        from twisted.web import http
    except ImportError:  # not running under daphne
        return
    original: Callable[[int | None], IO[bytes]] | None = getattr(http, "_getContentFile", None)
    if original is not None:
        def content_file(length: int | None) -> IO[bytes]:
            if length is not None and length <= IN_MEMORY_MAX:
                return io.BytesIO()
            return original(length)

        http._getContentFile = content_file  # type: ignore[attr-defined]

    init = daphne_server.Server.__init__

    @functools.wraps(init)
    def server_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.request_buffer_size = max(self.request_buffer_size, REQUEST_BUFFER_SIZE)

    daphne_server.Server.__init__ = server_init  # type: ignore[method-assign]
