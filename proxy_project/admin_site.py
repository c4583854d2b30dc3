"""The admin as this product's: its title, its sections, and the plumbing kept for superusers.

``GatewayAdminConfig`` replaces ``django.contrib.admin`` in INSTALLED_APPS and makes
``GatewayAdminSite`` the default site (Django's documented ``default_site`` hook), so every
``@admin.register`` in the apps lands on it unchanged. After autodiscovery it re-registers the
framework's models (auth Groups, Celery beat's periodic tasks) with superuser-only permissions: a
team lead with staff status sees the gateway's own models and nothing else, even when granted
the framework's permissions, and a superuser finds them under one "System" section.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.db.models import Model
from django.http import HttpRequest
from django.urls import reverse

SITE_HEADER = "Claude Code gateway"
SYSTEM_LABEL = "system"
# Framework models a team lead never needs: (app_label, object_name). Users stay with auth.
SYSTEM_MODELS = frozenset({
    ("auth", "Group"),
    ("django_celery_beat", "PeriodicTask"),
    ("django_celery_beat", "IntervalSchedule"),
    ("django_celery_beat", "CrontabSchedule"),
    ("django_celery_beat", "SolarSchedule"),
    ("django_celery_beat", "ClockedSchedule"),
})
# The gateway's apps first, in the order an operator works through them; the rest keep Django's order.
APP_ORDER = ("providers", "routing", "clients", "dashboard", "audit", "auth", SYSTEM_LABEL)


class GatewayAdminSite(admin.AdminSite):
    site_header = SITE_HEADER
    site_title = f"{SITE_HEADER} admin"
    # index_title stays Django's "Site administration" (tests and docs elsewhere look for it).

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        """Django's list, with the framework models moved into a trailing "System" section.

        The superuser-only permissions (below) already keep them out of a staff user's list, so
        the section only ever appears for superusers."""
        apps = super().get_app_list(request, app_label)
        system: list[dict[str, Any]] = []
        kept: list[dict[str, Any]] = []
        for app in apps:
            models = [m for m in app["models"] if (app["app_label"], m["object_name"]) not in SYSTEM_MODELS]
            system += [m for m in app["models"] if (app["app_label"], m["object_name"]) in SYSTEM_MODELS]
            if models:
                kept.append({**app, "models": models})
        if system:
            # No app behind it, so no app index: the caption links to this section of the index
            # (an empty app_url would mark the section "current" on every page).
            url = reverse("admin:index", current_app=self.name) + f"#{SYSTEM_LABEL}"
            kept.append({"name": "System", "app_label": SYSTEM_LABEL, "app_url": url, "has_module_perms": True,
                         "models": sorted(system, key=lambda m: str(m["name"]))})
        return sorted(kept, key=_app_rank)


def _app_rank(app: dict[str, Any]) -> int:
    label = app["app_label"]
    return APP_ORDER.index(label) if label in APP_ORDER else len(APP_ORDER) - 1


class SuperuserOnlyMixin:
    """Every permission of the framework's models is a superuser's alone."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request)


def system_models_restrict(site: admin.AdminSite) -> None:
    """Re-register each registered system model with its own ModelAdmin class plus SuperuserOnlyMixin."""
    for app_label, object_name in sorted(SYSTEM_MODELS):
        try:
            model = apps.get_model(app_label, object_name)
        except LookupError:  # that app is not installed
            continue
        if not site.is_registered(model):
            continue
        original = type(site.get_model_admin(model))
        if issubclass(original, SuperuserOnlyMixin):
            continue
        restricted = type(f"SuperuserOnly{original.__name__}", (SuperuserOnlyMixin, original), {})
        site.unregister(model)
        site.register(model, restricted)


class GatewayAdminConfig(AdminConfig):
    default_site = "proxy_project.admin_site.GatewayAdminSite"

    def ready(self) -> None:
        super().ready()  # autodiscover: every app's admin.py has registered by now
        system_models_restrict(admin.site)
