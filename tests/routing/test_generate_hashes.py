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


@pytest.mark.django_db
def test_generate_hashes_output_imports_and_matches_the_agents_requests(tmp_path):
    from routing.fingerprints import request_fingerprints

    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "code-reviewer.md").write_text(REVIEWER)
    (agents / "test-writer.md").write_text(WRITER)
    out = tmp_path / "agent_hashes.json"
    call_command("generate_hashes", str(agents), "--output", str(out))
    made = sorted(AgentFingerprint.objects.values_list("fingerprint", "name", "model", "description"))
    AgentFingerprint.objects.all().delete()
    call_command("import_config", str(out))  # another gateway, or this one after a reset
    assert sorted(AgentFingerprint.objects.values_list("fingerprint", "name", "model", "description")) == made
    # Claude Code sends the agent's prompt with per-session context appended: still the same row.
    prompt = "You are a meticulous code reviewer. Review the diff for bugs.\n<env>Working directory: /home/x</env>"
    assert AgentFingerprint.objects.get(fingerprint=request_fingerprints([prompt])[0]).name == "code-reviewer"
