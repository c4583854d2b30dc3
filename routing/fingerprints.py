"""PURE agent fingerprints: a stable hash of an agent's system prompt.

Claude Code fills parts of a system prompt per session (environment block, date, working
directory, git status, model line) and prepends a per-request billing line. Those are removed
before hashing, so one agent keeps one fingerprint across sessions and machines.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

BILLING_PREFIX = "x-anthropic-billing-header:"
# Everything from the first of these markers on is per-session context appended to the prompt.
SESSION_MARKERS = (
    "<env>",
    "\nHere is useful information about the environment",
    "\ngitStatus:",
    "\n<context name=",
)
_VOLATILE_LINES = re.compile(
    r"^(?:\s*(?:[-*]\s*)?(?:Today's date|Current date|Working directory|Primary working directory|Is directory a git repo"
    r"|Platform|OS Version|Shell|You are powered by the model|The exact model ID|Assistant knowledge cutoff)"
    r"\b[^\n]*)$",
    re.MULTILINE | re.IGNORECASE,
)
_DATES = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+Z?)?\b")
_PATHS = re.compile(r"(?:/(?:home|Users|root|tmp|private|var|workspace|work)[^\s'\"`)]*)")
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    for marker in SESSION_MARKERS:
        cut = text.find(marker)
        if cut >= 0:
            text = text[:cut]
    text = _VOLATILE_LINES.sub("", text)
    text = _DATES.sub("<date>", text)
    text = _PATHS.sub("<path>", text)
    return _SPACE.sub(" ", text).strip()


def fingerprint(text: str) -> str:
    return hashlib.sha256(normalize(text).encode()).hexdigest()[:16]


def system_texts(system: Any, messages: Iterable[Any] = ()) -> list[str]:
    """The prompt texts of a request: ``system`` blocks (minus the billing line) and any
    system-role messages Claude Code puts in ``messages``."""
    texts: list[str] = []
    if isinstance(system, str):
        texts.append(system)
    elif isinstance(system, list):
        texts.extend(str(b.get("text", "")) for b in system if isinstance(b, dict) and b.get("type") == "text")
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "system":
            content = message.get("content")
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                texts.extend(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return [t for t in texts if t.strip() and not t.startswith(BILLING_PREFIX)]


def request_fingerprints(texts: Sequence[str]) -> tuple[str, ...]:
    """Candidate fingerprints of a request: each prompt block, then all blocks joined.

    The first entry is the one recorded for an unknown agent: the longest block, which is
    the agent's own prompt rather than a shared preamble.
    """
    if not texts:
        return ()
    ordered = sorted(texts, key=len, reverse=True)
    prints = [fingerprint(t) for t in ordered]
    if len(texts) > 1:
        prints.append(fingerprint("\n\n".join(texts)))
    return tuple(dict.fromkeys(prints))
