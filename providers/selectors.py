"""Reads of provider rows for the apps above: the immutable snapshot routing and the seam use."""

from __future__ import annotations

from providers.config import ProviderConfig
from providers.envvars import expand_env
from providers.models import Provider


def provider_config(p: Provider) -> ProviderConfig:
    """The immutable snapshot; an OAuth provider's credential is its current access token."""
    token = getattr(p, "oauth_token", None) if p.auth_type == Provider.AuthType.OAUTH else None
    credential = p.api_key_encrypted
    if token is not None and token.access_token_encrypted:
        credential = token.access_token_encrypted
    return ProviderConfig(
        id=p.pk,
        name=p.name,
        kind=p.kind,
        base_url=expand_env(p.base_url),
        auth_type=p.auth_type,
        auth_header=p.auth_header,
        api_key_encrypted=credential,
        enabled=p.enabled,
        priority=p.priority,
        timeout=p.timeout,
        max_retries=p.max_retries,
        max_tokens_cap=p.max_tokens_cap,
        headers={str(k): expand_env(str(v)) for k, v in (p.headers or {}).items()},
        options=dict(p.options or {}),
        oauth_token_id=token.pk if token is not None else None,
        credential_scope=f"oauth:{token.pk}" if token is not None else "",
    )
