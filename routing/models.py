from __future__ import annotations

from django.db import models


class ModelTier(models.Model):
    class Name(models.TextChoices):
        SMALL = "small", "small (haiku)"
        MIDDLE = "middle", "middle (sonnet)"
        BIG = "big", "big (opus)"

    class Strategy(models.TextChoices):
        PRIORITY = "priority", "priority"
        ROUND_ROBIN = "round_robin", "round robin"
        RANDOM = "random", "random"

    name = models.CharField(max_length=16, choices=Name.choices, unique=True)
    patterns = models.CharField(
        max_length=200, help_text="Comma-separated substrings of the requested model name, e.g. 'haiku'."
    )
    strategy = models.CharField(max_length=16, choices=Strategy.choices, default=Strategy.PRIORITY)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def pattern_list(self) -> list[str]:
        return [p.strip().lower() for p in self.patterns.split(",") if p.strip()]


class TierEntry(models.Model):
    tier = models.ForeignKey(ModelTier, on_delete=models.CASCADE, related_name="entries")
    provider = models.ForeignKey("providers.Provider", on_delete=models.CASCADE, related_name="tier_entries")
    model = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)
    enabled = models.BooleanField(default=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tier", "position", "id"]
        verbose_name_plural = "tier entries"

    def __str__(self) -> str:
        return f"{self.tier}: {self.model}@{self.provider.name}"


class Route(models.Model):
    """A scenario route: requests of one kind go to their own (provider, model) list."""

    class Scenario(models.TextChoices):
        LONG_CONTEXT = "long_context", "long context (estimated input above threshold)"
        THINKING = "thinking", "extended thinking enabled"
        BACKGROUND = "background", "background (haiku-class) requests"
        MODEL = "model", "requested model contains pattern"

    name = models.CharField(max_length=100)
    scenario = models.CharField(max_length=16, choices=Scenario.choices)
    pattern = models.CharField(max_length=200, blank=True, help_text="For 'model' routes: substring to match.")
    threshold = models.PositiveIntegerField(default=60_000, help_text="For long-context routes: input tokens.")
    provider = models.ForeignKey("providers.Provider", on_delete=models.CASCADE, related_name="routes")
    model = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)
    enabled = models.BooleanField(default=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scenario", "position", "id"]

    def __str__(self) -> str:
        return f"{self.name}: {self.scenario} -> {self.model}@{self.provider.name}"


class AgentFingerprintQuerySet(models.QuerySet["AgentFingerprint"]):
    def assigned(self) -> AgentFingerprintQuerySet:
        return self.exclude(model="")

    def unassigned(self) -> AgentFingerprintQuerySet:
        return self.filter(model="")

    def sightings(self) -> AgentFingerprintQuerySet:
        """Rows only traffic made: no model and no name (agent files and the admin give a name)."""
        return self.filter(model="", name="")


class AgentFingerprint(models.Model):
    """An agent's system-prompt hash and the model its requests should use.

    ``model`` is a tier name (small/middle/big or haiku/sonnet/opus), ``model@provider``, or a
    model name for the tier/default routing; empty means seen in traffic but not yet assigned.
    """

    fingerprint = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True, db_index=True)  # agent id header lookups
    description = models.TextField(blank=True)
    model = models.CharField(max_length=200, blank=True)
    sample = models.TextField(blank=True, help_text="The start of the prompt, to recognise the agent.")
    seen_count = models.PositiveIntegerField(default=0)
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    updated = models.DateTimeField(auto_now=True)

    objects = AgentFingerprintQuerySet.as_manager()

    class Meta:
        ordering = ["name", "fingerprint"]

    def __str__(self) -> str:
        return f"{self.name or '(unknown agent)'} [{self.fingerprint}] -> {self.model or 'unassigned'}"


class CircuitState(models.Model):
    """Circuit breaker state, shared by every web and Celery worker through the database.

    Transitions are conditional updates (see routing/circuits.py).
    """

    class State(models.TextChoices):
        CLOSED = "closed"
        OPEN = "open"
        HALF_OPEN = "half_open"

    key = models.CharField(max_length=300, unique=True)  # provider id : model : credential hash
    provider = models.ForeignKey("providers.Provider", on_delete=models.CASCADE, related_name="circuits")
    model = models.CharField(max_length=200)
    state = models.CharField(max_length=16, choices=State.choices, default=State.CLOSED)
    failure_count = models.PositiveIntegerField(default=0)
    open_until = models.FloatField(default=0)  # epoch seconds
    probe_since = models.FloatField(default=0)
    reason = models.CharField(max_length=200, blank=True)
    # The 429 cooldown, kept apart from the failure count (routing/breaker.py explains why).
    limited_until = models.FloatField(default=0)  # epoch seconds
    limit_streak = models.PositiveIntegerField(default=0)
    limit_explicit = models.BooleanField(default=False)  # limited_until is the provider's Retry-After
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "providers_circuitstate"  # the table predates the breaker's move to routing
        ordering = ["provider", "model"]

    def __str__(self) -> str:
        return f"{self.provider.name}/{self.model}: {self.state}"


class ConfigVersion(models.Model):
    """One row whose ``token`` changes with every committed write to the route table's rows
    (routing/apps.py ROUTE_TABLE_SOURCES, by any process): each process compares it every
    ROUTE_TABLE_TTL seconds (one query) and reloads the table (five queries and the provider
    decrypts) only when it changed. A fresh random token each time, so that a table flushed and
    written again (tests) can never repeat the token a process last saw."""

    token = models.CharField(max_length=32, default="")
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "routing_configversion"

    def __str__(self) -> str:
        return f"route configuration {self.token or '(never changed)'}"
