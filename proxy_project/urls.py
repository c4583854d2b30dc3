from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from proxy_project.api import api


async def root(request: HttpRequest) -> HttpResponse:
    # Claude Code probes with HEAD / before its first request: answer at once.
    return HttpResponse(b"claude-code gateway\n", content_type="text/plain")


urlpatterns = [
    path("", root),
    path("admin/", admin.site.urls),
    path("dashboard/", include("dashboard.urls")),
    path("", api.urls),
]
