from __future__ import annotations

from django.apps import AppConfig


class ConfigurationConfig(AppConfig):
    """The gateway's configuration as files and first run: import, export, env seeding, init."""

    name = "configuration"
