from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from configuration.services import config_export


class Command(BaseCommand):
    help = (
        "Write the configuration (providers, tiers, routes, agent fingerprints) as JSON that "
        "import_config reads back to the same state. Provider API keys are included unless "
        "--no-secrets; a file written with keys is readable by its owner only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="write to this file instead of standard output")
        parser.add_argument("--no-secrets", action="store_true", help="leave provider API keys out")

    def handle(self, *args: Any, **options: Any) -> None:
        data = config_export(secrets=not options["no_secrets"])
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        if not options["output"]:
            self.stdout.write(text, ending="")
            return
        path = Path(options["output"])
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        counts = ", ".join(f"{len(data[k])} {k}" for k in ("providers", "tiers", "routes", "agents"))
        self.stderr.write(f"wrote {counts} to {path}")
