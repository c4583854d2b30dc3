"""The apps' imports run one way (ARCHITECTURE.md): no module imports an app above its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Top to bottom, as ARCHITECTURE.md lists them. Apps on one line may not import each other either.
LAYERS: list[tuple[str, ...]] = [
    ("proxy_project",),
    ("configuration",),
    ("dashboard",),
    ("gateway",),
    ("clients",),
    ("routing",),
    ("providers",),
    ("audit", "sso"),
    ("runtime",),
]
LEVEL = {app: depth for depth, apps in enumerate(LAYERS) for app in apps}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def _app_files() -> list[Path]:
    return sorted(p for app in LEVEL for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts)


def test_no_import_runs_back_up() -> None:
    upward = []
    for path in _app_files():
        own = path.relative_to(ROOT).parts[0]
        for line, module in _imports(path):
            target = module.split(".")[0]
            if target in LEVEL and target != own and LEVEL[target] <= LEVEL[own]:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert upward == [], "imports that run back up (ARCHITECTURE.md):\n" + "\n".join(upward)


@pytest.mark.parametrize("app", sorted(LEVEL))
def test_no_app_holds_most_of_the_code(app: str) -> None:
    lines = {a: sum(len(p.read_text().splitlines()) for p in _app_files() if p.relative_to(ROOT).parts[0] == a)
             for a in LEVEL}
    assert lines[app] / sum(lines.values()) < 0.42, f"{app} holds {lines[app]} of {sum(lines.values())} app lines"
