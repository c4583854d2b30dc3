"""The installed command, ``claude-gateway`` (alias ``cgw``): a thin argparse dispatcher.

Each subcommand either hands its arguments to a management command (serve, claude, init, import,
export, keys create, hashes) or calls a small function here (serve --detach, stop, status, logs,
keys list/revoke, doctor). Django starts only when a subcommand needs it, so ``--help`` is fast.
It works from any folder: the data directory (GATEWAY_HOME, by default data/ in a checkout and
~/.local/share/claude-gateway when installed) holds the database, secrets, and the pid and log
of a background gateway.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from proxy_project.cli import background, doctor, keys
from proxy_project.cli.common import PROG, command_help, delegate, django_setup

# Subcommands that are management commands: (command, one line, examples for --help).
DELEGATED: dict[str, tuple[str, str, str]] = {
    "serve": ("serve", "run the gateway, dashboard, Celery worker and beat in the foreground (-d: background)",
              "  cgw serve                      # Ctrl-C stops it\n"
              "  cgw serve --port 9000 --no-worker\n"
              "  cgw serve -d                   # in the background; then cgw status / logs -f / stop\n"
              "  cgw serve -d --port 9000 --start-timeout 120 --no-beat"),
    "claude": ("claude", "run Claude Code through the gateway, starting one in the background if none answers",
               "  cgw claude                     # an interactive session\n"
               "  cgw claude -p 'say hi' --model sonnet\n"
               "  cgw claude --no-start -- --help  # claude's own --help"),
    "init": ("init", "write a starting configuration (a provider and the tiers); --import loads it",
             "  cgw init                       # asks on a terminal\n"
             "  cgw init --no-input --api-key sk-... --big-model gpt-4.1 --small-model gpt-4.1-mini --import"),
    "import": ("import_config", "import providers, tiers and agents (JSON/YAML, claude-proxy, ccr, ccproxy files)",
               "  cgw import providers.json\n  cgw import --dry-run ~/.claude-code-router/config.json"),
    "export": ("export_config", "print the configuration as a file `cgw import` reads back",
               "  cgw export -o gateway.json\n  cgw export --no-secrets"),
    "hashes": ("generate_hashes", "write agent fingerprints (hashes of agent .md files in DIR)",
               "  cgw hashes ~/.claude/agents --output agent_hashes.json"),
}
OWN = {
    "stop": (background.add_stop, background.stop, "stop the background gateway (`serve -d` or `claude`)"),
    "status": (background.add_status, background.status, "is a gateway answering? pid, data directory, log"),
    "logs": (background.add_logs, background.logs, "print (-f: follow) the background gateway's log"),
    "keys": (keys.add_arguments, keys.run, "client keys: create NAME | list | revoke NAME-OR-PREFIX"),
    "doctor": (doctor.add_arguments, doctor.run, "check configuration, credentials, database, Redis, providers"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A gateway for Claude Code in front of Anthropic, Bedrock and OpenAI-compatible backends.",
        epilog="examples:\n  cgw claude                 # start a gateway if needed, then Claude Code through it\n"
               "  cgw doctor                 # what is wrong, and how to fix it\n"
               "  cgw <command> --help       # every command's options, with examples",
    )
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, line, _examples) in DELEGATED.items():
        # add_help=False: the management command's own parser answers --help (with our examples).
        sub = subs.add_parser(name, help=line, add_help=False)
        sub.add_argument("args", nargs=argparse.REMAINDER)
    for name, (add, _, line) in OWN.items():
        sub = subs.add_parser(name, help=line, description=line, formatter_class=argparse.RawDescriptionHelpFormatter)
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proxy_project.settings")
    args = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if args and args[0] in DELEGATED:
        return _delegated(args[0], args[1:])
    if args[:2] == ["keys", "create"]:  # all of it is create_client_key's, --help included
        return delegate("create_client_key", f"{PROG} keys create", args[2:])
    options = parser.parse_args(args)
    return int(OWN[options.command][1](options) or 0)


def _delegated(name: str, rest: list[str]) -> int:
    command, line, examples = DELEGATED[name]
    if name == "serve" and background.wants_detach(rest):
        return background.serve_detached(rest)
    django_setup()
    from proxy_project.management.commands.claude import split_argv

    ours = split_argv(rest)[0] if name == "claude" else rest  # claude's own --help goes to claude
    if "-h" in ours or "--help" in ours:
        print(command_help(command, f"{PROG} {name}", line, examples))
        return 0
    return delegate(command, f"{PROG} {name}", rest)
