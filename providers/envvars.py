"""``${VAR}`` substitution in provider URLs, headers and keys, read at run time."""

from __future__ import annotations

import os
import re

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str) -> str:
    """Replace ``${VAR}`` (or ``${VAR:-default}``) with the environment's value; unknown -> ''."""
    if "${" not in text:
        return text
    return _VAR.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), text)
