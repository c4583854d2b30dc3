from __future__ import annotations

from typing import Any

from django.urls import path

from dashboard.consumers import DashboardConsumer
from dashboard.fragments import WS_PATH

websocket_urlpatterns: list[Any] = [path(WS_PATH.lstrip("/"), DashboardConsumer.as_asgi())]
