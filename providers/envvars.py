"""``${VAR}`` substitution in provider URLs, headers and keys, read at run time.

Only variables the operator allowed are read: names starting with ``GATEWAY_SECRET_`` or listed
in ``PROVIDER_ENV_ALLOWLIST``. Anyone who may edit a provider can point it at their own upstream,
so an open ``${SECRET_KEY}`` or ``${DATABASE_URL}`` would hand the server's own secrets to them.
Saves refuse other names (``env_refs_refused``); at run time they expand as if unset.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from django.conf import settings

ALLOWED_PREFIX = "GATEWAY_SECRET_"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def env_allowed(name: str) -> bool:
    """May ``${name}`` be read from the environment? (prefix, or the operator's allowlist)"""
    return name.startswith(ALLOWED_PREFIX) or name in settings.PROVIDER_ENV_ALLOWLIST


def env_refs(text: str) -> list[str]:
    """The variable names ``text`` refers to, in order."""
    if "${" not in text:
        return []
    return [m.group(1) for m in _VAR.finditer(text)]


def env_refs_refused(texts: Iterable[str]) -> list[str]:
    """The names in ``texts`` that are not allowed (sorted, once each)."""
    return sorted({name for text in texts for name in env_refs(text) if not env_allowed(name)})


def env_refusal_message(names: Iterable[str]) -> str:
    listed = ", ".join(f"${{{name}}}" for name in names)
    return (f"{listed}: only environment variables named {ALLOWED_PREFIX}… or listed in "
            "PROVIDER_ENV_ALLOWLIST may be used")


def _value(match: re.Match[str]) -> str:
    name, default = match.group(1), match.group(2) or ""
    if not env_allowed(name):
        return default  # as if unset: the default is the admin's own text, never the server's
    return os.environ.get(name, default)


def expand_env(text: str) -> str:
    """Replace ``${VAR}`` (or ``${VAR:-default}``) with the environment's value; unknown or
    disallowed -> the default, else ''."""
    if "${" not in text:
        return text
    return _VAR.sub(_value, text)
