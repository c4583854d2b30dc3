from __future__ import annotations

from routing.fingerprints import fingerprint, normalize, request_fingerprints, system_texts

AGENT = "You are a meticulous code reviewer.\nReview diffs for bugs, style and security.\n"


def session_prompt(date: str, cwd: str) -> str:
    return (
        AGENT + "\nNotes:\n- Today's date: " + date + "\n"
        "<env>\nWorking directory: " + cwd + "\nIs directory a git repo: Yes\nPlatform: linux\n</env>\n"
        "gitStatus: M foo.py"
    )


def test_fingerprint_ignores_session_details():
    a = session_prompt("2026-11-23", "/home/alice/proj")
    b = session_prompt("2027-01-02", "/Users/bob/other")
    assert fingerprint(a) == fingerprint(b) == fingerprint(AGENT + "\nNotes:\n")


def test_fingerprint_differs_between_agents():
    assert fingerprint(AGENT) != fingerprint("You are a test writer.")


def test_normalize_collapses_whitespace_dates_and_paths():
    assert normalize("Look  at /home/x/y.py\n\n on 2026-01-01 ") == "Look at <path> on <date>"


def test_system_texts_skip_billing_line_and_include_system_messages():
    system = [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1"}, {"type": "text", "text": "Main"}]
    messages = [{"role": "system", "content": "extra"}, {"role": "user", "content": "hi"}]
    assert system_texts(system, messages) == ["Main", "extra"]


def test_request_fingerprints_longest_block_first_then_joined():
    prints = request_fingerprints(["short", AGENT])
    assert prints[0] == fingerprint(AGENT) and prints[1] == fingerprint("short")
    assert prints[2] == fingerprint("short\n\n" + AGENT)
