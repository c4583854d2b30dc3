from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models

from providers import crypto
from providers.adapters import KIND_LABELS, REGISTRY
from providers.presets import preset_choices


def kind_choices() -> list[tuple[str, str]]:
    return [(kind, KIND_LABELS.get(kind, kind)) for kind in REGISTRY]


class Provider(models.Model):
    class AuthType(models.TextChoices):
        API_KEY = "api_key", "API key (x-api-key for Anthropic, Bearer for OpenAI-compatible)"
        BEARER = "bearer", "Bearer token"
        OAUTH = "oauth", "Claude OAuth token"
        HEADER = "header", "API key in a custom header"
        NONE = "none", "No credentials"

    name = models.SlugField(max_length=64, unique=True)
    preset = models.CharField(max_length=32, blank=True, choices=preset_choices,
                              help_text="Picking a preset fills kind, URL, auth style, headers and quirks.")
    kind = models.CharField(max_length=32, choices=kind_choices)
    base_url = models.URLField(max_length=500)
    auth_type = models.CharField(max_length=16, choices=AuthType.choices, default=AuthType.API_KEY)
    # The header carrying the key when auth_type is "header" (Azure: "api-key").
    auth_header = models.CharField(max_length=64, blank=True)
    api_key_encrypted = models.TextField(blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    priority = models.IntegerField(default=100, help_text="Lower is tried first where several qualify.")
    timeout = models.FloatField(null=True, blank=True, help_text="Upstream read timeout (s); empty: global.")
    max_retries = models.PositiveSmallIntegerField(default=0)
    max_tokens_cap = models.PositiveIntegerField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True, help_text="Extra headers sent upstream.")
    # Backend quirks as data: any Target field (drop_params, reasoning_effort, path, ...).
    options = models.JSONField(default=dict, blank=True)
    # The last health check (providers/services/health.py). health_checked_at doubles as the
    # claim that keeps two workers from checking the same provider at once.
    health_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    health_ok = models.BooleanField(null=True, blank=True, editable=False)  # None: never checked/skipped
    health_latency_ms = models.FloatField(null=True, blank=True, editable=False)
    health_error = models.CharField(max_length=300, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return self.name

    def set_api_key(self, plaintext: str) -> None:
        self.api_key_encrypted = crypto.encrypt(plaintext)

    @property
    def api_key_masked(self) -> str:
        try:
            return crypto.mask(crypto.decrypt(self.api_key_encrypted))
        except ValueError:
            return "(undecryptable)"


class ClientKeyQuerySet(models.QuerySet["ClientKey"]):
    def enabled(self) -> ClientKeyQuerySet:
        return self.filter(enabled=True)


class ClientKey(models.Model):
    """A key the gateway issues to its own clients. Only its SHA-256 is stored."""

    PREFIX = "sk-gw-"

    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(max_length=16, editable=False)
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)
    # Optional budgets (empty: unlimited), enforced on the request path by providers/limits.py.
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    requests_per_day = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_day = models.PositiveBigIntegerField(null=True, blank=True, help_text="Input plus output tokens.")

    objects = ClientKeyQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        # Keys are 256-bit random strings, so a fast hash is as safe as a slow one here.
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def generate(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)


class CircuitState(models.Model):
    """Circuit breaker state, shared by every web and Celery worker through the database.

    Transitions are conditional updates (see providers/services/circuits.py).
    """

    class State(models.TextChoices):
        CLOSED = "closed"
        OPEN = "open"
        HALF_OPEN = "half_open"

    key = models.CharField(max_length=300, unique=True)  # provider id : model : credential hash
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="circuits")
    model = models.CharField(max_length=200)
    state = models.CharField(max_length=16, choices=State.choices, default=State.CLOSED)
    failure_count = models.PositiveIntegerField(default=0)
    open_until = models.FloatField(default=0)  # epoch seconds
    probe_since = models.FloatField(default=0)
    reason = models.CharField(max_length=200, blank=True)
    # The 429 cooldown, kept apart from the failure count (providers/circuit.py explains why).
    limited_until = models.FloatField(default=0)  # epoch seconds
    limit_streak = models.PositiveIntegerField(default=0)
    limit_explicit = models.BooleanField(default=False)  # limited_until is the provider's Retry-After
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "model"]

    def __str__(self) -> str:
        return f"{self.provider.name}/{self.model}: {self.state}"


class OAuthToken(models.Model):
    """A Claude OAuth credential (``sk-ant-oat…``) for a provider, refreshed before it expires.

    Access and refresh tokens are stored encrypted; only providers/client.py and the refresh
    service decrypt them. ``refreshing_since`` is the claim that keeps refreshes single-flight.
    """

    provider = models.OneToOneField(Provider, on_delete=models.CASCADE, related_name="oauth_token")
    access_token_encrypted = models.TextField(blank=True, editable=False)
    refresh_token_encrypted = models.TextField(blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    token_url = models.URLField(max_length=500, blank=True, help_text="Empty: OAUTH_TOKEN_URL setting.")
    client_id = models.CharField(max_length=200, blank=True, help_text="Empty: OAUTH_CLIENT_ID setting.")
    refreshing_since = models.DateTimeField(null=True, blank=True, editable=False)
    last_refresh_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    refresh_failures = models.PositiveIntegerField(default=0, editable=False)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "OAuth token"

    def __str__(self) -> str:
        return f"OAuth token for {self.provider.name}"

    def set_tokens(self, access: str, refresh: str | None = None) -> None:
        self.access_token_encrypted = crypto.encrypt(access)
        if refresh is not None:
            self.refresh_token_encrypted = crypto.encrypt(refresh)

    @property
    def access_token_masked(self) -> str:
        try:
            return crypto.mask(crypto.decrypt(self.access_token_encrypted))
        except ValueError:
            return "(undecryptable)"


class StaffToken(models.Model):
    """A bearer token for the admin REST API, owned by a staff user. Only its SHA-256 is stored."""

    PREFIX = "sk-gwadm-"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gateway_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(max_length=16, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["user", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @classmethod
    def generate(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)
