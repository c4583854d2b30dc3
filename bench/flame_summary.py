"""Summarize a py-spy ``--format raw`` (collapsed stacks) profile of the gateway.

    .venv/bin/py-spy record --pid <daphne pid> -d 10 -r 200 -f raw -o /tmp/x.txt
    .venv/bin/python bench/flame_summary.py /tmp/x.txt [--top 25]

Prints: samples per category (inclusive: a sample counts for every category on its stack, so the
column does not add up to 100%), "self" time per category (the innermost frame's category, adds up
to 100%), and the top functions by self and by inclusive samples.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME_RE = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")

# (category, substring of the frame's file path); first match wins, so specific before generic.
CATEGORIES: list[tuple[str, str]] = [
    ("gateway: providers/", "providers/"),
    ("gateway: routing/", "routing/"),
    ("gateway: dashboard/", "dashboard/"),
    ("gateway: proxy_project/", "proxy_project/"),
    ("ninja", "ninja/"),
    ("pydantic", "pydantic"),
    ("django ORM / db", "django/db/"),
    ("django middleware/contrib", "django/contrib/"),
    ("django middleware/contrib", "django/middleware/"),
    ("django_htmx", "django_htmx/"),
    ("django request/response", "django/core/handlers/"),
    ("django request/response", "django/http/"),
    ("django urls", "django/urls/"),
    ("django other", "django/"),
    ("asgiref (sync_to_async etc.)", "asgiref/"),
    ("channels", "channels/"),
    ("daphne", "daphne/"),
    ("twisted", "twisted/"),
    ("httpx", "httpx/"),
    ("httpcore", "httpcore/"),
    ("h11", "h11/"),
    ("anyio", "anyio/"),
    ("sqlite3", "sqlite3/"),
    ("logging", "logging/"),
    ("asyncio", "asyncio/"),
    ("json (stdlib)", "json/"),
    ("concurrent.futures / threading", "concurrent/"),
    ("concurrent.futures / threading", "threading.py"),
    ("ssl / socket", "ssl.py"),
    ("ssl / socket", "socket.py"),
]


def category(file: str) -> str:
    for name, needle in CATEGORIES:
        if needle in file:
            return name
    return "other: " + file.rsplit("/", 1)[-1]


def parse(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    stacks: list[tuple[list[tuple[str, str]], int]] = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        stack_s, _, count_s = line.rpartition(" ")
        try:
            count = int(count_s)
        except ValueError:
            continue
        frames: list[tuple[str, str]] = []
        for raw in stack_s.split(";"):
            m = FRAME_RE.match(raw)
            if m:
                frames.append((m.group("func"), m.group("file")))
            else:
                frames.append((raw, raw))
        stacks.append((frames, count))
    return stacks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("profile", type=Path)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    stacks = parse(args.profile)
    total = sum(c for _, c in stacks) or 1
    cat_incl: Counter[str] = Counter()
    cat_self: Counter[str] = Counter()
    fn_self: Counter[str] = Counter()
    fn_incl: Counter[str] = Counter()
    for frames, count in stacks:
        if not frames:
            continue
        func, file = frames[-1]
        cat_self[category(file)] += count
        fn_self[f"{func} ({file})"] += count
        for cat in {category(f) for _, f in frames}:
            cat_incl[cat] += count
        for key in {f"{fn} ({f})" for fn, f in frames}:
            fn_incl[key] += count
    print(f"{total} samples")
    print("\nself time by category (innermost frame):")
    for cat, n in cat_self.most_common():
        print(f"  {100 * n / total:5.1f}%  {cat}")
    print("\ninclusive time by category (on the stack):")
    for cat, n in cat_incl.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {cat}")
    print(f"\ntop {args.top} functions by self time:")
    for fn, n in fn_self.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {fn}")
    print(f"\ntop {args.top} functions by inclusive time (gateway code and libraries):")
    skip = ("runpy", "daphne/__main__", "daphne/cli.py", "asyncioreactor.py", "base_events.py", "events.py")
    shown = 0
    for fn, n in fn_incl.most_common():
        if any(s in fn for s in skip):
            continue
        print(f"  {100 * n / total:5.1f}%  {fn}")
        shown += 1
        if shown >= args.top:
            break


if __name__ == "__main__":
    main()
