from __future__ import annotations

from django.db import models


class RequestLog(models.Model):
    """One row per gateway request. Never holds a secret: no headers, no bodies."""

    # The recent-requests stream and the admin's default order (ORDER BY created DESC LIMIT n),
    # the admin's time filter, the dashboard's hour/day totals (range scans) and retention deletes.
    created = models.DateTimeField(db_index=True)
    client_key = models.ForeignKey(
        "providers.ClientKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    endpoint = models.CharField(max_length=32, default="messages")
    requested_model = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    upstream_model = models.CharField(max_length=200, blank=True)
    stream = models.BooleanField(default=False)
    status = models.PositiveSmallIntegerField(default=0)
    latency_ms = models.FloatField(default=0)
    ttft_ms = models.FloatField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    stop_reason = models.CharField(max_length=32, blank=True)
    route_reason = models.CharField(max_length=200, blank=True)
    session_id = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    ledger = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            # admin: provider filter, newest first (WHERE provider = %s ORDER BY created DESC LIMIT 100)
            models.Index(fields=["provider", "-created"], name="reqlog_provider_created"),
            # admin: client key filter, newest first; also the FK lookup on key deletion
            models.Index(fields=["client_key", "-created"], name="reqlog_key_created"),
            # admin: status filter, newest first; makes the rare classes (5xx, 429) fast
            models.Index(fields=["status", "-created"], name="reqlog_status_created"),
            # admin: upstream model filter, newest first
            models.Index(fields=["upstream_model", "-created"], name="reqlog_model_created"),
        ]

    def __str__(self) -> str:
        return f"{self.created:%H:%M:%S} {self.requested_model} -> {self.provider} {self.status}"


class FallbackEvent(models.Model):
    created = models.DateTimeField(db_index=True)  # dashboard feed, retention deletes
    from_provider = models.CharField(max_length=64)
    from_model = models.CharField(max_length=200)
    to_provider = models.CharField(max_length=64)
    to_model = models.CharField(max_length=200)
    reason = models.CharField(max_length=300)
    status = models.PositiveSmallIntegerField(default=0)
    requested_model = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            # per-provider fallback history on the dashboard
            models.Index(fields=["from_provider", "-created"], name="fallback_from_created"),
        ]

    def __str__(self) -> str:
        return f"{self.from_provider}/{self.from_model} -> {self.to_provider}/{self.to_model}: {self.reason}"
