from __future__ import annotations

import pytest
from channels.layers import channel_layers

from dashboard import services
from gateway import health
from gateway.traffic import TRAFFIC


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """A new in-memory channel layer per test: its queues belong to one event loop."""
    channel_layers.backends.clear()
    services._totals.update(due=False, sent=0.0, took=0.0)
    services.DATABASE.reset()
    services._refusals.clear()
    services._attempts_left.clear()
    TRAFFIC.clear()
    health._probes.update(at=0.0, rows={})
    yield
    services.DATABASE.reset()
    channel_layers.backends.clear()


@pytest.fixture
def staff_user(transactional_db):
    from django.contrib.auth.models import User

    return User.objects.create_user("ops", password="pw", is_staff=True)


@pytest.fixture
def plain_user(transactional_db):
    from django.contrib.auth.models import User

    return User.objects.create_user("someone", password="pw")


def session_cookie(user) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value
