"""Who calls the gateway: client keys (with their budgets) and staff tokens for the admin REST API.

Both are stored as SHA-256 hashes only; the plain key is shown once when it is issued.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


class ClientKeyQuerySet(models.QuerySet["ClientKey"]):
    def enabled(self) -> ClientKeyQuerySet:
        """Keys that open the gateway now: enabled and not past their expiry."""
        return self.filter(enabled=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now())
        )


class ClientKey(models.Model):
    """A key the gateway issues to its own clients. Only its SHA-256 is stored."""

    PREFIX = "sk-gw-"

    # Unique: the dashboard, usage reports and rotation name keys; two "ci" keys were ambiguous.
    name = models.CharField(max_length=100, unique=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(max_length=16, editable=False)
    enabled = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True,
                                      help_text="Empty: never. A rotated key expires after its grace period.")
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)
    # Optional budgets (empty: unlimited), enforced on the request path by clients/quotas.py.
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    requests_per_day = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_day = models.PositiveBigIntegerField(null=True, blank=True, help_text="Input plus output tokens.")
    # Money budgets in USD, priced from the price table (providers/prices.py); UTC day and month.
    usd_per_day = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True,
                                      help_text="USD per UTC day (empty: unlimited).")
    usd_per_month = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True,
                                        help_text="USD per UTC calendar month (empty: unlimited).")

    objects = ClientKeyQuerySet.as_manager()

    class Meta:
        db_table = "providers_clientkey"  # the table predates the clients app
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
        db_table = "providers_stafftoken"  # the table predates the clients app
        ordering = ["user", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @classmethod
    def generate(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)
