"""Config import/export: the seeds' formats and the gateway's own, through one canonical dict.

    data = config_load(["claude-proxy.yaml", "agent_hashes.json"])   # pure: files -> canonical
    config_import(data=data, source="claude-proxy.yaml")              # one transaction
    config_export()                                                   # canonical, re-importable
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path as FilePath
from typing import Any

from configuration.canonical import clean
from configuration.errors import (
    ConfigError,
    ConfigErrors,
    Origin,
    Source,
    gather,
    load_text,
    raise_all,
)
from configuration.formats import (
    FORMATS,
    detect,
    merge,
    merge_layers,
    parse_agent_hashes,
    parse_ccproxy,
    parse_claude_proxy,
    parse_providers_json,
)
from configuration.store import ImportReport, config_export, config_import

PARSERS: dict[str, Callable[[Any, Origin], dict[str, Any]]] = {
    "gateway": clean,
    "claude-proxy": parse_claude_proxy,
    "ccproxy": parse_ccproxy,
    "providers-json": parse_providers_json,
    "agent-hashes": parse_agent_hashes,
}


def config_read(path: str | FilePath) -> tuple[Any, Source]:
    name = str(path)
    try:
        content = FilePath(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(name, (), f"a readable UTF-8 file ({getattr(exc, 'strerror', None) or exc})") from None
    return load_text(name, content)


def config_load(paths: Sequence[str | FilePath], *, fmt: str | None = None) -> dict[str, Any]:
    """Parse every file into one canonical dict (later files win). Several ccproxy files are
    layers, merged key by key in the order given (user, project, managed). Every file is read
    and parsed before errors are raised: all of them come together (ConfigErrors)."""
    def read(path: str | FilePath) -> tuple[str, Any, Source]:
        data, source = config_read(path)
        return fmt or detect(data, source), data, source

    loaded, errors = [], []
    for path in paths:  # a file that cannot be read does not hide its neighbours' errors
        try:
            loaded.append(read(path))
        except ConfigError as exc:
            errors.append(exc)
    layers = [(data, source) for kind, data, source in loaded if kind == "ccproxy"]

    def parse(entry: tuple[str, Any, Source]) -> tuple[str, dict[str, Any]] | None:
        kind, data, source = entry
        if kind != "ccproxy":
            return kind, PARSERS[kind](data, source)
        if source is not layers[0][1]:
            return None  # merged into the first layer's part
        merged, origin = merge_layers(layers)
        return kind, parse_ccproxy(merged, origin)

    parts: list[tuple[str, dict[str, Any]]] = []
    try:
        parts = [p for p in gather(parse, loaded) if p is not None]
    except ConfigError as exc:
        errors.append(exc)
    raise_all(errors)
    return merge([part for _, part in parts], [kind for kind, _ in parts])


__all__ = [
    "FORMATS", "ConfigError", "ConfigErrors", "ImportReport", "config_export", "config_import", "config_load", "config_read",
]
