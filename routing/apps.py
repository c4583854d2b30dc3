from __future__ import annotations

from django.apps import AppConfig

# Rows the route table is built from (routing/selectors.py): a write to any of them, by any app,
# makes this process reload the table once the write is committed.
ROUTE_TABLE_SOURCES = ("providers.Provider", "providers.OAuthToken", "routing.ModelTier",
                       "routing.TierEntry", "routing.Route", "routing.AgentFingerprint")


class RoutingConfig(AppConfig):
    name = "routing"

    def ready(self) -> None:
        from django.apps import apps
        from django.db.models.signals import post_delete, post_save

        from providers.signals import provider_credential_changed, provider_probed
        from routing.circuits import circuits_feed_probe
        from routing.services import route_config_changed

        for label in ROUTE_TABLE_SOURCES:
            model = apps.get_model(label)
            for signal in (post_save, post_delete):
                signal.connect(route_config_changed, sender=model, dispatch_uid=f"route-table-{label}-{signal}")
        provider_credential_changed.connect(route_config_changed, dispatch_uid="route-table-credential")
        provider_probed.connect(circuits_feed_probe, dispatch_uid="circuits-feed-probe")
