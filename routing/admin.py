from __future__ import annotations

from django.contrib import admin

from routing.models import ModelTier, TierEntry


class TierEntryInline(admin.TabularInline):
    model = TierEntry
    extra = 1
    fields = ("position", "provider", "model", "enabled")
    ordering = ("position",)


@admin.register(ModelTier)
class ModelTierAdmin(admin.ModelAdmin):
    list_display = ("name", "patterns", "strategy", "updated")
    inlines = [TierEntryInline]
