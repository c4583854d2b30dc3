"""Database connection hygiene for code that runs outside Django's request signals.

Django closes broken and stale connections (``close_old_connections``) when a request starts and
finishes; the lean API handler and the background writers skip those signals, so a connection
broken by a PostgreSQL restart stayed broken (every later query failed) until the process
restarted. Connections are thread-local, so the cleanup runs in the thread that holds them:

- the async ORM's queries run in asgiref's one thread-sensitive thread: ``cleanup_schedule()``
  queues ``close_old_connections`` there after an API request, without waiting for it, when a
  query ran since the last cleanup (most requests are served from caches and cost nothing; the
  unconditional hop measured 0.15-0.45 ms CPU per request); a cleanup already queued and not
  yet finished will run after this request's queries (the thread runs its work in order), so
  bursts share one;
- a sync function run in the default executor (``thread_sensitive=False``) holds a connection in
  whichever pool thread runs it: ``connections_cleaned`` wraps it so the cleanup runs there,
  before and after, as Channels' ``database_sync_to_async`` does.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.db.backends.signals import connection_created

from runtime import resets

P = ParamSpec("P")
R = TypeVar("R")
logger = logging.getLogger("gateway.db")
# thread_sensitive (the default): the thread the async ORM's queries run in.
_cleanup_in_orm_thread = sync_to_async(close_old_connections)


class Cleanup:
    """Whether a query ran since the last cleanup (any thread), and the cleanup queued last."""

    __slots__ = ("queried", "queued")

    def __init__(self) -> None:
        self.queried = False
        self.queued: asyncio.Future[None] | None = None

    def reset(self) -> None:
        self.queried, self.queued = False, None


CLEANUP = Cleanup()  # one per process, like the connections it looks after
resets.register(CLEANUP.reset)


def cleanup_schedule() -> None:
    """Queue ``close_old_connections`` in the async ORM's thread (call from the event loop)."""
    if not CLEANUP.queried or (CLEANUP.queued is not None and not CLEANUP.queued.done()):
        return
    CLEANUP.queried = False
    future = asyncio.ensure_future(_cleanup_in_orm_thread())
    future.add_done_callback(_report)
    CLEANUP.queued = future


async def cleanup_now() -> None:
    """Run the cleanup in the async ORM's thread and wait for it (tests, shutdown)."""
    await _cleanup_in_orm_thread()


def _report(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.warning("closing old database connections failed: %r", future.exception())


def connections_cleaned(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` with broken or stale connections of the calling thread closed before and after."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        close_old_connections()
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()

    return wrapper


def _note_query(execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: dict[str, Any]) -> Any:
    CLEANUP.queried = True
    return execute(sql, params, many, context)


def _watch_queries(sender: Any, connection: Any, **kwargs: Any) -> None:
    # Django's execute_wrapper() context manager would unhook it after one block; this wrapper
    # lives as long as the connection object (one per thread, kept across reconnects).
    if _note_query not in connection.execute_wrappers:
        connection.execute_wrappers.append(_note_query)


connection_created.connect(_watch_queries)
