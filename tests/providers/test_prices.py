"""The admin's price rows (ModelPrice) over the shipped defaults: admin page, validation, loader."""

from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError

from providers.models import ModelPrice
from providers.prices import price_table_get, price_table_invalidate, price_table_load_sync
from providers.pricing import TokenUsage, cost, default_table
from tests.conftest import make_provider

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh():
    price_table_invalidate()
    yield
    price_table_invalidate()


@pytest.fixture
def admin_client(client, transactional_db):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_the_price_list_shows_the_shipped_defaults_read_only(admin_client):
    response = admin_client.get("/admin/providers/modelprice/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Shipped defaults (read-only)" in page
    assert "claude-sonnet-4-5" in page and "input $3.000000, output $15.000000" in page


def test_a_row_added_in_the_admin_prices_the_model_and_shows_the_default_it_replaces(admin_client):
    provider = make_provider("anthropic", "http://127.0.0.1:9", kind="anthropic", key="sk-ant-api03-fake-test-key")
    response = admin_client.post("/admin/providers/modelprice/add/", {
        "provider": provider.pk, "model": "claude-sonnet-4-5", "input": "2.5", "output": "12", "cache_read": "0.25",
        "note": "negotiated",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    row = ModelPrice.objects.get()
    from audit.models import AuditEntry

    entry = AuditEntry.objects.get(model="providers.ModelPrice", object_id=str(row.pk), action="create")
    assert entry.changes["input"]["new"] == "2.5"
    page = admin_client.get(f"/admin/providers/modelprice/{row.pk}/change/").content.decode()
    assert "input $3.000000, output $15.000000" in page  # the shipped default, for comparison
    price = price_table_load_sync().lookup("anthropic", "claude-sonnet-4-5-20250929")
    assert (price.input, price.output, price.cache_read, price.cache_write) == (
        Decimal("2.5"), Decimal("12"), Decimal("0.25"), Decimal("2.5"))  # blank cache write: billed as input
    assert price_table_load_sync().lookup("bedrock", "claude-sonnet-4-5") == default_table().lookup(
        None, "claude-sonnet-4-5")  # another provider keeps the default


def test_a_long_context_tier_needs_its_threshold_and_prices():
    with pytest.raises(ValidationError, match="threshold"):
        ModelPrice(model="m", input=1, output=2, long_context_input=2, long_context_output=4).full_clean()
    with pytest.raises(ValidationError, match="input and output"):
        ModelPrice(model="m", input=1, output=2, long_context_threshold=1000).full_clean()
    row = ModelPrice(model="acme-large", input=Decimal(1), output=Decimal(2), long_context_threshold=1000,
                     long_context_input=Decimal(2), long_context_output=Decimal(4))
    row.full_clean()
    row.save()
    price = price_table_load_sync().lookup("any", "acme-large")
    assert cost(TokenUsage(input_tokens=1000, output_tokens=1000), price) == Decimal("0.003")
    assert cost(TokenUsage(input_tokens=1001, output_tokens=1000), price) == Decimal("0.006002")


def test_an_unknown_model_stays_unknown_until_a_row_prices_it():
    assert price_table_load_sync().lookup(None, "acme-mystery-9") is None
    ModelPrice.objects.create(model="acme-mystery-9", input=Decimal("0.5"), output=Decimal("1"))
    assert price_table_load_sync().lookup("whichever", "acme-mystery-9").input == Decimal("0.5")


@pytest.mark.asyncio
async def test_the_cached_table_is_reloaded_after_a_save_or_delete():
    assert (await price_table_get()).lookup(None, "acme-mystery-9") is None
    row = await ModelPrice.objects.acreate(model="acme-mystery-9", input=Decimal("0.5"), output=Decimal("1"))
    assert (await price_table_get()).lookup(None, "acme-mystery-9").output == Decimal("1")
    await sync_to_async(row.delete)()
    assert (await price_table_get()).lookup(None, "acme-mystery-9") is None
