from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from dashboard.models import RequestLog
from dashboard.reports import (
    client_key_rows,
    cost_summary,
    provider_rows,
    usage_by_agent,
    usage_by_key,
    usage_by_model,
)
from dashboard.selectors import SERVED, provider_health_summary
from providers.models import OAuthToken
from providers.pricing import format_usd
from routing.models import CircuitState


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    return [line, *("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)]


def _ago(when: datetime | None) -> str:
    if when is None:
        return "-"
    seconds = int((timezone.now() - when).total_seconds())
    return f"{seconds}s ago" if seconds < 120 else f"{seconds // 60}m ago" if seconds < 7200 else f"{seconds // 3600}h ago"


def _cost_today(used: dict[str, Any]) -> dict[str, Any]:
    """A key's cost today, as usage_by_key summed it (no row today: $0, nothing was used)."""
    summary = used or cost_summary(None, 0)
    return {"cost_today": summary["cost"], "cost_usd_today": summary["cost_usd"],
            "unpriced_today": summary["unpriced_requests"]}


def _limits(key: dict[str, Any]) -> str:
    limits = [f"{v}/{n}" for n, v in (("min", key["requests_per_minute"]), ("day", key["requests_per_day"]),
                                       ("tok/day", key["tokens_per_day"])) if v is not None]
    limits += [f"${v}/{n}" for n, v in (("day", key["usd_per_day"]), ("month", key["usd_per_month"])) if v is not None]
    return ", ".join(limits) or "none"


class Command(BaseCommand):
    help = ("Show the gateway's state in the terminal: providers with their circuit state, open circuits, "
            "OAuth tokens, client keys with today's usage, cost and limits, today's cost per model and "
            "per agent, and the last requests. A cost is \"unknown\" when the model has no price, never $0.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--last", type=int, default=10, metavar="N", help="how many recent requests (10)")
        parser.add_argument("--json", action="store_true", help="print one JSON document instead")

    def handle(self, *args: Any, **options: Any) -> None:
        data = self._collect(options["last"])
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2, default=str))
            return
        self._section("Providers", data["providers"], ["name", "kind", "base_url", "priority", "enabled", "health",
                                                       "circuit", "failures"])
        self._section("Circuits (not closed)", data["circuits"], ["provider", "model", "state", "failures", "reason"])
        self._section("OAuth tokens", data["tokens"], ["provider", "expires", "last_refresh", "failures", "error"])
        self._section("Client keys", data["keys"], ["name", "prefix", "enabled", "requests_today", "errors_today",
                                                    "throttled_today", "tokens_today", "cost_today", "limits",
                                                    "last_used"])
        self._section("Cost today by model", data["models"], ["provider", "model", "requests", "tokens", "cost"])
        self._section("Cost today by agent", data["agents"], ["agent", "requests", "tokens", "cost"])
        self._section(f"Last {options['last']} requests", data["requests"],
                      ["when", "client", "model", "provider", "status", "ms", "tokens_in", "tokens_out", "cost",
                       "attempts"])

    def _section(self, title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(title))
        if not rows:
            self.stdout.write("  (none)")
        for line in _table([[row.get(c, "") for c in columns] for row in rows], columns) if rows else []:
            self.stdout.write(("  " + line).rstrip())
        self.stdout.write("")

    def _collect(self, last: int) -> dict[str, Any]:
        """Queries: providers, circuits (twice), OAuth tokens, client keys, today's usage, the last requests."""
        circuits = [
            {"provider": c.provider.name, "model": c.model, "state": c.state, "failures": c.failure_count,
             "reason": c.reason}
            for c in CircuitState.objects.select_related("provider").exclude(state="closed", failure_count=0)
        ]
        tokens = [
            {"provider": t.provider.name, "expires": t.expires_at or "-", "last_refresh": _ago(t.last_refresh_at),
             "failures": t.refresh_failures, "error": t.last_error[:60]}
            for t in OAuthToken.objects.select_related("provider").order_by("provider__name")
        ]
        today = {row["key_id"]: row for row in usage_by_key(days=1)}
        keys = []
        for k in client_key_rows():
            used = today.get(k["id"], {})
            keys.append({**k, "requests_today": used.get("requests", 0), "errors_today": used.get("errors", 0),
                         "throttled_today": used.get("throttled", 0),
                         "tokens_today": used.get("input_tokens", 0) + used.get("output_tokens", 0),
                         **_cost_today(used), "limits": _limits(k), "last_used": _ago(k["last_used"])})
        models = [{**m, "tokens": m["input_tokens"] + m["output_tokens"]} for m in usage_by_model(days=1)]
        agents = [{**a, "agent": a["agent"] or "(none)", "tokens": a["input_tokens"] + a["output_tokens"]}
                  for a in usage_by_agent(days=1)]
        requests = [
            {"when": _ago(r.created), "client": r.client_key.name if r.client_key else "-",
             "model": r.requested_model, "provider": r.provider or "-", "status": r.status,
             "ms": round(r.latency_ms), "tokens_in": r.input_tokens, "tokens_out": r.output_tokens,
             "cost": format_usd(r.cost_usd), "cost_usd": r.cost_usd, "attempts": r.attempt_count}
            # one row per client request; refusals are counted per key above, not listed
            for r in RequestLog.objects.filter(SERVED).select_related("client_key").order_by("-created")[: max(0, last)]
        ]
        health = {h.name: h for h in provider_health_summary()}  # as the dashboard and /health judge it
        providers = [{**p, "health": health[p["name"]].status if p["name"] in health else "-",
                      "health_reasons": list(health[p["name"]].reasons) if p["name"] in health else []}
                     for p in provider_rows()]
        return {"providers": providers, "circuits": circuits, "tokens": tokens, "keys": keys, "models": models,
                "agents": agents, "requests": requests}
