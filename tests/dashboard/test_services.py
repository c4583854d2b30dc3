from __future__ import annotations

import pytest
from django.core.cache import cache

from dashboard import services
from dashboard.models import RequestLog

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_dashboard_events_are_not_rendered_without_viewers(monkeypatch):
    await cache.adelete(services.VIEWERS_KEY)
    sent = []

    class Layer:
        async def group_send(self, group, event):
            sent.append(event)

    monkeypatch.setattr(services, "get_channel_layer", lambda: Layer())
    log = RequestLog(id=1, created=None, provider="p", status=200)
    await services.dashboard_event_send(logs=[log], fallbacks=[])
    assert sent == []
    await services.dashboard_viewer_present_mark()
    assert await services.dashboard_viewers_present()
