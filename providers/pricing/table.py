"""The price table: per-million-token prices by provider and model, looked up by the model id a
backend was asked for.

Pure data in, data out (no Django, settings or network): the shipped defaults come from
``defaults.json`` next to this module, and the caller layers its own rows (the admin's price
rows) over them with :meth:`PriceTable.with_overrides`.

Lookup order for ``(provider, model)``:

1. the provider's own rows (an operator's price for one provider wins over every default),
   exact key first, then the longest key the model id extends with a harmless suffix;
2. the provider-independent rows, in the same two steps;
3. otherwise ``None``: the price is unknown, never $0.

Model ids are normalised before matching (case, ``vendor/`` paths, Bedrock's ``us.anthropic.``
prefixes, ``claude-sonnet-4.5`` spellings). A key matches a longer id only when what follows
is a date, a Bedrock/Vertex version tag, ``latest``/``preview`` or ``[1m]``
(``claude-sonnet-4-5-20250929``, ``anthropic.claude-sonnet-4-5-20250929-v1:0``,
``claude-sonnet-4-5@20250929``), never another version or variant: ``claude-opus-4-9`` does
not fall back to Opus 4's price, ``gpt-5.5`` not to ``gpt-5``'s, ``o3-pro`` not to ``o3``'s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

FIELDS = ("input", "output", "cache_write", "cache_write_1h", "cache_read")
_ROW_KEYS = {*FIELDS, "long_context", "source"}

# Leading "vendor." / "region." segments (Bedrock: us.anthropic., global.anthropic., eu.).
_VENDOR = re.compile(r"^(?:[a-z][a-z-]*\.)+")
# 4.5 -> 4-5 in Claude ids (OpenRouter spells anthropic/claude-sonnet-4.5).
_DOTTED = re.compile(r"(?<=\d)\.(?=\d)")
# What may follow a key in a longer id without changing the price.
_SUFFIX = re.compile(
    r"(?:[-@](?:\d{8}|\d{4}-\d{2}-\d{2}|\d{2}-\d{2}(?:-\d{4})?|\d{2}-\d{4}|latest|preview|v\d+(?::\d+)?)"
    r"|\[1m\])+"
)


def normalise_model(model: str) -> str:
    """The id as price keys spell it: lower case, without path, vendor or region prefixes."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    name = _VENDOR.sub("", name)
    if name.startswith("claude-"):
        name = _DOTTED.sub("-", name)
    return name


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"{name}: not a number: {value!r}") from exc
    if not number.is_finite() or number < 0:
        raise ValueError(f"{name}: must be a finite number >= 0, got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens. ``cache_write`` is the 5-minute cache write (Anthropic's
    default), ``cache_write_1h`` the 1-hour one (None: priced as ``cache_write``)."""

    input: Decimal
    output: Decimal
    cache_write: Decimal
    cache_read: Decimal
    cache_write_1h: Decimal | None = None
    long_context: LongContext | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "price") -> Price:
        """A price from a defaults/admin row; omitted cache prices mean "billed as input"."""
        unknown = set(data) - _ROW_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown fields {sorted(unknown)}")
        if "input" not in data or "output" not in data:
            raise ValueError(f"{where}: input and output prices are required")
        base = _decimal(data["input"], f"{where}.input")
        write, read = data.get("cache_write"), data.get("cache_read")  # None (a blank admin field): omitted
        write_1h = data.get("cache_write_1h")
        long = data.get("long_context")
        return cls(
            input=base,
            output=_decimal(data["output"], f"{where}.output"),
            cache_write=base if write is None else _decimal(write, f"{where}.cache_write"),
            cache_read=base if read is None else _decimal(read, f"{where}.cache_read"),
            cache_write_1h=None if write_1h is None else _decimal(write_1h, f"{where}.cache_write_1h"),
            long_context=None if long is None else LongContext.from_dict(long, where=f"{where}.long_context"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The row as ``from_dict`` reads it (prices as strings, so no float creeps in)."""
        out: dict[str, Any] = {name: str(getattr(self, name)) for name in FIELDS if getattr(self, name) is not None}
        if self.long_context is not None:
            out["long_context"] = {"threshold": self.long_context.threshold, **self.long_context.price.to_dict()}
        return out

    def for_prompt(self, prompt_tokens: int) -> Price:
        """The rates a request with this many prompt tokens pays (the long-context tier, if any,
        applies to the whole request once the prompt exceeds its threshold)."""
        long = self.long_context
        return long.price if long is not None and prompt_tokens > long.threshold else self


@dataclass(frozen=True, slots=True)
class LongContext:
    """Rates for every token of a request whose prompt exceeds ``threshold`` tokens."""

    threshold: int
    price: Price

    @classmethod
    def from_dict(cls, data: Any, *, where: str) -> LongContext:
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected an object")
        threshold = data.get("threshold")
        if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold <= 0:
            raise ValueError(f"{where}.threshold: expected a positive integer")
        rates = {k: v for k, v in data.items() if k != "threshold"}
        if "long_context" in rates:
            raise ValueError(f"{where}: tiers do not nest")
        return cls(threshold, Price.from_dict(rates, where=where))


@dataclass(frozen=True, slots=True)
class PriceMatch:
    """Which row priced a model: for the admin's "why this price" and for tests."""

    price: Price
    key: str
    provider: str | None  # None: a provider-independent row
    exact: bool  # the normalised id is the key itself (not a dated or versioned spelling of it)


def _scope(rows: Mapping[str, Price]) -> Mapping[str, Price]:
    # Read-only: default_table() is one shared instance.
    return MappingProxyType({normalise_model(key): price for key, price in rows.items()})


@dataclass(frozen=True)
class PriceTable:
    """Prices by model key, and by provider name then model key (keys normalised)."""

    models: Mapping[str, Price] = field(default_factory=dict)
    providers: Mapping[str, Mapping[str, Price]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", _scope(self.models))
        object.__setattr__(self, "providers", MappingProxyType({
            name.lower(): _scope(rows) for name, rows in self.providers.items()
        }))

    def match(self, provider: str | None, model: str) -> PriceMatch | None:
        """The row that prices ``model`` on ``provider`` (see the module docstring), or None."""
        name = normalise_model(model)
        if not name:
            return None
        scopes: list[tuple[str | None, Mapping[str, Price]]] = []
        if provider and provider.lower() in self.providers:
            scopes.append((provider.lower(), self.providers[provider.lower()]))
        scopes.append((None, self.models))
        for scope, rows in scopes:
            found = _match_in(rows, name)
            if found is not None:
                key, exact = found
                return PriceMatch(rows[key], key, scope, exact)
        return None

    def lookup(self, provider: str | None, model: str) -> Price | None:
        found = self.match(provider, model)
        return None if found is None else found.price

    def with_overrides(self, rows: Iterable[tuple[str | None, str, Price]]) -> PriceTable:
        """This table with ``(provider or None, model key, price)`` rows laid over it."""
        models = dict(self.models)
        providers = {name: dict(scope) for name, scope in self.providers.items()}
        for provider, key, price in rows:
            target = models if not provider else providers.setdefault(provider.lower(), {})
            target[normalise_model(key)] = price
        return PriceTable(models, providers)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PriceTable:
        """A table from the defaults.json shape: ``{"models": {...}, "providers": {name: {...}}}``."""
        models = {key: Price.from_dict(row, where=key) for key, row in (data.get("models") or {}).items()}
        providers = {
            name: {key: Price.from_dict(row, where=f"{name}/{key}") for key, row in rows.items()}
            for name, rows in (data.get("providers") or {}).items()
        }
        return cls(models, providers)

    def to_json(self) -> dict[str, Any]:
        return {
            "models": {key: price.to_dict() for key, price in sorted(self.models.items())},
            "providers": {
                name: {key: price.to_dict() for key, price in sorted(rows.items())}
                for name, rows in sorted(self.providers.items())
            },
        }


def _match_in(rows: Mapping[str, Price], name: str) -> tuple[str, bool] | None:
    """(key, exact) for the exact key, else the longest key ``name`` extends by a harmless suffix."""
    if name in rows:
        return name, True
    longer = [key for key in rows if len(key) < len(name) and name.startswith(key) and _SUFFIX.fullmatch(name, len(key))]
    return (max(longer, key=len), False) if longer else None


@lru_cache(maxsize=1)
def default_table() -> PriceTable:
    """The shipped prices (read once from defaults.json on first use, not at import)."""
    text = resources.files("providers.pricing").joinpath("defaults.json").read_text(encoding="utf-8")
    return PriceTable.from_json(json.loads(text))
