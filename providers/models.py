from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from providers.adapters import kind_choices, kind_option_problems
from providers.envvars import env_refs_refused, env_refusal_message
from providers.presets import preset_choices
from runtime import crypto

__all__ = ["OAuthToken", "Provider", "kind_choices"]


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
    # Backend quirks as data: the options the kind's adapter entry declares (spec.options), typed.
    options = models.JSONField(default=dict, blank=True)
    # The last health check (providers/probes.py). health_checked_at doubles as the
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

    def clean(self) -> None:
        # ${VAR} may name only variables the operator allowed (providers/envvars.py); the API key
        # is checked where it arrives in plaintext (admin form, admin API, config import).
        headers = self.headers if isinstance(self.headers, dict) else {}
        errors = {}
        for field, texts in (("base_url", [self.base_url or ""]), ("headers", [f"{k}{v}" for k, v in headers.items()])):
            refused = env_refs_refused(texts)
            if refused:
                errors[field] = env_refusal_message(refused)
        options_error = self._options_error()
        if options_error:
            errors["options"] = options_error
        if errors:
            raise ValidationError(errors)

    def _options_error(self) -> str:
        """Why ``options`` does not suit the kind ("" when it does): unknown keys name the allowed ones."""
        if not isinstance(self.options, dict):
            return "a JSON object of the kind's options"
        problems = kind_option_problems(self.kind, self.options)
        return "; ".join(f"{name}: {why}" for name, why in sorted(problems.items()))

    def set_api_key(self, plaintext: str) -> None:
        self.api_key_encrypted = crypto.encrypt(plaintext)

    @property
    def api_key_masked(self) -> str:
        try:
            return crypto.mask(crypto.decrypt(self.api_key_encrypted))
        except ValueError:
            return "(undecryptable)"


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


def _usd(help_text: str, *, required: bool = False) -> models.DecimalField:
    # USD per million tokens: up to $999,999.999999 with micro-dollar steps.
    return models.DecimalField(max_digits=12, decimal_places=6, null=not required, blank=not required,
                               help_text=help_text)


class ModelPrice(models.Model):
    """An operator's price for one model (USD per million tokens), laid over the shipped defaults
    (providers/pricing/defaults.json) by providers/prices.py. With a provider it prices that
    provider's model only; without one, the model on every provider that has no row of its own.
    ``model`` is matched like the defaults' keys (``claude-sonnet-4-5`` also prices its dated ids)."""

    provider = models.ForeignKey(Provider, null=True, blank=True, on_delete=models.CASCADE, related_name="prices",
                                 help_text="Empty: every provider (a provider's own row wins).")
    model = models.CharField(max_length=200, help_text="Model id or key, e.g. claude-sonnet-4-5 or gpt-4o.")
    input = _usd("Uncached prompt tokens, USD per million.", required=True)
    output = _usd("Output tokens (thinking included), USD per million.", required=True)
    cache_write = _usd("Prompt-cache writes (5-minute TTL). Empty: billed as input.")
    cache_write_1h = _usd("Prompt-cache writes with the 1-hour TTL. Empty: as cache write.")
    cache_read = _usd("Prompt-cache reads. Empty: billed as input.")
    long_context_threshold = models.PositiveIntegerField(
        null=True, blank=True, help_text="Optional tier: above this many prompt tokens the whole request "
                                         "pays the long-context prices below.")
    long_context_input = _usd("Long-context tier: input.")
    long_context_output = _usd("Long-context tier: output.")
    long_context_cache_write = _usd("Long-context tier: cache write. Empty: its input.")
    long_context_cache_read = _usd("Long-context tier: cache read. Empty: its input.")
    note = models.CharField(max_length=200, blank=True, help_text="Where the price comes from.")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model", "provider__name"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "model"], name="modelprice_provider_model"),
            models.UniqueConstraint(fields=["model"], condition=models.Q(provider__isnull=True),
                                    name="modelprice_any_provider_model"),
        ]

    def __str__(self) -> str:
        return f"{self.model} on {self.provider.name if self.provider else 'any provider'}"

    def clean(self) -> None:
        long = [self.long_context_input, self.long_context_output]
        if self.long_context_threshold is None and any(v is not None for v in long):
            raise ValidationError({"long_context_threshold": "Give the threshold for the long-context prices."})
        if self.long_context_threshold is not None and any(v is None for v in long):
            raise ValidationError({"long_context_input": "A long-context tier needs its input and output prices."})

    def price_dict(self) -> dict[str, object]:
        """The row in providers.pricing's ``Price.from_dict`` shape (blank cache prices left out)."""
        out: dict[str, object] = {"input": self.input, "output": self.output}
        for name in ("cache_write", "cache_write_1h", "cache_read"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.long_context_threshold is not None:
            tier: dict[str, object] = {"threshold": self.long_context_threshold, "input": self.long_context_input,
                                       "output": self.long_context_output}
            for name in ("cache_write", "cache_read"):
                value = getattr(self, f"long_context_{name}")
                if value is not None:
                    tier[name] = value
            out["long_context"] = tier
        return out
