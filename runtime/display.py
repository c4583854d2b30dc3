"""Display helpers shared by the apps' admin pages."""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString


def truncated(value: object) -> SafeString:
    """A list cell cut to its column by CSS (admin-gateway.css) with the whole value as its title."""
    text = "" if value is None else str(value)
    return format_html('<span class="gw-truncate" title="{}">{}</span>', text, text)
