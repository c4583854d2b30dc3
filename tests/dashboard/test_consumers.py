from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from dashboard.consumers import FORBIDDEN
from dashboard.services import (
    dashboard_status_send,
    fallback_event_record,
    request_log_aflush,
    request_log_record,
)
from proxy_project.asgi import application
from tests.conftest import make_provider
from tests.dashboard.conftest import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)
WS = "/ws/dashboard/"


async def connect(user=None) -> tuple[WebsocketCommunicator, bool, object]:
    headers = [(b"origin", b"http://testserver")]
    if user is not None:
        cookie = await sync_to_async(session_cookie)(user)
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, WS, headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def receive_until(communicator: WebsocketCommunicator, needle: str) -> str:
    """Messages until one contains ``needle``: the dashboard promises updates within a second."""
    seen: list[str] = []
    try:
        async with asyncio.timeout(1.0):
            while True:
                message = await communicator.receive_from(timeout=5)
                if needle in message:
                    return message
                seen.append(message[:200])
    except TimeoutError:
        raise AssertionError(f"no message with {needle!r} within a second; got {seen}") from None


async def test_dashboard_consumer_refuses_anonymous():
    communicator, connected, code = await connect()
    assert not connected
    assert code == FORBIDDEN


async def test_dashboard_consumer_refuses_non_staff(plain_user):
    communicator, connected, code = await connect(plain_user)
    assert not connected
    assert code == FORBIDDEN


async def test_dashboard_consumer_sends_snapshot_on_connect(staff_user):
    provider = await sync_to_async(make_provider)("openai", "http://127.0.0.1:9/v1")
    request_log_record(requested_model="claude-sonnet-5", provider="openai", upstream_model="gpt-old", status=200)
    await request_log_aflush()
    communicator, connected, _ = await connect(staff_user)
    assert connected
    snapshot = await communicator.receive_from(timeout=2)
    for panel in ('id="live"', 'id="redis-state"', 'id="providers"', 'id="totals"', 'id="requests"', 'id="fallbacks"'):
        assert panel in snapshot
    assert snapshot.count('hx-swap-oob="true"') == 6  # whole panels replace, so a reconnect never duplicates
    assert f'id="provider-{provider.pk}"' in snapshot and "gpt-old" in snapshot
    await communicator.disconnect()


async def test_dashboard_consumer_streams_new_rows_and_provider_status(staff_user, settings):
    settings.DASHBOARD_TOTALS_INTERVAL = 0
    provider = await sync_to_async(make_provider)("openai", "http://127.0.0.1:9/v1")
    communicator, connected, _ = await connect(staff_user)
    assert connected
    await communicator.receive_from(timeout=2)  # snapshot

    request_log_record(requested_model="claude-sonnet-5", provider="openai", upstream_model="gpt-new",
                       status=200, input_tokens=12, output_tokens=3, route_reason="tier:middle:openai")
    await request_log_aflush()
    row = await receive_until(communicator, "gpt-new")
    assert row.startswith('<tbody hx-swap-oob="afterbegin:#recent-requests">')
    assert "tier:middle:openai" in row and "12 / 3" in row
    assert "<table" not in row  # a row, never the table
    status = await receive_until(communicator, f'id="provider-{provider.pk}"')
    assert 'hx-swap-oob="true"' in status and "healthy" in status
    totals = await receive_until(communicator, 'id="totals"')
    assert "<svg" in totals
    await communicator.disconnect()


async def test_dashboard_consumer_streams_fallback_events(staff_user):
    communicator, connected, _ = await connect(staff_user)
    await communicator.receive_from(timeout=2)
    fallback_event_record(from_provider="anthropic", from_model="claude-x", to_provider="openai",
                          to_model="gpt-y", reason="529 overloaded_error: busy", status=529)
    await request_log_aflush()
    message = await receive_until(communicator, "overloaded_error")
    assert 'afterbegin:#fallback-events' in message
    await communicator.disconnect()


async def test_dashboard_consumer_drops_rows_its_snapshot_holds(staff_user):
    from channels.layers import get_channel_layer

    from dashboard import fragments

    request_log_record(requested_model="m", provider="", upstream_model="seen-already", status=200)
    await request_log_aflush()
    communicator, connected, _ = await connect(staff_user)
    snapshot = await communicator.receive_from(timeout=2)
    ids = [int(part.split('"')[0]) for part in snapshot.split('id="request-')[1:]]
    layer = get_channel_layer()
    await layer.group_send(fragments.GROUP, fragments.event("<tr>dup</tr>", kind="requests", ids=ids))
    await layer.group_send(fragments.GROUP, fragments.event("<tr>fresh</tr>", kind="requests", ids=[10**9]))
    assert await communicator.receive_from(timeout=1) == "<tr>fresh</tr>"
    await communicator.disconnect()


async def test_dashboard_consumer_reconnect_catches_up(staff_user):
    communicator, connected, _ = await connect(staff_user)
    await communicator.receive_from(timeout=2)
    await communicator.disconnect()
    request_log_record(requested_model="m", provider="", upstream_model="while-away", status=200)
    await request_log_aflush()
    communicator, connected, _ = await connect(staff_user)
    assert "while-away" in await communicator.receive_from(timeout=2)
    await communicator.disconnect()


async def test_dashboard_status_send_from_sync_code_reaches_browsers(staff_user):
    provider = await sync_to_async(make_provider)("anthropic", "http://127.0.0.1:9", kind="anthropic")
    communicator, connected, _ = await connect(staff_user)
    await communicator.receive_from(timeout=2)
    await sync_to_async(dashboard_status_send)(provider_ids=[provider.pk])
    message = await receive_until(communicator, f'id="provider-{provider.pk}"')
    assert message.startswith("<tr") and "<table" not in message
    await communicator.disconnect()


async def test_dashboard_totals_follow_a_request_written_inside_the_interval(staff_user, settings):
    """Totals due from a flush inside DASHBOARD_TOTALS_INTERVAL go out on a later flush that writes
    nothing (they used to wait for the next request: the per-key lag)."""
    from clients.services import client_key_create
    from dashboard import services

    settings.DASHBOARD_TOTALS_INTERVAL = 60
    alice, _ = await sync_to_async(client_key_create)(name="alice")
    communicator, connected, _ = await connect(staff_user)
    await communicator.receive_from(timeout=2)
    request_log_record(client_key_id=alice.pk, requested_model="m", provider="openai", status=200, input_tokens=4)
    await request_log_aflush()
    first = await receive_until(communicator, 'id="totals"')
    assert "<td>alice</td><td>1 / 0 / 4</td>" in first
    request_log_record(client_key_id=alice.pk, requested_model="m", provider="openai", status=200, input_tokens=3)
    await request_log_aflush()  # inside the interval: the row goes out, the totals wait
    await receive_until(communicator, "request-")
    services._totals["sent"] -= 60  # the interval has passed
    assert await request_log_aflush() == 0
    second = await receive_until(communicator, 'id="totals"')
    assert "<td>alice</td><td>2 / 0 / 7</td>" in second
    await communicator.disconnect()


async def test_dashboard_reconnect_snapshot_holds_totals_and_refusals_missed_meanwhile(staff_user):
    from clients.services import client_key_create
    from dashboard.services import refusal_record

    alice, _ = await sync_to_async(client_key_create)(name="alice")
    communicator, connected, _ = await connect(staff_user)
    assert "No throttled or refused requests" in await communicator.receive_from(timeout=2)
    await communicator.disconnect()
    for tokens in (5, 6):
        request_log_record(client_key_id=alice.pk, requested_model="m", provider="openai", status=200,
                           input_tokens=tokens, cached_tokens=11)
    refusal_record(key_id=alice.pk, client_name="alice", status=429, reason="rate_limit", endpoint="messages")
    await request_log_aflush()
    communicator, connected, _ = await connect(staff_user)
    snapshot = await communicator.receive_from(timeout=2)
    assert "<td>alice</td><td>2 / 0 / 11</td>" in snapshot  # per key, the hour
    assert '<tr class="refusal"><td>alice</td><td>key rate limit (429)</td><td>429</td><td>1</td>' in snapshot
    assert '<td class="hit-rate">67 %</td>' in snapshot  # 22 cache reads of 33 input tokens
    assert 'id="live" class="live"' in snapshot
    await communicator.disconnect()


async def test_dashboard_consumer_heartbeat_stamps_the_indicator(staff_user, monkeypatch):
    from dashboard import consumers

    monkeypatch.setattr(consumers, "VIEWER_TTL", 0.3)
    communicator, connected, _ = await connect(staff_user)
    await communicator.receive_from(timeout=2)
    stamp = await receive_until(communicator, 'id="live"')
    assert stamp.startswith('<span id="live" class="live"') and 'hx-swap-oob="true"' in stamp
    assert 'data-tz="UTC"' in stamp
    await communicator.disconnect()
