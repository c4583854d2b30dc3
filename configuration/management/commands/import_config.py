from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from audit.commands import AuditedCommand
from configuration.services import FORMATS, ConfigError, config_import, config_load


class Command(AuditedCommand):
    help = (
        "Read configuration files into the database, all or nothing. Formats (detected, or --format): "
        "gateway (what export_config writes); claude-proxy YAML (routing.model_routing, "
        "routing.agent_routing, fallback, upstream); ccproxy settings.json (providers.<name>.{apiKey, "
        "baseURL, responseStyle}, models.{bigModel, middleModel, smallModel} as model or model@provider; "
        "several files are layers merged in the order given: user, project, managed); providers.json "
        "(providers[] with priority, models {big, middle, small}, type openai/anthropic/azure with api_version, "
        "custom_headers; fallback_strategy, circuit_breaker); "
        "agent_hashes.json (from generate_hashes). Providers, tiers and agents are updated by name or "
        "fingerprint; tier entries and (when the file has them) routes are replaced. Errors name the file, "
        "the line and key, and what was expected; every error of every file is listed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE", help="configuration files, later ones win")
        parser.add_argument("--format", choices=FORMATS, help="read every file as this format")
        parser.add_argument("--replace", action="store_true",
                            help="also delete providers, tiers and agents the files do not name")
        parser.add_argument("--dry-run", action="store_true", help="check the files, write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        files = options["files"]
        try:
            data = config_load(files, fmt=options["format"])
            if options["dry_run"]:
                counts = {k: len(data.get(k, [])) for k in ("providers", "tiers", "routes", "agents")}
                self.stdout.write("ok (nothing written): " + ", ".join(f"{v} {k}" for k, v in counts.items()))
                return
            report = config_import(data=data, source=" + ".join(files), replace=options["replace"],
                                   progress=self._progress)
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        for note in report.notes:
            self.stdout.write(f"note: {note}")
        summary = ", ".join(f"{count} {name}" for name, count in report.counts.items())
        self.stdout.write(self.style.SUCCESS(f"imported {summary}"))

    def _progress(self, message: str) -> None:
        self.stderr.write(message)
