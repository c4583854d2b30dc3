"""Auth for the admin REST API: a staff user's bearer token, or a staff session in the browser.

Both are sync ninja auth classes: the admin API's operations are sync (admin work, not the
request path), so Django runs them, auth included, in its thread.
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.contrib.auth import aget_user
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer, SessionAuthIsStaff

from audit.context import Actor, actor_set
from clients.models import ClientKey, StaffToken


class StaffTokenAuth(HttpBearer):
    """``Authorization: Bearer sk-gwadm-…``: the token's user, if still an active staff member."""

    def authenticate(self, request: HttpRequest, token: str) -> AbstractBaseUser | None:
        if not token.startswith(StaffToken.PREFIX):
            return None
        row = StaffToken.objects.select_related("user").filter(key_hash=ClientKey.hash_key(token)).first()
        if row is None or not row.user.is_active or not row.user.is_staff:
            return None
        StaffToken.objects.filter(pk=row.pk).update(last_used=timezone.now())
        request.user = row.user
        # The audit trail names the token, not only its owner (a script, not a person at the admin).
        actor_set(Actor("token", f"token {row.name} (user {row.user.get_username()})"))
        return row.user


# A logged-in staff user (the Django admin's session cookie); writes are CSRF-checked.
STAFF_AUTH = [StaffTokenAuth(), SessionAuthIsStaff()]


async def astaff_user(request: HttpRequest) -> AbstractBaseUser | None:
    """The active staff user behind a staff bearer token or a staff session cookie, for async
    views the lean API handler serves (no session middleware there). Queries: one StaffToken
    with its user, or the session row and its user."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    user: AbstractBaseUser | None = None
    if scheme.lower() == "bearer" and token.startswith(StaffToken.PREFIX):
        row = await StaffToken.objects.select_related("user").filter(key_hash=ClientKey.hash_key(token)).afirst()
        user = row.user if row is not None else None
    elif request.COOKIES.get(settings.SESSION_COOKIE_NAME):
        engine = import_module(settings.SESSION_ENGINE)
        request.session = engine.SessionStore(request.COOKIES[settings.SESSION_COOKIE_NAME])
        found = await aget_user(request)
        user = found if isinstance(found, AbstractBaseUser) else None
    if user is None or not user.is_active or not getattr(user, "is_staff", False):
        return None
    return user
