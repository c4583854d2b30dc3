from __future__ import annotations

from django.db import models


class RequestLog(models.Model):
    """One row per client request: what the client got, from which provider (the last one tried).

    Each upstream call made for it is a RequestAttempt row. A request the gateway refused itself
    (401, 408, 413, 429 key limits, 529 shed) is a row with ``refusal`` set and no provider;
    past REFUSAL_ROWS_PER_SECOND for one key and reason in one second the rest of that second
    become one row whose ``count`` says how many requests it stands for (a flood costs a row a
    second, the numbers stay exact). Every count sums ``count``. Never holds a secret: no
    headers, no bodies.
    """

    class Refusal(models.TextChoices):
        NONE = "", "served"
        BAD_KEY = "bad_key", "invalid key (401)"
        RATE_LIMIT = "rate_limit", "key rate limit (429)"
        BUDGET = "budget", "key budget: tokens or money (429)"
        TOO_LARGE = "too_large", "body too large (413)"
        BODY_TIMEOUT = "body_timeout", "body too slow (408)"
        SHED = "shed", "gateway at capacity (529)"

    # The recent-requests stream and the admin's default order (ORDER BY created DESC LIMIT n),
    # the admin's time filter, the dashboard's hour/day totals (range scans) and retention deletes.
    created = models.DateTimeField(db_index=True)
    client_key = models.ForeignKey(
        "clients.ClientKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
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
    cached_tokens = models.PositiveIntegerField(default=0)  # prompt-cache reads
    cache_write_tokens = models.PositiveIntegerField(default=0)  # prompt-cache writes
    # USD from the price table (gateway/costing.py); NULL: the price of this provider and model is
    # unknown, never a silent $0. cache_saved_usd: what the prompt cache saved (negative when it only wrote).
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    cache_saved_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    agent = models.CharField(max_length=100, blank=True)  # the agent id header, else the fingerprinted agent
    stop_reason = models.CharField(max_length=32, blank=True)
    route_reason = models.CharField(max_length=200, blank=True)
    session_id = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    ledger = models.JSONField(default=list, blank=True)
    refusal = models.CharField(max_length=16, choices=Refusal.choices, default="", blank=True)
    count = models.PositiveIntegerField(default=1)  # >1 only for an aggregated flood of refusals
    attempt_count = models.PositiveSmallIntegerField(default=0)  # upstream calls (RequestAttempt rows)

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


class RequestAttempt(models.Model):
    """One upstream call made for a RequestLog: its own status and latency.

    A separate table rather than FallbackEvent: a fallback event is the dashboard's feed of
    provider-to-provider moves (one per move, written even when the client's request still
    fails), while attempts are every call, the successful one included, tied to their request
    (the provider's error rate of real traffic is counted from them).
    """

    request = models.ForeignKey(RequestLog, on_delete=models.CASCADE, related_name="attempts")
    created = models.DateTimeField()
    number = models.PositiveSmallIntegerField(default=1)  # 1 for the first call of its request
    provider = models.CharField(max_length=64, blank=True)
    upstream_model = models.CharField(max_length=200, blank=True)
    status = models.PositiveSmallIntegerField(default=0)
    latency_ms = models.FloatField(default=0)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["request_id", "number"]
        indexes = [
            # provider error rates of the last minutes (WHERE created >= %s GROUP BY provider), retention
            models.Index(fields=["created", "provider"], name="attempt_created_provider"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.provider}/{self.upstream_model} {self.status}"
