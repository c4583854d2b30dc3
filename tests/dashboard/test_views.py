from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboard import selectors
from dashboard.models import RequestLog
from routing.models import CircuitState
from tests.conftest import make_provider

pytestmark = pytest.mark.django_db(transaction=True)


def log(**fields):
    fields.setdefault("created", timezone.now())
    return RequestLog.objects.create(**fields)


def test_dashboard_index_redirects_anonymous_to_login(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["location"].startswith("/admin/login/?next=/dashboard/")


def test_dashboard_index_redirects_non_staff(client, plain_user):
    client.force_login(plain_user)
    assert client.get("/dashboard/").status_code == 302


def test_dashboard_index_renders_every_panel_with_local_htmx(client, staff_user):
    provider = make_provider("openai", "http://127.0.0.1:9/v1")
    log(requested_model="claude-sonnet-5", provider="openai", upstream_model="gpt-test", status=200,
        input_tokens=5, output_tokens=7, route_reason="tier:middle:openai")
    client.force_login(staff_user)
    response = client.get("/dashboard/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<script src="/static/dashboard/htmx.min.js">' in html
    assert '<script src="/static/dashboard/htmx-ext-ws.min.js">' in html
    assert "https://" not in html.split("<body")[0]  # no CDN
    assert 'hx-ext="ws" ws-connect="/ws/dashboard/"' in html
    assert f'id="provider-{provider.pk}"' in html and "healthy" in html
    assert "claude-sonnet-5 → openai/gpt-test" in html and "5 / 7" in html
    assert "<svg" in html


def test_dashboard_index_htmx_panel_is_a_partial(client, staff_user):
    make_provider("openai", "http://127.0.0.1:9/v1")
    client.force_login(staff_user)
    response = client.get("/dashboard/?panel=providers", headers={"HX-Request": "true"})
    html = response.content.decode().strip()
    assert html.startswith('<section id="providers"') and "<html" not in html
    assert 'hx-swap-oob' not in html.split(">")[0]


def test_dashboard_provider_status_shows_open_circuit_and_last_check(client, staff_user):
    provider = make_provider("openai", "http://127.0.0.1:9/v1", health_checked_at=timezone.now(), health_ok=False,
                             health_latency_ms=42.0, health_error="HTTP 503")
    CircuitState.objects.create(key="x", provider=provider, model="gpt", state="open", failure_count=5,
                                open_until=timezone.now().timestamp() + 60, reason="failed 503")
    [health] = selectors.provider_health_summary()
    assert (health.status, health.label, health.failure_count) == ("circuit_open", "circuit open", 5)
    client.force_login(staff_user)
    html = client.get("/dashboard/").content.decode()
    assert "circuit open" in html and "42 ms" in html and "failed: HTTP 503" in html


def test_provider_health_cooling_down_when_rate_limited():
    now = timezone.now().timestamp()
    provider = make_provider("anthropic", "http://127.0.0.1:9", kind="anthropic")
    CircuitState.objects.create(key="y", provider=provider, model="m", limited_until=now + 30, limit_streak=1,
                                reason="rate_limited")
    [health] = selectors.provider_health_summary(names=["anthropic"])
    assert health.status == "cooling_down" and health.until is not None


def test_request_totals_per_provider_and_key_for_hour_and_day():
    from clients.services import client_key_create

    key, _ = client_key_create(name="alice")
    now = timezone.now()
    log(provider="openai", client_key=key, status=200, input_tokens=10, output_tokens=5)
    log(provider="openai", client_key=key, status=503)
    log(provider="openai", status=499, created=now - timedelta(hours=3))  # a client hanging up: no error
    log(provider="anthropic", status=200, input_tokens=1, created=now - timedelta(hours=5))
    log(provider="openai", status=200, created=now - timedelta(days=2))  # outside the day
    totals = selectors.request_totals(now)
    by_provider = {row.label: row for row in totals.providers}
    openai = by_provider["openai"]
    assert (openai.hour_requests, openai.hour_errors, openai.hour_tokens) == (2, 1, 15)
    assert (openai.day_requests, openai.day_errors, openai.day_tokens) == (3, 1, 15)
    assert by_provider["anthropic"].hour_requests == 0 and by_provider["anthropic"].day_requests == 1
    assert openai.bar == 100 and by_provider["anthropic"].bar == 33
    by_key = {row.label: row for row in totals.keys}
    assert by_key["alice"].day_requests == 2 and by_key["(open access)"].day_requests == 2
    assert len(totals.hours) == 24 and totals.hours[-1].requests == 2 and totals.peak == 2
    assert totals.hours[-1].height == selectors.CHART_HEIGHT


def test_hour_bars_scale_to_busiest_hour():
    now = timezone.now().replace(minute=30)
    start = now.replace(minute=0, second=0, microsecond=0)
    bars, peak = selectors.hour_bars(now, {start: (10, 5), start - timedelta(hours=1): (5, 0)})
    assert peak == 10
    h = selectors.CHART_HEIGHT  # the y axis tops at 10 (a 1-2-5 step covers 10 in 4 steps)
    assert (bars[-1].height, bars[-1].error_height, bars[-2].height) == (h, h // 2, h // 2)
    assert bars[0].x == 0 and bars[-1].x == 23 * (selectors.BAR_WIDTH + selectors.BAR_GAP)


def test_static_files_are_served_with_debug_off(client, settings):
    settings.DEBUG = False
    for path in ("/static/dashboard/htmx.min.js", "/static/dashboard/htmx-ext-ws.min.js", "/static/admin/css/base.css"):
        response = client.get(path)
        assert response.status_code == 200, path
        b"".join(response.streaming_content)
    from django.test import Client

    outside = Client(raise_request_exception=False).get("/static/dashboard/../../proxy_project/settings.py")
    assert outside.status_code in (400, 404)  # SuspiciousFileOperation: never served


def test_recent_requests_is_one_query():
    for i in range(3):
        log(requested_model=f"m{i}", status=200)
    with CaptureQueriesContext(connection) as queries:
        rows = selectors.recent_requests()
    assert len(queries) == 1
    assert [r.requested_model for r in rows] == ["m2", "m1", "m0"]


def test_request_totals_show_prompt_cache_hits_per_session():
    now = timezone.now()
    log(provider="anthropic", session_id="sess-a", input_tokens=1000, cached_tokens=0)
    log(provider="anthropic", session_id="sess-a", input_tokens=200, cached_tokens=1800)
    log(provider="openai", session_id="sess-b", input_tokens=500, cached_tokens=0, created=now - timedelta(hours=1))
    log(provider="openai", session_id="", input_tokens=5)
    sessions = selectors.request_totals(now).sessions
    assert [(s.session, s.requests, s.input_tokens, s.cached_tokens, s.hit_percent) for s in sessions] == [
        ("sess-a", 2, 1200, 1800, 60), ("sess-b", 1, 500, 0, 0)]
