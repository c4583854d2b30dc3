"""Writing queued log rows so that none is lost (sync; runs in a worker thread of the flusher).

- Values PostgreSQL cannot store are cleaned first: NUL (U+0000) in text and in JSON strings
  (keys too) is replaced with U+FFFD, text longer than its column is cut to the column's length,
  and integers are clamped into their column's range.
- A batch is one INSERT; if it fails for a reason other than the database being unreachable, the
  rows are written one by one, so one bad row costs nothing else. A row that still fails is
  written once more without its client key (deleted meanwhile) and ledger; only if that fails
  too is it dropped, with an error line.
- If the database is unreachable (OperationalError, InterfaceError) the rows not yet written
  are handed back to the caller, who keeps them and tries again later.
- A row may carry child rows under a ``nested`` key (a request's attempts): they are not part
  of the INSERT, but handed back paired with their saved parent (``Written.nested``), so the
  caller writes them with the parent's id; rows handed back after an outage still hold theirs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.db import (
    DatabaseError,
    close_old_connections,
    models,
    transaction,
)

from runtime.outage import DATABASE_ERRORS

logger = logging.getLogger("gateway.logs")

M = TypeVar("M", bound=models.Model)
INT_RANGES = {  # PostgreSQL's ranges for Django's integer columns
    "PositiveSmallIntegerField": (0, 32_767),
    "PositiveIntegerField": (0, 2_147_483_647),
    "SmallIntegerField": (-32_768, 32_767),
    "IntegerField": (-2_147_483_648, 2_147_483_647),
}


class DatabaseDown(Exception):
    """The database did not answer; ``cause`` says why."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


@dataclass
class Written(Generic[M]):
    rows: list[M] = field(default_factory=list)       # saved objects, with ids
    left: list[dict[str, Any]] = field(default_factory=list)  # not written: the database went down
    lost: int = 0                                      # rows no database will take
    down: DatabaseDown | None = None
    nested: list[tuple[M, list[dict[str, Any]]]] = field(default_factory=list)  # saved row, its children


def value_clean(value: Any) -> Any:
    """NUL-free copy of ``value`` (str, or JSON-like lists/dicts of them); other values as they are."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {value_clean(k): value_clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [value_clean(v) for v in value]
    return value


def row_clean(model: type[models.Model], row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every value fitting its column (see the module docstring)."""
    out = {}
    for name, value in row.items():
        value = value_clean(value)
        try:
            column = model._meta.get_field(name)
        except Exception:  # e.g. client_key_id: the attname, not the field name
            out[name] = value
            continue
        max_length = getattr(column, "max_length", None)
        if isinstance(value, str) and max_length:
            value = value[:max_length]
        bounds = INT_RANGES.get(column.get_internal_type())
        if bounds and isinstance(value, int) and not isinstance(value, bool):
            value = min(max(value, bounds[0]), bounds[1])
        out[name] = value
    return out


def rows_write(model: type[M], rows: list[dict[str, Any]], *, nested: str = "") -> Written[M]:
    """Write ``rows`` (dicts of field values); see the module docstring. Queries: one INSERT, or
    one per row (each in its own transaction) after a failed batch."""
    result: Written[M] = Written()
    if not rows:
        return result
    close_old_connections()  # a connection broken by an earlier outage is replaced, not reused
    children = [list(row.get(nested) or ()) if nested else [] for row in rows]
    cleaned = [row_clean(model, {k: v for k, v in row.items() if k != nested} if nested else row) for row in rows]
    try:
        with transaction.atomic():
            saved = model._default_manager.bulk_create([model(**row) for row in cleaned])
        result.rows = saved  # only now: the commit itself may fail (deferred foreign keys)
        result.nested = list(zip(saved, children, strict=True))
        return result
    except DATABASE_ERRORS as exc:
        return _down(result, rows, exc)
    except Exception:  # one or more rows the database refused: find them
        pass
    for index, row in enumerate(cleaned):
        try:
            result.rows.append(_one_write(model, model(**row)))  # fresh objects: no ids from the failed batch
            result.nested.append((result.rows[-1], children[index]))
        except DATABASE_ERRORS as exc:
            return _down(result, rows[index:], exc)
        except Exception:
            result.lost += 1
            logger.exception("dropped one %s row the database refused twice", model.__name__)
    return result


def _down(result: Written[M], left: list[dict[str, Any]], exc: BaseException) -> Written[M]:
    from django.db import connection

    connection.close()  # this thread's connection is dead; the next try opens a new one
    result.left, result.down = left, DatabaseDown(exc)
    return result


def _one_write(model: type[M], obj: M) -> M:
    try:
        with transaction.atomic():
            return model._default_manager.bulk_create([obj])[0]
    except DATABASE_ERRORS:
        raise
    except DatabaseError:
        # The likely cause: its client key was deleted while the request ran (foreign key).
        obj.pk = None  # the failed INSERT may have set it
        if hasattr(obj, "client_key_id"):
            obj.client_key_id = None
        if hasattr(obj, "ledger"):
            obj.ledger = []
        with transaction.atomic():
            return model._default_manager.bulk_create([obj])[0]
