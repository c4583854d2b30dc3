from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from audit.commands import AuditedCommand
from configuration.canonical import TIER_PATTERNS, clean
from configuration.errors import Source
from configuration.seeding import DEFAULT_MODELS
from configuration.services import ConfigError, config_import

KINDS = {
    "openai_compat": ("https://api.openai.com/v1", DEFAULT_MODELS["openai"]),
    "anthropic": ("https://api.anthropic.com", DEFAULT_MODELS["anthropic"]),
    "bedrock": ("https://bedrock-runtime.us-east-1.amazonaws.com", DEFAULT_MODELS["anthropic"]),
}


class Command(AuditedCommand):
    help = (
        "Write a starting configuration (one provider and the small/middle/big tiers) as a gateway "
        "config file, from flags or by asking (on a terminal, or with --interactive). --import also "
        "loads it into the database; otherwise run `manage.py import_config FILE`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kind", choices=sorted(KINDS), help="backend kind (default openai_compat)")
        parser.add_argument("--name", help="provider name (default: openai, anthropic or bedrock)")
        parser.add_argument("--base-url", help="the backend's base URL (default: the kind's public API)")
        parser.add_argument("--api-key", help="the backend's API key (or set it later in the admin)")
        for tier in ("big", "middle", "small"):
            parser.add_argument(f"--{tier}-model", help=f"model for {TIER_PATTERNS[tier]} requests")
        parser.add_argument("--output", "-o", default="gateway.json", help="file to write (default gateway.json)")
        parser.add_argument("--force", action="store_true", help="overwrite the output file")
        parser.add_argument("--import", dest="do_import", action="store_true", help="also import it now")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--interactive", action="store_true", help="ask for every value not given")
        mode.add_argument("--no-input", action="store_true", help="never ask; use defaults")

    def handle(self, *args: Any, **options: Any) -> None:
        ask = options["interactive"] or (not options["no_input"] and sys.stdin.isatty())
        answers = self._answers(options, ask)
        output = Path(options["output"])
        if output.exists() and not options["force"]:
            raise CommandError(f"{output} exists; use --force to overwrite it")
        try:
            data = clean(_config(answers), Source(str(output)))
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # may hold an API key
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(data, indent=2) + "\n")
        self.stdout.write(f"wrote {output}")
        if options["do_import"]:
            report = config_import(data=data, source=str(output))
            self.stdout.write(f"imported {report.counts.get('providers', 0)} provider and "
                              f"{report.counts.get('tiers', 0)} tiers")
        else:
            self.stdout.write(f"next: manage.py import_config {output}")

    def _answers(self, options: dict[str, Any], ask: bool) -> dict[str, str]:
        def value(key: str, question: str, default: str) -> str:
            given = options.get(key)
            if given is not None:
                return str(given)
            if not ask:
                return default
            self.stdout.write(f"{question} [{default}]: ", ending="")
            self.stdout.flush()
            reply = sys.stdin.readline()
            if not reply:
                raise CommandError(f"no answer for {question!r} (standard input closed)")
            return reply.strip() or default

        kind = value("kind", "Backend kind (openai_compat, anthropic, bedrock)", "openai_compat")
        if kind not in KINDS:
            raise CommandError(f"kind: expected one of {', '.join(sorted(KINDS))}, got {kind!r}")
        url, models = KINDS[kind]
        answers = {"kind": kind, "name": value("name", "Provider name", kind.split("_")[0]),
                   "base_url": value("base_url", "Base URL", url),
                   "api_key": value("api_key", "API key (empty: none)", "")}
        for tier in ("big", "middle", "small"):
            default = models[tier]
            if tier == "middle" and answers["big"] != models["big"]:
                default = answers["big"]  # a chosen big model serves sonnet too (as MIDDLE_MODEL follows BIG_MODEL)
            answers[tier] = value(f"{tier}_model", f"Model for {TIER_PATTERNS[tier]} requests", default)
        return answers


def _config(a: dict[str, str]) -> dict[str, Any]:
    auth = "none" if not a["api_key"] else "oauth" if a["api_key"].startswith("sk-ant-oat") else "api_key"
    provider = {"name": a["name"], "kind": a["kind"], "base_url": a["base_url"], "auth_type": auth,
                "api_key": a["api_key"], "priority": 0}
    tiers = [{"name": t, "patterns": TIER_PATTERNS[t], "strategy": "priority",
              "entries": [{"provider": a["name"], "model": a[t], "enabled": True}]} for t in ("small", "middle", "big")]
    return {"version": 1, "providers": [provider], "tiers": tiers}
