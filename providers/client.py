"""The one network seam: a shared httpx.AsyncClient, credentials applied here and nowhere else.

How a kind authenticates (key header, SigV4 signing, Google tokens) is its adapter entry's
``spec.auth`` (providers/adapters/spec.py). Sync callers (Celery, the admin: health probes, token
refresh) use the shared sync client through ``send_sync`` / ``token_post_sync``. Tests swap the
transports with ``set_transport()`` / ``set_sync_transport()`` (an ``httpx.MockTransport`` or a
real one).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from providers.adapters import kind_spec
from providers.adapters.base import UpstreamRequest
from providers.adapters.spec import BEARER, AuthSpec
from providers.config import ProviderConfig
from providers.envvars import env_refs_refused, env_refusal_message, expand_env
from providers.google_auth import agoogle_token_get, google_token_get
from providers.transport import NoCookieJar, upstream_transport
from runtime import crypto, resets
from runtime.redaction import known_secrets
from runtime.ttlcache import MISS, TTLCache

if TYPE_CHECKING:  # botocore costs ~0.4 s to import: loaded on the first Bedrock request only
    import botocore.session
    from botocore.credentials import Credentials

_clients: dict[int, tuple[httpx.AsyncClient, httpx.AsyncBaseTransport]] = {}  # by event loop
_transport: httpx.AsyncBaseTransport | None = None
_aws_keys: TTLCache[str, Credentials] = TTLCache(ttl=3600, maxsize=256)  # parsed stored keys, by ciphertext
resets.register(_aws_keys.clear)
_aws_chain: Any = None  # botocore's default credential chain (env, profile, SSO, IMDS), resolved once

POOL_TIMEOUT = 30.0  # seconds an attempt may wait for a free upstream connection (then PoolTimeout: 529)
CREDENTIAL_HEADER = re.compile(r"(?i)auth|key|token|secret|passw|cookie|signature")

# botocore's signer logs the canonical request (with X-Amz-Security-Token) at DEBUG level.
logging.getLogger("botocore.auth").setLevel(logging.INFO)


@dataclass(slots=True)
class Reply:
    status: int
    headers: httpx.Headers
    body: bytes


def set_transport(transport: httpx.AsyncBaseTransport | None) -> None:
    """Test seam: route every upstream call through ``transport`` (None restores the network)."""
    global _transport
    _transport = transport
    _clients.clear()


def get_client() -> httpx.AsyncClient:
    """The process-wide client for the running event loop (one per loop: tests start several)."""
    return _client_and_transport()[0]


def _client_and_transport() -> tuple[httpx.AsyncClient, httpx.AsyncBaseTransport]:
    loop_id = id(asyncio.get_running_loop())
    pair = _clients.get(loop_id)
    if pair is None or pair[0].is_closed:
        limits = httpx.Limits(
            max_connections=settings.UPSTREAM_MAX_CONNECTIONS,
            max_keepalive_connections=min(100, settings.UPSTREAM_MAX_CONNECTIONS),
            keepalive_expiry=30.0,
        )
        transport = _transport or upstream_transport(limits, lean=settings.UPSTREAM_LEAN_POOL)
        client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(
                connect=settings.CONNECT_TIMEOUT, read=settings.REQUEST_TIMEOUT, write=60.0, pool=POOL_TIMEOUT
            ),
            follow_redirects=False,
            trust_env=False,
            cookies=NoCookieJar(),  # a shared client must not carry one upstream's cookies to others
        )
        pair = _clients[loop_id] = (client, transport)
    return pair


async def _dispatch(request: httpx.Request, *, stream: bool) -> httpx.Response:
    """``request`` (built by the client: URL, headers, timeouts) through the client's transport,
    with httpx's public transport API.

    ``AsyncClient.send`` would add what the gateway turns off or does not use (an auth flow,
    redirect handling, event hooks, a cookie jar that keeps nothing) and a stream wrapper that
    only times the response; its cookie step alone builds urllib request and response objects for
    every response (0.1–0.6 ms a request, measured) before the jar declines them, and the wrapper
    is one more generator every streamed chunk passes through."""
    response = await _client_and_transport()[1].handle_async_request(request)
    response.request = request
    if not stream:
        try:
            await response.aread()
        finally:
            await response.aclose()
    return response


class CredentialHolder(Protocol):
    """A Provider row or its ProviderConfig snapshot: what finding its credential needs."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def auth_type(self) -> str: ...
    @property
    def api_key_encrypted(self) -> str: ...


def _secret(provider: CredentialHolder) -> str:
    enc = provider.api_key_encrypted
    if not enc:
        return ""
    try:
        plain = crypto.decrypt(enc)  # a bounded cache of its own (runtime/crypto.py)
    except crypto.UndecryptableSecret as exc:
        # A lost or wrong FIELD_ENCRYPTION_KEYS fails this provider (fallback, then 502), not the request.
        raise CredentialsUnreadable(f"provider {provider.name!r} api key: {exc}") from None
    value = expand_env(plain)
    known_secrets.add(value)  # so an upstream error echoing it back is redacted
    return value


# What to set for a provider the seed variables create; any other provider's key is set in the admin.
SEED_KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
KEYED_HOSTS = frozenset({"api.openai.com", "api.anthropic.com"})  # never answer without a key
_KEY_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def credential_missing(provider: CredentialHolder) -> str:
    """Why ``provider`` cannot authenticate, or "" (it has a credential, or needs none).

    A kind with ambient credentials (the AWS chain, Google's Application Default Credentials)
    needs no stored key (checked when signing or minting); an unreadable key is reported by the
    request itself (CredentialsUnreadable)."""
    if provider.auth_type == "none" and urlsplit(provider.base_url).hostname in KEYED_HOSTS:
        return credential_hint(provider.name)  # an older seed stored "none" for the public API
    if provider.auth_type == "none" or (_auth(provider).ambient and not provider.api_key_encrypted):
        return ""
    try:
        if _secret(provider):
            return ""
        raw = crypto.decrypt(provider.api_key_encrypted) if provider.api_key_encrypted else ""
    except (CredentialsUnreadable, crypto.UndecryptableSecret):
        return ""
    return credential_hint(provider.name, raw)


def credential_hint(name: str, raw_key: str = "") -> str:
    """One line: which provider has no credential and what to set (a ``${VAR}`` key names VAR)."""
    wanted = _KEY_REFERENCE.findall(raw_key)
    refused = env_refs_refused([raw_key])
    if refused:  # set or not, the gateway will not read it: saying "set it" would mislead
        todo = f"its key is {env_refusal_message(refused)}"
    elif wanted:
        todo = f"set {', '.join(wanted)} in the environment (or .env)"
    elif name in SEED_KEY_VARIABLES:
        todo = (f"enter its key in the admin (Providers → {name}), or set {SEED_KEY_VARIABLES[name]} "
                "and run `manage.py seed --force`")
    else:
        todo = f"enter its key in the admin (Providers → {name}) or with `manage.py import_config`"
    return f"provider {name!r} has no API key: {todo}"


def _auth(provider: CredentialHolder) -> AuthSpec:
    """The kind's auth answer (a kind no entry serves: a Bearer key)."""
    spec = kind_spec(provider.kind)
    return spec.auth if spec is not None else BEARER


def auth_headers(provider: ProviderConfig) -> dict[str, str]:
    """The credential headers for ``provider`` (the only place a secret is decrypted)."""
    key = _secret(provider)
    if not key or provider.auth_type == "none":
        return {}
    auth = _auth(provider)
    if _is_json_key(key) and (auth.signing or auth.token):
        # AWS keys (signed in _sign_aws) or a service-account key (its token minted in _request);
        # a plain key is a Bedrock API key or an access token, sent below.
        return {}
    if provider.auth_type == "header" and provider.auth_header:
        return {provider.auth_header: key}
    if provider.auth_type in ("bearer", "oauth"):
        return {"authorization": f"Bearer {key}"}
    return {auth.key_header: auth.key_prefix + key}


def _timeout(provider: ProviderConfig) -> httpx.Timeout | None:
    if provider.timeout:
        return httpx.Timeout(connect=settings.CONNECT_TIMEOUT, read=provider.timeout, write=60.0, pool=POOL_TIMEOUT)
    return None


def _headers(up: UpstreamRequest, provider: ProviderConfig) -> dict[str, str]:
    for name, value in provider.headers.items():
        if CREDENTIAL_HEADER.search(name):  # a key configured as a custom header
            known_secrets.add(value)
    return {**up.headers, **auth_headers(provider)}


def _build(up: UpstreamRequest, provider: ProviderConfig) -> httpx.Request:
    client = get_client()
    headers = _headers(up, provider)
    content = up.body or None
    timeout = _timeout(provider)
    if timeout is None:
        return client.build_request(up.method, up.url, content=content, headers=headers)
    return client.build_request(up.method, up.url, content=content, headers=headers, timeout=timeout)


# --- AWS SigV4 (Bedrock) ---------------------------------------------------------------------------


class CredentialsUnreadable(httpx.RequestError):
    """A stored credential no configured key decrypts (a provider failure, like an unreachable host)."""


class AWSCredentialsError(httpx.RequestError):
    """A Bedrock provider has no usable AWS credentials (a provider failure, like an unreachable host)."""


def _is_json_key(secret: str) -> bool:
    """AWS keys or a Google service-account key (JSON objects), not a plain key or token."""
    return secret.lstrip().startswith("{")


def _uses_sigv4(provider: ProviderConfig) -> bool:
    if _auth(provider).signing != "sigv4" or provider.auth_type == "none":
        return False
    secret = _secret(provider)
    return not secret or _is_json_key(secret)


@functools.cache
def _botocore_session() -> botocore.session.Session:
    import botocore.session

    return botocore.session.get_session()


def _aws_stored_credentials(provider: ProviderConfig) -> Credentials:
    """The keys stored (encrypted) as ``{"access_key_id", "secret_access_key", "session_token"?}``."""
    from botocore.credentials import Credentials

    creds = _aws_keys.get(provider.api_key_encrypted)
    if creds is MISS:
        try:
            data = json.loads(_secret(provider))
            creds = Credentials(str(data["access_key_id"]), str(data["secret_access_key"]),
                                str(data["session_token"]) if data.get("session_token") else None)
        except (ValueError, KeyError, TypeError):
            raise AWSCredentialsError(
                f"provider {provider.name}: stored AWS keys need access_key_id and secret_access_key"
            ) from None
        _aws_keys.set(provider.api_key_encrypted, creds)
    return creds


def _aws_chain_credentials() -> Any:
    """Frozen credentials from the default chain (blocking: may read files or call IMDS/SSO)."""
    global _aws_chain
    if _aws_chain is None:
        _aws_chain = _botocore_session().get_credentials()
    return _aws_chain.get_frozen_credentials() if _aws_chain is not None else None


def _aws_region(provider: ProviderConfig) -> str:
    """options["region"], else the region in a bedrock-runtime host name, else the AWS config's."""
    region = provider.options.get("region")
    if region:
        return str(region)
    labels = httpx.URL(provider.base_url).host.split(".")
    for label, following in zip(labels, labels[1:], strict=False):
        if label.startswith("bedrock-runtime"):
            return following
    return str(_botocore_session().get_config_variable("region") or "us-east-1")


async def _sign_aws(request: httpx.Request, provider: ProviderConfig) -> None:
    if provider.api_key_encrypted:
        _sigv4_apply(request, provider, _aws_stored_credentials(provider))
    else:  # the chain may read files or call IMDS/SSO: off the event loop
        _sigv4_apply(request, provider, await asyncio.to_thread(_aws_chain_credentials))


def _sign_aws_sync(request: httpx.Request, provider: ProviderConfig) -> None:
    creds = _aws_stored_credentials(provider) if provider.api_key_encrypted else _aws_chain_credentials()
    _sigv4_apply(request, provider, creds)


def _sigv4_apply(request: httpx.Request, provider: ProviderConfig, creds: Any) -> None:
    """Add SigV4 headers (the kind's ``auth.service``) signing host, content-type and the body."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    if creds is None:
        raise AWSCredentialsError(f"provider {provider.name}: no AWS credentials in the environment "
                                  "or profile", request=request)
    for part in (creds.access_key, creds.secret_key, creds.token or ""):
        known_secrets.add(part)
    signed = {name: request.headers[name] for name in ("host", "content-type") if name in request.headers}
    aws = AWSRequest(method=request.method, url=str(request.url), data=request.content, headers=signed)
    SigV4Auth(creds, _auth(provider).service, _aws_region(provider)).add_auth(aws)
    for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
        if name in aws.headers:
            request.headers[name] = aws.headers[name]


# --- Google OAuth (Vertex AI) -----------------------------------------------------------------------


def _google_auth(provider: CredentialHolder) -> bool:
    """The kind authenticates with Google OAuth tokens (``auth.token``) and auth is not "none"."""
    return _auth(provider).token == "google" and provider.auth_type != "none"


def _google_source(provider: ProviderConfig) -> tuple[str, dict[str, Any] | None] | None:
    """(cache key, service-account info or None for ADC) to mint a token from; None when the
    stored key is a plain access token (auth_headers sent it already)."""
    secret = _secret(provider)
    if secret and not _is_json_key(secret):
        return None
    try:
        info = json.loads(secret) if secret else None
    except ValueError:
        info = None
    if secret and not isinstance(info, dict):
        raise CredentialsUnreadable(f"provider {provider.name!r}: the stored service-account key is not JSON")
    if info is not None and info.get("private_key"):
        known_secrets.add(str(info["private_key"]))
    return f"{provider.id}:{hash(provider.api_key_encrypted)}", info


def _bearer_set(request: httpx.Request, token: str) -> None:
    known_secrets.add(token)
    request.headers["authorization"] = f"Bearer {token}"


async def _request(up: UpstreamRequest, provider: ProviderConfig) -> httpx.Request:
    """The request with its credential: headers, then a SigV4 signature or a minted Google token."""
    request = _build(up, provider)
    if _uses_sigv4(provider):
        await _sign_aws(request, provider)
    elif _google_auth(provider):
        source = _google_source(provider)
        if source is not None:
            _bearer_set(request, await agoogle_token_get(cache_key=source[0], info=source[1]))
    return request


async def send(up: UpstreamRequest, provider: ProviderConfig) -> Reply:
    response = await _dispatch(await _request(up, provider), stream=False)
    return Reply(response.status_code, response.headers, response.content)


@asynccontextmanager
async def stream(up: UpstreamRequest, provider: ProviderConfig) -> AsyncIterator[httpx.Response]:
    response = await _dispatch(await _request(up, provider), stream=True)
    try:
        yield response
    finally:
        await response.aclose()


# --- sync calls (Celery, the admin): health probes and token refresh -------------------------------
_sync_transport: httpx.BaseTransport | None = None
_sync_clients: list[httpx.Client] = []  # at most one: the process's sync client
_sync_lock = threading.Lock()


def set_sync_transport(transport: httpx.BaseTransport | None) -> None:
    """Test seam for the sync calls (Celery/admin): token refresh and health checks."""
    global _sync_transport
    with _sync_lock:
        _sync_transport = transport
        while _sync_clients:
            _sync_clients.pop().close()


def _sync_client() -> httpx.Client:
    """The process-wide sync client (thread-safe; each call passes its own timeout).

    Its cookie jar refuses every cookie: one upstream's cookies must not reach another."""
    with _sync_lock:
        if not _sync_clients or _sync_clients[0].is_closed:
            _sync_clients[:] = [httpx.Client(
                transport=_sync_transport, timeout=httpx.Timeout(30.0, connect=settings.CONNECT_TIMEOUT),
                follow_redirects=False, trust_env=False,
                cookies=NoCookieJar(),
            )]
        return _sync_clients[0]


def _request_sync(up: UpstreamRequest, provider: ProviderConfig, timeout: httpx.Timeout) -> httpx.Request:
    """The sync twin of ``_request``: the same headers, signature or token, minted in this thread."""
    request = _sync_client().build_request(up.method, up.url, content=up.body or None,
                                           headers=_headers(up, provider), timeout=timeout)
    if _uses_sigv4(provider):
        _sign_aws_sync(request, provider)
    elif _google_auth(provider):
        source = _google_source(provider)
        if source is not None:
            _bearer_set(request, google_token_get(cache_key=source[0], info=source[1]))
    return request


def send_sync(up: UpstreamRequest, provider: ProviderConfig, *, timeout: float) -> Reply:
    """``send`` for sync callers (the health probe): one call, ``timeout`` seconds at most per phase.

    Raises httpx errors as ``send`` does (credential problems are httpx.RequestError too)."""
    limits = httpx.Timeout(timeout, connect=min(timeout, settings.CONNECT_TIMEOUT))
    response = _sync_client().send(_request_sync(up, provider, limits))
    return Reply(response.status_code, response.headers, response.content)


def _token_result(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    try:
        data = response.json()
    except ValueError:
        data = {}
    return response.status_code, data if isinstance(data, dict) else {}


async def token_post(url: str, payload: dict[str, str], seconds: float) -> tuple[int, dict[str, Any]]:
    response = await get_client().post(url, json=payload, timeout=seconds)
    return _token_result(response)


def token_post_sync(url: str, payload: dict[str, str], seconds: float) -> tuple[int, dict[str, Any]]:
    return _token_result(_sync_client().post(url, json=payload, timeout=seconds))
