from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from routing.fingerprints import fingerprint
from routing.models import AgentFingerprint

REVIEWER = """---
name: code-reviewer
description: Reviews diffs for bugs
model: opus
---
You are a meticulous code reviewer. Review the diff for bugs.
"""
WRITER = """---
name: test-writer
description: "Writes tests"
model: inherit
tools: Read, Write
---

You write pytest tests.
"""


@pytest.mark.django_db
def test_generate_hashes_stores_fingerprints_and_writes_json(tmp_path, capsys):
    agents = tmp_path / "agents"
    (agents / "nested").mkdir(parents=True)
    (agents / "code-reviewer.md").write_text(REVIEWER)
    (agents / "nested" / "test-writer.md").write_text(WRITER)
    out = tmp_path / "agent_hashes.json"
    call_command("generate_hashes", str(agents), "--output", str(out))
    reviewer = AgentFingerprint.objects.get(name="code-reviewer")
    assert reviewer.fingerprint == fingerprint("You are a meticulous code reviewer. Review the diff for bugs.\n")
    assert reviewer.model == "opus" and reviewer.description == "Reviews diffs for bugs"
    assert AgentFingerprint.objects.get(name="test-writer").model == ""  # inherit: left for the admin
    data = json.loads(out.read_text())
    assert data["code-reviewer"] == {"hash": reviewer.fingerprint, "model": "opus", "description": "Reviews diffs for bugs"}
    call_command("generate_hashes", str(agents), "--output", str(out), "--model", "haiku")  # re-run updates
    assert AgentFingerprint.objects.count() == 2 and AgentFingerprint.objects.get(name="test-writer").model == "haiku"


@pytest.mark.django_db
def test_generate_hashes_errors_name_the_problem(tmp_path):
    with pytest.raises(CommandError, match="not a directory"):
        call_command("generate_hashes", str(tmp_path / "missing"))
    (tmp_path / "bad.md").write_text("---\nname: x\nno end of front matter")
    with pytest.raises(CommandError, match="bad.md"):
        call_command("generate_hashes", str(tmp_path), "--output", str(tmp_path / "o.json"))
