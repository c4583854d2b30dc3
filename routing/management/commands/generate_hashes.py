from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from audit.commands import AuditedCommand
from routing.services import agent_file_parse, fingerprint_record


class Command(AuditedCommand):
    help = (
        "Read Claude Code agent files (*.md with front matter: name, description, model) from DIR, "
        "store each agent's system-prompt fingerprint with the model it should use, and write "
        "agent_hashes.json."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", help="folder of agent .md files (searched recursively)")
        parser.add_argument("--output", default="agent_hashes.json", help="where to write the hashes")
        parser.add_argument("--model", help="use this model for every agent instead of its front matter")

    def handle(self, *args: Any, **options: Any) -> None:
        root = Path(options["directory"])
        if not root.is_dir():
            raise CommandError(f"{root} is not a directory")
        files = sorted(root.rglob("*.md"))
        if not files:
            raise CommandError(f"no .md agent files under {root}")
        out: dict[str, dict[str, str]] = {}
        for path in files:
            try:
                agent = agent_file_parse(path)
            except (ValueError, UnicodeDecodeError) as exc:
                raise CommandError(str(exc)) from None
            row = fingerprint_record(agent=agent, model=options.get("model"))
            out[agent.name] = {"hash": agent.fingerprint, "model": row.model, "description": agent.description}
            self.stdout.write(f"{agent.fingerprint}  {agent.name}  -> {row.model or '(unassigned)'}")
        Path(options["output"]).write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
        self.stdout.write(f"wrote {len(out)} agents to {options['output']}")
