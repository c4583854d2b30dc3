from __future__ import annotations

from django.apps import AppConfig


class ClientsConfig(AppConfig):
    name = "clients"
    verbose_name = "Client keys"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from clients.models import ClientKey
        from clients.services import client_key_caches_clear

        # Whoever writes a key (admin, REST API, import, the keys command), this process forgets
        # its cached keys and budgets at once; the others within CLIENT_KEY_CACHE_TTL.
        for signal in (post_save, post_delete):
            signal.connect(client_key_caches_clear, sender=ClientKey, dispatch_uid=f"clients-cache-{signal}")
