from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard.models import RequestLog


@staff_member_required
def index(request: HttpRequest) -> HttpResponse:
    recent = RequestLog.objects.select_related("client_key")[:50]
    return render(request, "dashboard/index.html", {"recent": recent})
