"""PURE: Google's endpoints as seed files name them.

ccproxy's ``gemini`` provider (by name, style or ``generativelanguage`` URL) is the native Gemini
kind; a base URL on ``aiplatform.googleapis.com`` is Vertex AI: the ``gemini_vertex`` kind (or
``vertex`` for Claude's ``/publishers/anthropic`` paths) with the project and location the URL
names as options, authenticated with Google OAuth (a stored service-account key, an access token,
or Application Default Credentials when no key is given).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

GEMINI_NAMES = frozenset({"gemini", "google", "google-ai", "google_ai", "googleai", "aistudio"})
VERTEX_HOST = "aiplatform.googleapis.com"
GOOGLE_KINDS = ("gemini_vertex", "vertex")  # Google OAuth: a service-account key, an access token or ADC
VERTEX_PATH = re.compile(r"/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)")


def vertex_endpoint(kind: str, base_url: str) -> tuple[str, str, dict[str, str]]:
    """A Vertex AI base URL (``https://{region}-aiplatform.googleapis.com/v1/projects/P/locations/R/
    publishers/google``): the Gemini or Claude Vertex kind, the host, and project/region as options."""
    parts = urlsplit(base_url)
    if not (parts.hostname or "").endswith(VERTEX_HOST):
        return kind, base_url, {}
    anthropic = kind in ("anthropic", "vertex") or "/publishers/anthropic" in parts.path
    found = VERTEX_PATH.search(parts.path)
    options = {"project": unquote(found["project"]), "region": unquote(found["region"])} if found else {}
    return ("vertex" if anthropic else "gemini_vertex"), f"{parts.scheme}://{parts.netloc}", options


def google_notes(providers: list[dict[str, Any]]) -> list[str]:
    """What a Vertex provider still needs: a project, and a lasting credential for an access token."""
    notes = []
    for p in providers:
        if p["kind"] not in GOOGLE_KINDS:
            continue
        if not p["options"].get("project"):
            notes.append(f"provider {p['name']}: its Vertex AI URL names no /projects/…/locations/…: "
                         "set options.project (and options.region) in the admin")
        if p["api_key"]:
            notes.append(f"provider {p['name']}: its apiKey is sent as a Google access token (these expire "
                         "within the hour): store a service-account key or leave it empty for ADC")
    return notes
