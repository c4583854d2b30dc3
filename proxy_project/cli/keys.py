"""``keys create|list|revoke``: client keys. create is the management command (shown once,
audited); list and revoke go through the selectors and services."""

from __future__ import annotations

import argparse
import sys

from proxy_project.cli.common import PROG, database_ready, delegate, django_setup


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("examples:\n  cgw keys create alice --requests-per-day 2000 --usd-per-day 20\n"
                     "  KEY=$(cgw keys create ci --print)\n  cgw keys list\n  cgw keys revoke alice\n"
                     "  cgw keys revoke sk-gw-AbC1   # by the prefix `keys list` shows")
    subs = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = subs.add_parser("create", add_help=False, help="issue a key, shown once (`keys create --help`)")
    create.add_argument("args", nargs=argparse.REMAINDER)
    subs.add_parser("list", help="name, prefix, enabled, limits and last use of every key")
    revoke = subs.add_parser("revoke", help="disable a key now (its rows and usage stay)")
    revoke.add_argument("key", metavar="NAME-OR-PREFIX")


def run(options: argparse.Namespace) -> int:
    if options.action == "create":
        return delegate("create_client_key", f"{PROG} keys create", options.args)
    django_setup()
    database_ready()
    return key_list() if options.action == "list" else key_revoke(options.key)


def key_list() -> int:
    from dashboard.reports import client_key_rows

    rows = client_key_rows()
    if not rows:
        print(f"no client keys: `{PROG} keys create NAME` issues one")
        return 0
    header = ["name", "prefix", "enabled", "last used", "req/min", "req/day", "tokens/day", "usd/day", "usd/month"]
    limits = ("requests_per_minute", "requests_per_day", "tokens_per_day", "usd_per_day", "usd_per_month")
    table = [[r["name"], r["prefix"], "yes" if r["enabled"] else "no",
              r["last_used"].strftime("%Y-%m-%d %H:%M") if r["last_used"] else "-",
              *("-" if r[k] is None else str(r[k]) for k in limits)] for r in rows]
    widths = [max(len(line[i]) for line in [header, *table]) for i in range(len(header))]
    for line in [header, *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return 0


def key_revoke(name_or_prefix: str) -> int:
    """Disable the enabled key with this name or key prefix; refuse when several match."""
    from django.db.models import Q

    from clients.models import ClientKey
    from clients.services import client_key_save

    wanted = Q(name=name_or_prefix) | Q(key_prefix=name_or_prefix) | Q(key_hash=ClientKey.hash_key(name_or_prefix))
    matches = list(ClientKey.objects.filter(wanted, enabled=True))
    if not matches:
        print(f"no enabled client key named or starting with {name_or_prefix!r} (`{PROG} keys list`)", file=sys.stderr)
        return 1
    if len(matches) > 1:
        print(f"{len(matches)} enabled keys match {name_or_prefix!r}: revoke one by its prefix "
              f"({', '.join(k.key_prefix + '…' for k in matches)})", file=sys.stderr)
        return 1
    client_key_save(key=matches[0], fields={"enabled": False})
    print(f"revoked client key {matches[0].name!r} ({matches[0].key_prefix}…)")
    return 0
