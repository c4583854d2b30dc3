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


async def test_a_row_the_database_refuses_costs_no_other_row(client_key):
    """A client key deleted while its request ran (foreign key) fails the batch; row by row, every
    row is written, that one without its key."""
    from clients.models import ClientKey

    key = await ClientKey.objects.aget(name="tests")
    services.request_log_record(requested_model="a", status=200, client_key_id=key.pk)
    services.request_log_record(requested_model="gone", status=200, client_key_id=key.pk + 1000)
    services.request_log_record(requested_model="c\x00", status=200, ledger=[{"why": "\x00"}])
    assert await services.request_log_aflush() == 3
    rows = {r.requested_model: r async for r in RequestLog.objects.all()}
    assert set(rows) == {"a", "gone", "c\ufffd"}
    assert rows["gone"].client_key_id is None and rows["a"].client_key_id == key.pk
    assert rows["c\ufffd"].ledger == [{"why": "\ufffd"}]


async def test_rows_wait_while_the_database_is_down_and_the_oldest_go_at_the_bound(settings, caplog):
    settings.REQUEST_LOG_BACKLOG_MAX = 5
    services.DATABASE.failed(ConnectionError("refused"))  # in its back-off: no write is tried
    try:
        for i in range(8):
            services.request_log_record(requested_model=f"m{i}", status=200)
        assert await services.request_log_aflush() == 0
        services.request_log_record(requested_model="m8", status=200)
        assert await services.request_log_aflush() == 0
        assert [row["requested_model"] for row in services._pending] == ["m4", "m5", "m6", "m7", "m8"]
        assert sum("backlog is full" in r.message for r in caplog.records) == 1
    finally:
        services.DATABASE.retry_at = 0.0  # the back-off is over: the next flush writes
    assert await services.request_log_aflush() == 5
    assert not services.DATABASE.down
    assert any("4 rows were dropped" in r.message for r in caplog.records)
    assert await RequestLog.objects.acount() == 5


async def test_totals_slow_to_compute_are_sent_less_often(monkeypatch, settings):
    """Totals whose queries took t seconds wait TOTALS_DUTY * t (if longer than the interval)."""
    import time

    sent = []

    class Layer:
        async def group_send(self, group, event):
            sent.append(event)

    settings.DASHBOARD_TOTALS_INTERVAL = 0
    services._totals.update(due=True, sent=time.monotonic() - 5, took=2.0)  # due again at 8 s
    await services._totals_send(Layer())
    assert sent == [] and services._totals["due"]
    services._totals["sent"] -= 4
    await services._totals_send(Layer())
    assert len(sent) == 1 and 'id="totals"' in sent[0]["html"]
    assert not services._totals["due"] and services._totals["took"] < 2.0  # measured again
