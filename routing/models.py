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


class TierEntryQuerySet(models.QuerySet["TierEntry"]):
    def enabled(self) -> TierEntryQuerySet:
        return self.filter(enabled=True, provider__enabled=True)


class TierEntry(models.Model):
    tier = models.ForeignKey(ModelTier, on_delete=models.CASCADE, related_name="entries")
    provider = models.ForeignKey("providers.Provider", on_delete=models.CASCADE, related_name="tier_entries")
    model = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)
    enabled = models.BooleanField(default=True)
    updated = models.DateTimeField(auto_now=True)

    objects = TierEntryQuerySet.as_manager()

    class Meta:
        ordering = ["tier", "position", "id"]
        verbose_name_plural = "tier entries"

    def __str__(self) -> str:
        return f"{self.tier}: {self.model}@{self.provider.name}"
