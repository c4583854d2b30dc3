from __future__ import annotations

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """Observability: the request log (one row per client request), metrics, console lines and the
    live dashboard. Receives what it shows through gateway.records and providers.signals."""

    name = "dashboard"

    def ready(self) -> None:
        from dashboard.services import LogSink, status_changed_receive
        from dashboard.tracing import tracing_sink
        from gateway.records import sink_install
        from providers.signals import provider_probed, provider_status_changed

        sink_install(LogSink())
        traces = tracing_sink()
        if traces is not None:
            sink_install(traces)
        provider_probed.connect(status_changed_receive, dispatch_uid="dashboard-probed")
        provider_status_changed.connect(status_changed_receive, dispatch_uid="dashboard-status")
