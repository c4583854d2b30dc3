"""Who is acting: a context variable set by the middleware (per request), the admin API's token
auth and management commands. Context variables follow the request into Django's sync thread
(asgiref copies them), so the signal receivers read the same value the view saw."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpRequest


@dataclass(frozen=True)
class Actor:
    kind: str  # an AuditEntry.ActorKind value
    name: str


SYSTEM = Actor("system", "system")

_actor: ContextVar[Actor | None] = ContextVar("audit_actor", default=None)
_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)


def actor_set(actor: Actor) -> None:
    """Name the actor for the rest of this request or command (the admin API's token auth)."""
    _actor.set(actor)


@contextlib.contextmanager
def actor_scope(actor: Actor | None, request: HttpRequest | None = None) -> Iterator[None]:
    """``actor`` (and ``request``) for the block; the previous values come back afterwards."""
    actor_token: Token[Actor | None] = _actor.set(actor)
    request_token: Token[HttpRequest | None] = _request.set(request)
    try:
        yield
    finally:
        _request.reset(request_token)
        _actor.reset(actor_token)


def actor_current() -> Actor:
    """The explicit actor, else the signed-in user of the current request, else "system".

    Reads ``request.user`` only here, in the sync code that saves a row (never on the async path).
    """
    actor = _actor.get()
    if actor is not None:
        return actor
    request = _request.get()
    user = getattr(request, "user", None) if request is not None else None
    if user is not None and user.is_authenticated:
        return Actor("user", f"user {user.get_username()}")
    return SYSTEM
