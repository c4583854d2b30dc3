"""Config file errors that name the file, the key path, the line and what was expected."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import yaml

Path = tuple[str | int, ...]


def path_text(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


class ConfigError(ValueError):
    """A config file that cannot be imported: nothing was written."""

    def __init__(self, source: str, path: Path, expected: str, line: int | None = None) -> None:
        self.source = source
        self.path = path
        self.expected = expected
        self.line = line
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {path_text(path)}: expected {expected}")


class ConfigErrors(ConfigError):
    """Several entries of a file (or of several files) are wrong: every one is listed, one a line,
    by file (in the order given) and line, so a bad file is fixed in one pass rather than one error per run."""

    errors: list[ConfigError]

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        flat = [e for err in errors for e in (err.errors if isinstance(err, ConfigErrors) else [err])]
        order = {name: i for i, name in reversed(list(enumerate(e.source for e in flat)))}
        self.errors = sorted(flat, key=lambda e: (order[e.source], e.line or 0))  # files as given, then lines
        first = self.errors[0]
        self.source, self.path, self.expected, self.line = first.source, first.path, first.expected, first.line
        ValueError.__init__(self, "\n".join(ValueError.__str__(e) for e in self.errors))


T = TypeVar("T")
U = TypeVar("U")


def gather(fn: Callable[[U], T], items: Iterable[U]) -> list[T]:
    """``[fn(item) for item in items]``, but every item is tried: all their ConfigErrors are
    raised together (ConfigErrors), not only the first."""
    out: list[T] = []
    errors: list[ConfigError] = []
    for item in items:
        try:
            out.append(fn(item))
        except ConfigError as exc:
            errors.append(exc)
    raise_all(errors)
    return out


def raise_all(errors: Sequence[ConfigError]) -> None:
    if len(errors) == 1 and not isinstance(errors[0], ConfigErrors):
        raise errors[0]
    if errors:
        raise ConfigErrors(errors)


class Origin(Protocol):
    """Anything that can turn a key path into a ConfigError (a Source, or layered sources)."""

    name: str

    def error(self, path: Path, expected: str) -> ConfigError: ...


@dataclass
class Source:
    """Where parsed data came from: a file name and the line of every key path (when known)."""

    name: str
    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def error(self, path: Path, expected: str) -> ConfigError:
        return ConfigError(self.name, path, expected, self.line(path))


def line_map(text: str) -> dict[Path, int]:
    """1-based line of every key path in a YAML (or JSON, which YAML reads) document."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    out: dict[Path, int] = {}
    if root is not None:
        _walk(root, (), out)
    return out


def _walk(node: yaml.Node, path: Path, out: dict[Path, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            _walk(value, child, out)
            out[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), out)


def load_text(name: str, text: str) -> tuple[Any, Source]:
    """Parse JSON or YAML text; syntax errors name the line and column."""
    import json

    source = Source(name)
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(name, (), f"valid JSON ({exc.msg}, column {exc.colno})", exc.lineno) from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or "syntax error"
            line = mark.line + 1 if mark is not None else None
            raise ConfigError(name, (), f"valid YAML ({problem})", line) from None
    source.lines = line_map(text)
    return data, source


def expect_mapping(source: Origin, value: Any, path: Path) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise source.error(path, f"a mapping of keys to values, got {type(value).__name__}")
    return value
