"""The one Retry-After parser (providers/adapters/base.py), used by adapters and health checks."""

from __future__ import annotations

import email.utils

import pytest

from providers.adapters.base import parse_retry_after

NOW = 1_800_000_000.0
DATE = email.utils.formatdate(NOW, usegmt=True)
LATER = email.utils.formatdate(NOW + 42, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "now", "seconds"),
    [
        ({"retry-after": "7"}, None, 7.0),
        ({"retry-after": "1.5"}, None, 1.5),
        ({"retry-after": "0"}, None, 0.0),
        ({"retry-after": "-3"}, None, 0.0),
        ({"retry-after": LATER, "date": DATE}, None, 42.0),  # against the response's own clock
        ({"retry-after": LATER}, NOW, 42.0),  # no Date header: against the caller's clock
        ({"retry-after": LATER, "date": "garbage"}, NOW, 42.0),
        ({"retry-after": DATE, "date": LATER}, None, 0.0),  # a date in the past: retry now
        ({"retry-after": LATER}, None, None),  # a date and no clock at all: unusable
        ({"retry-after": "soon"}, NOW, None),
        ({"retry-after": "nan"}, None, None),
        ({"retry-after-ms": "2500", "retry-after": "9"}, None, 2.5),
        ({}, NOW, None),
    ],
)
def test_parse_retry_after_seconds_http_date_and_ms(headers, now, seconds):
    assert parse_retry_after(headers, now=now) == seconds


@pytest.mark.django_db(transaction=True)
def test_health_check_429_with_http_date_starts_an_explicit_cooldown():
    import time

    from providers.probes import health_check_run
    from routing.models import CircuitState
    from tests.conftest import make_provider, make_tiers
    from tests.fakes import FakeOpenAI, Reply

    with FakeOpenAI() as up:
        provider = make_provider("openai", up.base_url)
        make_tiers(default=(provider, "gpt-test"))
        until = email.utils.formatdate(time.time() + 42, usegmt=True)
        up.enqueue(Reply.error(429, headers={"retry-after": until}), path="/v1/models")
        result = health_check_run(provider_id=provider.pk, force=True)
    assert result.status == 429 and 39 <= (result.retry_after or 0) <= 43
    row = CircuitState.objects.get(provider=provider)
    assert row.limit_explicit and row.failure_count == 0 and row.state == "closed"
    assert 39 <= row.limited_until - time.time() <= 43
