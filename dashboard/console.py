"""One readable line per request on the console of ``manage.py serve`` (REQUEST_CONSOLE_LOG).

    12:03:04 alice    claude-sonnet-5 → openai/gpt-4o  200  in 1200 out 45  $0.003675  1.23 s  ttft 0.40 s  ↪ anthropic 529
    12:03:05 bob      refused 429 rate_limit

Coloured (status green/yellow/red) when the handler writes to a terminal, plain otherwise. The
line goes through the ``gateway.requests`` logger, so LOG settings and handlers apply. This
module imports no models: the logging configuration loads it while Django starts.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from providers.pricing import format_usd  # pure: no models

logger = logging.getLogger("gateway.requests")

GREEN, YELLOW, RED, DIM, RESET = "\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[2m", "\x1b[0m"


def request_line(row: Mapping[str, Any], client: str) -> None:
    """Log ``row`` (a RequestLog row being queued) as one line; nothing when turned off."""
    if settings.REQUEST_CONSOLE_LOG and logger.isEnabledFor(logging.INFO):
        logger.info("request", extra={"row": row, "client": client})


def _status_colour(status: int) -> str:
    return GREEN if status < 400 else YELLOW if status < 500 or status == 529 else RED


def line_format(row: Mapping[str, Any], client: str, *, colour: bool) -> str:
    """PURE: the console line for ``row``."""
    status = int(row.get("status", 0))
    when = row["created"].strftime("%H:%M:%S") if row.get("created") else "--:--:--"
    status_text = f"{_status_colour(status)}{status}{RESET}" if colour else str(status)
    who = (client or "-")[:16].ljust(16)
    if row.get("refusal"):
        return f"{when} {who} refused {status_text} {row['refusal']}"
    target = f"{row.get('provider') or '-'}/{row.get('upstream_model') or '-'}"
    parts = [f"{when} {who} {row.get('requested_model') or '-'} → {target}", status_text,
             f"in {row.get('input_tokens', 0)} out {row.get('output_tokens', 0)}",
             f"{(row.get('latency_ms') or 0) / 1000:.2f} s"]
    if "cost_usd" in row:  # priced by gateway/costing.py; None: the model has no price
        parts.insert(3, format_usd(row["cost_usd"]))
    if row.get("ttft_ms") is not None:
        parts.append(f"ttft {row['ttft_ms'] / 1000:.2f} s")
    earlier = [f"{a.get('provider')} {a.get('status')}" for a in (row.get("attempts") or [])[:-1]]
    if earlier:
        parts.append(("↪ " + ", ".join(earlier)) if not colour else f"{DIM}↪ {', '.join(earlier)}{RESET}")
    return "  ".join(parts)


class RequestLineFormatter(logging.Formatter):
    """Formats ``gateway.requests`` records; colour only when stderr is a terminal."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.colour = sys.stderr.isatty()

    def format(self, record: logging.LogRecord) -> str:
        row = getattr(record, "row", None)
        if not isinstance(row, Mapping):
            return super().format(record)
        return line_format(row, str(getattr(record, "client", "")), colour=self.colour)


class HandledResponses(logging.Filter):
    """Drops django.request's "Unauthorized: /v1/messages" style lines: the API's 4xx/5xx answers
    are the gateway's own, already on the request line. Tracebacks (exc_info) still pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        handled = record.name == "django.request" and getattr(record, "status_code", None) is not None
        return record.exc_info is not None or not handled  # django.security's CSRF lines stay
