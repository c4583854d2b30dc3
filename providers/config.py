"""What routing and the network seam know of a provider: an immutable snapshot of its row."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """An immutable snapshot of a Provider row (credentials stay encrypted)."""

    id: int
    name: str
    kind: str
    base_url: str
    auth_type: str = "api_key"
    auth_header: str = ""
    api_key_encrypted: str = ""
    enabled: bool = True
    priority: int = 100
    timeout: float | None = None
    max_retries: int = 0
    max_tokens_cap: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    oauth_token_id: int | None = None
    # What identifies the credential for circuit scoping ("oauth:<id>" survives token refreshes).
    credential_scope: str = ""
