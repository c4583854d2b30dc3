"""Validated writes of one row: ``full_clean`` then ``save``, so a bad value is a ValidationError
(the admin REST API answers 400 naming the field) and never a half-saved row.

Caches that depend on a model's rows are cleared by that model's app, from its own
``post_save``/``post_delete`` receivers (see routing/apps.py and clients/apps.py), whoever writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from django.db import models

M = TypeVar("M", bound=models.Model)


def record_save(*, row: M, fields: Mapping[str, Any]) -> M:
    """Apply ``fields`` to ``row``, validate (choices, URLs, uniqueness) and save."""
    for name, value in fields.items():
        setattr(row, name, value)
    row.full_clean()
    row.save()
    return row


def record_delete(*, row: models.Model) -> None:
    row.delete()
