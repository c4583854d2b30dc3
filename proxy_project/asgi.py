from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

from runtime import memory

memory.arenas_limit()  # before Django and the servers start their threads

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proxy_project.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from dashboard.routing import websocket_urlpatterns  # noqa: E402
from proxy_project.handlers import FULL_STACK_PREFIXES, ApiASGIHandler  # noqa: E402
from proxy_project.security import SettingsOriginValidator  # noqa: E402

api_asgi_app = ApiASGIHandler()


async def http_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The API (/v1/…, /{provider}:{model}/v1/…, /health, HEAD /) takes the lean handler."""
    path: str = scope["path"]
    if path.startswith(FULL_STACK_PREFIXES):
        await django_asgi_app(scope, receive, send)
    else:
        await api_asgi_app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http_app,
        # Origin from ALLOWED_HOSTS/CSRF_TRUSTED_ORIGINS only, even when ALLOWED_HOSTS is "*".
        "websocket": SettingsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
