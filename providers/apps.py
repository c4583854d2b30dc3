from __future__ import annotations

from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from providers.models import ModelPrice
        from providers.prices import model_price_changed

        for signal in (post_save, post_delete):  # an admin edit prices the next request in this process
            signal.connect(model_price_changed, sender=ModelPrice, dispatch_uid=f"price-table-{signal}")
