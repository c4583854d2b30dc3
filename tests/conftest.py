from __future__ import annotations

import httpx
import pytest

import proxy_project.celery  # noqa: F401  (the Celery app, as workers load it: tasks bind to it)
from providers import client as upstream_client
from runtime.resets import reset_all

TEST_KEY = "sk-gw-test-0123456789abcdef"


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Every module's per-process state (runtime/resets.py) and the upstream transport, before and after."""
    reset_all()
    upstream_client.set_transport(None)
    yield
    reset_all()
    upstream_client.set_transport(None)


@pytest.fixture
def client_key(transactional_db):
    from clients.services import client_key_create

    row, plaintext = client_key_create(name="tests", key=TEST_KEY)
    return plaintext


@pytest.fixture
def staff_headers(transactional_db):
    """A staff user's admin bearer token (provider detail on /health, the admin API, the docs)."""
    from django.contrib.auth.models import User

    from clients.services import staff_token_create

    user = User.objects.create_user("tests-staff", password="pw-tests-staff", is_staff=True)
    return {"authorization": f"Bearer {staff_token_create(user=user, name='tests')[1]}"}


def make_provider(name: str, base_url: str, kind: str = "openai_compat", *, key: str = "sk-test-upstream-key",
                  priority: int = 0, **fields):
    from providers.models import Provider

    provider = Provider(name=name, kind=kind, base_url=base_url, priority=priority, **fields)
    provider.set_api_key(key)
    provider.save()
    return provider


def make_tiers(entries: dict[str, list[tuple[object, str]]] | None = None, default=None):
    """Tiers small/middle/big; ``default`` (provider, model) fills every tier not given."""
    from routing.models import ModelTier, TierEntry

    patterns = {"small": "haiku", "middle": "sonnet", "big": "opus"}
    entries = entries or {}
    for name, pattern in patterns.items():
        tier = ModelTier.objects.create(name=name, patterns=pattern)
        rows = entries.get(name) or ([default] if default else [])
        for position, (provider, model) in enumerate(rows):
            TierEntry.objects.create(tier=tier, provider=provider, model=model, position=position)


@pytest.fixture
def gateway_client(client_key):
    """An httpx client speaking to the real ASGI application in-process (no streaming granularity)."""
    from proxy_project.asgi import application

    transport = httpx.ASGITransport(app=application)
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.test",
                             headers={"x-api-key": client_key, "anthropic-version": "2023-06-01"},
                             timeout=30)


@pytest.fixture
def anthropic_sdk(client_key):
    import anthropic
    import httpx2  # the anthropic SDK's own httpx fork

    from proxy_project.asgi import application

    http_client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=application), base_url="http://gateway.test")
    return anthropic.AsyncAnthropic(api_key=client_key, base_url="http://gateway.test", http_client=http_client,
                                    max_retries=0)


@pytest.fixture
def openai_up(transactional_db):
    from tests.fakes import FakeOpenAI

    with FakeOpenAI() as up:
        provider = make_provider("openai", up.base_url)
        make_tiers(default=(provider, "gpt-test"))
        up.provider = provider
        yield up


@pytest.fixture
def anthropic_up(transactional_db):
    from tests.fakes import FakeAnthropic

    with FakeAnthropic() as up:
        up.provider = make_provider("anthropic", up.base_url, kind="anthropic", key="sk-ant-api03-fake-test-key")
        yield up


async def amake_provider(*args, **kwargs):
    from asgiref.sync import sync_to_async

    return await sync_to_async(make_provider)(*args, **kwargs)


async def amake_tiers(*args, **kwargs):
    from asgiref.sync import sync_to_async

    return await sync_to_async(make_tiers)(*args, **kwargs)
