"""Sign-in through OpenID Connect: staff status comes from a group claim, refused otherwise."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import transaction
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from sso.discovery import oidc_setting

log = logging.getLogger("gateway.sso")


def claim_groups(claims: dict[str, Any]) -> set[str]:
    """The groups in the configured claim (a list, or one space/comma separated string)."""
    raw = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(raw, str):
        raw = raw.replace(",", " ").split()
    return {str(g) for g in raw} if isinstance(raw, list) else set()


def staff_flags(claims: dict[str, Any]) -> tuple[bool, bool]:
    """(is_staff, is_superuser) that the claims grant."""
    groups = claim_groups(claims)
    superuser = bool(settings.OIDC_SUPERUSER_GROUP) and settings.OIDC_SUPERUSER_GROUP in groups
    staff = superuser or (bool(settings.OIDC_STAFF_GROUP) and settings.OIDC_STAFF_GROUP in groups)
    return staff, superuser


class GroupClaimBackend(OIDCAuthenticationBackend):  # type: ignore[misc]
    """mozilla-django-oidc's code flow, with users matched by verified email, named by
    OIDC_USERNAME_CLAIM, and their staff/superuser flags and Django groups set from the claims
    at every sign-in (so removing someone from the IdP group takes effect at their next login)."""

    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return oidc_setting(attr, *args)

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        staff, _ = staff_flags(claims)
        if not claims.get("email") or claims.get("email_verified") is False or not staff:
            log.warning("SSO sign-in refused for %s: not in the staff group or no verified email",
                        claims.get("email") or claims.get("sub"))
            return False
        return True

    def create_user(self, claims: dict[str, Any]) -> User:
        name = str(claims.get(settings.OIDC_USERNAME_CLAIM) or claims["email"])[:150]
        if User.objects.filter(username=name).exists():
            name = str(claims["email"])[:150]  # never take over a local account by its name
        user = User.objects.create_user(name, email=claims["email"])
        return self.update_user(user, claims)

    @transaction.atomic
    def update_user(self, user: User, claims: dict[str, Any]) -> User:
        user.is_staff, user.is_superuser = staff_flags(claims)
        user.first_name = str(claims.get("given_name") or "")[:150] or user.first_name
        user.last_name = str(claims.get("family_name") or "")[:150] or user.last_name
        user.save()
        # Django groups named like an IdP group carry that group's admin permissions.
        user.groups.set(Group.objects.filter(name__in=claim_groups(claims)))
        return user
