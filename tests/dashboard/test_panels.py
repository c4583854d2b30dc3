"""The dashboard's panels beyond the traffic totals: throttled and refused requests, top keys,
cache efficiency, the chart's axes and every table's empty state."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dashboard import selectors
from dashboard.fragments import TEMPLATE
from dashboard.models import RequestLog

pytestmark = pytest.mark.django_db(transaction=True)


def log(**fields):
    fields.setdefault("created", timezone.now())
    return RequestLog.objects.create(**fields)


def key(name):
    from clients.services import client_key_create

    return client_key_create(name=name)[0]


def render(name, totals):
    return render_to_string(f"{TEMPLATE}#{name}", {"totals": totals})


def test_refusals_per_key_and_reason_sum_aggregated_rows():
    alice, bob = key("alice"), key("bob")
    now = timezone.now()
    log(client_key=alice, status=429, refusal="rate_limit", created=now - timedelta(minutes=5))
    log(client_key=alice, status=429, refusal="rate_limit", count=40, created=now - timedelta(minutes=4))
    log(client_key=alice, status=429, refusal="budget", created=now - timedelta(minutes=3))
    log(client_key=bob, status=413, refusal="too_large", created=now - timedelta(minutes=2))
    log(status=401, refusal="bad_key", created=now - timedelta(minutes=1))
    log(client_key=bob, status=429, refusal="rate_limit", created=now - timedelta(days=2))  # outside the day
    log(client_key=alice, status=200, provider="openai")  # served: not a refusal
    rows = selectors.request_totals(now).refusals
    assert [(r.client, r.refusal, r.status, r.requests) for r in rows] == [
        ("(no key)", "bad_key", 401, 1), ("bob", "too_large", 413, 1), ("alice", "budget", 429, 1),
        ("alice", "rate_limit", 429, 41)]
    assert rows[-1].reason == "key rate limit (429)"


def test_cache_efficiency_per_key_and_provider():
    alice = key("alice")
    log(client_key=alice, provider="anthropic", status=200, input_tokens=200, cached_tokens=1800, output_tokens=9)
    log(client_key=alice, provider="anthropic", status=200, input_tokens=1000, cached_tokens=0)
    log(provider="openai", status=200, input_tokens=500, cached_tokens=500)
    log(client_key=alice, status=429, refusal="rate_limit")
    totals = selectors.request_totals()
    by = {(kind, row.label): row for kind, row in totals.cache_rows}
    anthropic, openai, alice_row = by["provider", "anthropic"], by["provider", "openai"], by["key", "alice"]
    assert (anthropic.day_input_tokens, anthropic.day_cached_tokens, anthropic.hit_percent) == (1200, 1800, 60)
    assert (openai.hit_percent, alice_row.hit_percent, by["key", "(open access)"].hit_percent) == (50, 60, 50)
    assert alice_row.day_saved is None  # no prices yet: shown as unknown
    html = render("cache", totals)
    assert "60 %" in html and "50 %" in html
    assert html.count('class="unknown"') == 4 and "$0" not in html


def test_top_keys_by_tokens_with_cost_unknown():
    for name, tokens in (("small", 10), ("big", 5000), ("mid", 300)):
        owner = key(name)
        log(client_key=owner, provider="openai", status=200, input_tokens=tokens, output_tokens=1)
    log(client_key=RequestLog.objects.get(input_tokens=10).client_key, provider="openai", status=200)
    totals = selectors.request_totals()
    assert [row.label for row in totals.top_keys] == ["big", "mid", "small"]
    html = render("top-keys", totals)
    assert html.index("<td>big<") < html.index("<td>mid<") < html.index("<td>small<")
    assert 'class="cost"><span class="unknown"' in html


def test_top_keys_by_cost_known_before_unknown_and_money_saved():
    from decimal import Decimal

    for name, tokens, cost in (("cheap", 9000, "0.010000"), ("dear", 100, "1.500000"), ("unpriced", 50000, None)):
        owner = key(name)
        log(client_key=owner, provider="anthropic", status=200, input_tokens=tokens, output_tokens=1,
            cost_usd=cost, cache_saved_usd="0.250000" if cost else None, cached_tokens=1000)
    log(client_key=RequestLog.objects.get(input_tokens=100).client_key, provider="openai", status=200,
        input_tokens=5, cost_usd=None)  # one unpriced request of an otherwise priced key
    totals = selectors.request_totals()
    assert [row.label for row in totals.top_keys] == ["dear", "cheap", "unpriced"]
    dear = totals.top_keys[0]
    assert (dear.day_cost, dear.day_unpriced, dear.day_saved) == (Decimal("1.5"), 1, Decimal("0.25"))
    assert totals.top_keys[2].day_cost is None
    html = render("top-keys", totals)
    assert "$1.5000" in html and "+ 1 unpriced" in html and "$0.0100" in html
    assert html.count('class="cost"><span class="unknown"') == 1  # the key with no priced request only
    cache = render("cache", totals)
    assert "$0.2500" in cache


def test_totals_are_five_queries():
    log(provider="openai", status=200)
    with CaptureQueriesContext(connection) as queries:
        selectors.request_totals()
    assert len(queries) == 5  # providers, keys, hours, sessions, refusals


def test_every_table_says_when_it_is_empty(client, staff_user):
    client.force_login(staff_user)
    html = client.get("/dashboard/").content.decode()
    for text in ("No providers yet", "No requests in the last 24 hours", "No requests in the last day",
                 "No keys used in the last day", "No input tokens in the last day",
                 "No throttled or refused requests in the last day", "No sessions in the last day",
                 "No requests yet", "No fallbacks yet", "No configuration changes yet"):
        assert text in html, text
    assert html.count('class="empty"') >= 11


def test_chart_has_labelled_axes_with_ticks():
    now = timezone.now()
    for _ in range(7):
        log(provider="openai", status=200, created=now)
    log(provider="openai", status=500, created=now - timedelta(hours=2))
    html = render("totals", selectors.request_totals(now))
    svg = html[html.index("<svg"):html.index("</svg>")]
    assert ">requests</text>" in svg and ">hour (UTC)</text>" in svg
    assert re.findall(r'class="y-tick"[^>]*>(\d+)<', svg) == ["0", "2", "4", "6", "8"]
    assert len(re.findall(r'class="x-tick"[^>]*>\d\d:00<', svg)) == 5
    assert "No requests in the last 24 hours" not in svg


def test_a_refusal_without_a_key_is_no_keys_total():
    alice = key("alice")
    log(status=401, refusal="bad_key")
    log(client_key=alice, status=429, refusal="rate_limit")
    log(provider="openai", status=200)  # open access: a key-less request that was served
    by_key = {row.label: row for row in selectors.request_totals().keys}
    assert (by_key["alice"].day_requests, by_key["alice"].day_throttled) == (0, 1)
    assert (by_key["(open access)"].day_requests, by_key["(open access)"].day_throttled) == (1, 0)
