from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboard.admin import COUNT_CAP
from dashboard.models import FallbackEvent, RequestLog
from tests.conftest import make_provider, make_tiers

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client(client, transactional_db):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def logs(n: int, **fields):
    now = timezone.now()
    RequestLog.objects.bulk_create(
        [RequestLog(created=now - timedelta(seconds=i), requested_model="claude-sonnet-5", **fields) for i in range(n)]
    )


def test_request_log_changelist_never_counts_the_whole_table(admin_client):
    logs(5, provider="openai", upstream_model="gpt-test", status=200)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get("/admin/dashboard/requestlog/")
    assert response.status_code == 200
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert counts, "the capped paginator counts"
    for sql in counts:
        assert "LIMIT" in sql.upper(), sql  # COUNT(*) over a LIMIT-ed subquery only
    assert "DISTINCT" not in " ".join(q["sql"].upper() for q in queries)


def test_request_log_paginator_count_is_capped(settings):
    from dashboard.admin import CappedCountPaginator

    logs(30)
    paginator = CappedCountPaginator(RequestLog.objects.order_by("-created"), 10)
    assert paginator.count == 30 and paginator.num_pages == 3
    import dashboard.admin as module

    original = module.COUNT_CAP
    module.COUNT_CAP = 12
    try:
        assert CappedCountPaginator(RequestLog.objects.order_by("-created"), 10).count == 12
    finally:
        module.COUNT_CAP = original
    assert COUNT_CAP == 10_000


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=5xx", {"err"}),
        ("status=429", {"limited"}),
        ("status=2xx", {"ok", "old"}),
        ("since=1h", {"ok", "err", "limited"}),
        ("provider=anthropic", {"err"}),
        ("model=gpt-test", {"ok", "old"}),
    ],
)
def test_request_log_filters(admin_client, query, expected):
    provider = make_provider("openai", "http://127.0.0.1:9/v1")
    make_provider("anthropic", "http://127.0.0.1:9", kind="anthropic")
    make_tiers(default=(provider, "gpt-test"))
    now = timezone.now()
    RequestLog.objects.create(created=now, requested_model="ok", provider="openai", upstream_model="gpt-test", status=200)
    RequestLog.objects.create(created=now, requested_model="err", provider="anthropic", upstream_model="c", status=503)
    RequestLog.objects.create(created=now, requested_model="limited", provider="openai", upstream_model="x", status=429)
    RequestLog.objects.create(created=now - timedelta(days=2), requested_model="old", provider="openai",
                              upstream_model="gpt-test", status=200)
    response = admin_client.get(f"/admin/dashboard/requestlog/?{query}")
    assert response.status_code == 200
    shown = {obj.requested_model for obj in response.context["cl"].result_list}
    assert shown == expected


def test_request_log_filter_by_client_key(admin_client):
    from clients.services import client_key_create

    key, _ = client_key_create(name="bob")
    RequestLog.objects.create(created=timezone.now(), requested_model="bobs", client_key=key)
    RequestLog.objects.create(created=timezone.now(), requested_model="other")
    response = admin_client.get(f"/admin/dashboard/requestlog/?client_key__id__exact={key.pk}")
    assert [o.requested_model for o in response.context["cl"].result_list] == ["bobs"]


def test_request_log_admin_is_read_only(admin_client):
    row = RequestLog.objects.create(created=timezone.now(), requested_model="m", status=200)
    assert admin_client.get("/admin/dashboard/requestlog/add/").status_code == 403
    page = admin_client.get(f"/admin/dashboard/requestlog/{row.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert admin_client.post(f"/admin/dashboard/requestlog/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert RequestLog.objects.filter(pk=row.pk).exists()


def test_fallback_event_admin_lists_and_filters(admin_client):
    make_provider("anthropic", "http://127.0.0.1:9", kind="anthropic")
    FallbackEvent.objects.create(created=timezone.now(), from_provider="anthropic", from_model="a", to_provider="openai",
                                 to_model="b", reason="529 overloaded", status=529)
    response = admin_client.get("/admin/dashboard/fallbackevent/?from_provider=anthropic&since=24h")
    assert response.status_code == 200 and len(response.context["cl"].result_list) == 1


def test_long_reasons_are_truncated_cells_with_the_whole_text_as_title(admin_client):
    reason = "fallback: openai/gpt-5-codex answered 529 overloaded, then anthropic/claude-sonnet-4-5 timed out"
    logs(1, provider="openai", upstream_model="gpt-test", status=200, route_reason=reason[:200])
    FallbackEvent.objects.create(created=timezone.now(), requested_model="claude-sonnet-5", from_provider="openai",
                                 from_model="gpt", to_provider="anthropic", to_model="claude", status=529,
                                 reason=reason)
    for url in ("/admin/dashboard/requestlog/", "/admin/dashboard/fallbackevent/"):
        page = admin_client.get(url).content.decode()
        assert f'<span class="gw-truncate" title="{reason}">{reason}</span>' in page, url


def test_request_log_list_shows_the_cost_or_unknown(admin_client):
    from decimal import Decimal

    logs(1, provider="openai", upstream_model="gpt-test", status=200, input_tokens=5, cost_usd=Decimal("0.0125"))
    logs(1, provider="openai", upstream_model="acme-mystery-9", status=200, input_tokens=5, cost_usd=None)
    page = admin_client.get("/admin/dashboard/requestlog/").content.decode()
    assert "$0.012500" in page and ">unknown<" in page
