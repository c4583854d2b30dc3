"""Helpers shared by the apps' admin REST API routers (mounted under /api/admin/ by proxy_project/api.py,
which applies the staff authentication to all of them)."""

from __future__ import annotations

import copy
from typing import Annotated, Any

from django.db.models import Model
from ninja import Schema
from ninja.errors import HttpError
from pydantic import AfterValidator, create_model

INT32 = 2**31 - 1


def no_nul(value: Any) -> Any:
    """PostgreSQL stores no NUL character in text or JSON: refuse it up front (400, not 500)."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    if isinstance(value, dict):
        for k, v in value.items():
            no_nul(k)
            no_nul(v)
    elif isinstance(value, list):
        for v in value:
            no_nul(v)
    return value


Text = Annotated[str, AfterValidator(no_nul)]
JSONObject = Annotated[dict[str, Any], AfterValidator(no_nul)]


def patch_schema(schema: type[Schema]) -> type[Schema]:
    """``schema`` with every field optional and its constraints kept (for PATCH bodies)."""
    fields: dict[str, Any] = {}
    for name, info in schema.model_fields.items():
        optional = copy.copy(info)
        optional.default, optional.default_factory = None, None
        annotation: Any = info.annotation
        fields[name] = (annotation | None, optional)
    return create_model(f"{schema.__name__}Patch", __base__=Schema, **fields)  # type: ignore[call-overload, no-any-return]


def get_or_404(model: type[Model], pk: int) -> Any:
    row = model._default_manager.filter(pk=pk).first()
    if row is None:
        raise HttpError(404, f"no {model._meta.verbose_name} with id {pk}")
    return row
