from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.views import serve as static_serve
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path

from dashboard.metrics import metrics_view
from proxy_project.api import api


async def root(request: HttpRequest) -> HttpResponse:
    # Claude Code probes with HEAD / before its first request: answer at once.
    return HttpResponse(b"claude-code gateway\n", content_type="text/plain")


urlpatterns = [
    path("", root),
    path("metrics", metrics_view),  # Prometheus (dashboard/metrics.py): staff bearer token or staff session
    path("admin/", admin.site.urls),
    path("dashboard/", include("dashboard.urls")),
    # Single sign-on: /accounts/oidc/authenticate/ and /accounts/oidc/callback/ (only when OIDC_ENABLED;
    # under /accounts so asgi.py serves them with sessions and CSRF).
    *([path("accounts/oidc/", include("mozilla_django_oidc.urls"))] if settings.OIDC_ENABLED else []),
    # Admin CSS and the dashboard's vendored htmx under daphne with DEBUG off too: no CDN, no
    # collectstatic, no extra server. A handful of small files for a few staff users.
    re_path(rf"^{settings.STATIC_URL.strip('/')}/(?P<path>.+)$", static_serve, {"insecure": True}),
    path("", api.urls),
]
