from __future__ import annotations

import pytest
from channels.layers import channel_layers


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """A new in-memory channel layer per test: its queues belong to one event loop."""
    channel_layers.backends.clear()  # per-process state is reset by tests/conftest.py (reset_all)
    yield
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
