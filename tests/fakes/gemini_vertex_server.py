"""A fake Gemini on Vertex AI: FakeGemini's strict body checks on Vertex's paths, with Google OAuth.

``POST /token`` plays Google's token endpoint for service accounts, as in ``vertex_server``: the
``jwt-bearer`` assertion must be RS256-signed by the throwaway key ``service_account()`` returns
(verified, with its ``iss``, ``aud``, ``scope`` and ``exp``); tokens are ``ya29.fake-gemini-<n>``.

``POST /v1/projects/{project}/locations/{region}/publishers/google/models/{model}:generateContent``
(and ``:streamGenerateContent?alt=sse``) is strict the way Vertex is, before any scripted reply:

- ``Authorization: Bearer <token it issued, unexpired>``, else 401 ``UNAUTHENTICATED`` (an API key
  in ``x-goog-api-key`` does not authenticate a project-scoped call);
- project and region must be the fake's (404 ``NOT_FOUND``), the model one of ``models`` when set
  (404 "Publisher Model ... was not found");
- every content carries ``role`` user or model (Vertex's "Unable to submit request because Please
  use a valid role: user, model."), which the Developer API lets a caller leave out;
- everything FakeGemini checks: unknown fields (Vertex's request adds ``labels`` and
  ``modelArmorConfig``), the OpenAPI schema subset, functionResponse names, thought signatures on
  the current turn's tool steps of thinking models (``gemini-3*``), forged signatures.
"""

from __future__ import annotations

import hmac
import itertools
import threading
import time
from typing import ClassVar
from urllib.parse import parse_qs, unquote

from tests.fakes.gemini_server import (
    ROLE_MESSAGE,
    TOP_FIELDS,
    FakeGemini,
    GeminiRejection,
    gemini_error,
    validate_request,
)
from tests.fakes.server import Recorded, Reply
from tests.fakes.vertex_server import TOKEN_PATH, service_account_info, verify_assertion

VERTEX_TOP_FIELDS = TOP_FIELDS | {"labels", "modelArmorConfig"}
ACTIONS = ("generateContent", "streamGenerateContent")
LEARN_MORE = "Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini"


class FakeGeminiVertex(FakeGemini):
    """``base_url`` is the origin (the adapter adds ``/v1/projects/...``); ``token_uri`` the token endpoint."""

    name: ClassVar[str] = "fake-gemini-vertex"

    def __init__(self, project: str = "fake-project", region: str = "us-central1", token_lifetime: int = 3600,
                 models: set[str] | None = None) -> None:
        super().__init__(api_key="")
        self.project, self.region, self.token_lifetime = project, region, token_lifetime
        self.models = models
        self.tokens: dict[str, float] = {}  # issued token -> expiry (epoch seconds)
        self._serial = itertools.count(1)
        self._token_lock = threading.Lock()

    @property
    def token_uri(self) -> str:
        return self.origin + TOKEN_PATH

    def service_account(self) -> dict[str, str]:
        return service_account_info(self.token_uri, self.project)

    @property
    def token_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == TOKEN_PATH]

    # --- paths ------------------------------------------------------------------------------------

    @staticmethod
    def split_path(path: str) -> tuple[str, str, str, str] | None:
        """(project, region, model, action) of a generateContent path, or None."""
        parts = path.split("/")
        if len(parts) != 10 or parts[1:3] != ["v1", "projects"] or parts[4] != "locations" \
                or parts[6:9] != ["publishers", "google", "models"] or ":" not in parts[9]:
            return None
        model, _, action = unquote(parts[9]).rpartition(":")
        return parts[3], parts[5], model, action

    def is_main(self, path: str) -> bool:
        split = self.split_path(path)
        return split is not None and split[3] in ACTIONS

    @classmethod
    def model_of(cls, rec: Recorded) -> str:
        split = cls.split_path(rec.path)
        return split[2] if split else ""

    @staticmethod
    def is_stream(rec: Recorded) -> bool:
        return rec.path.endswith(":streamGenerateContent")

    # --- OAuth --------------------------------------------------------------------------------------

    def _issue(self, rec: Recorded) -> Reply:
        form = {k: v[-1] for k, v in parse_qs(rec.raw.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return Reply.json({"error": "unsupported_grant_type"}, status=400)
        problem = verify_assertion(form.get("assertion", ""), self.token_uri, time.time())
        if problem is not None:
            return Reply.json({"error": "invalid_grant", "error_description": problem}, status=400)
        with self._token_lock:
            token = f"ya29.fake-gemini-{next(self._serial)}"
            self.tokens[token] = time.time() + self.token_lifetime
        return Reply.json({"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"})

    def authorized(self, rec: Recorded) -> bool:
        scheme, _, token = rec.headers.get("authorization", "").partition(" ")
        with self._token_lock:
            expiry = next((exp for t, exp in self.tokens.items() if hmac.compare_digest(t, token.strip())), None)
        return scheme == "Bearer" and expiry is not None and expiry > time.time()

    # --- checks -------------------------------------------------------------------------------------

    def check(self, rec: Recorded) -> tuple[int, str, str, str] | None:
        if not self.authorized(rec):
            return (401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 "
                    "access token, login cookie or other valid authentication credential.", "ACCESS_TOKEN_TYPE_UNSUPPORTED")
        project, region, model, _action = self.split_path(rec.path) or ("", "", "", "")
        if (project, region) != (self.project, self.region):
            return 404, "NOT_FOUND", f"Project {project!r} or location {region!r} not found.", ""
        if self.models is not None and model not in self.models:
            return (404, "NOT_FOUND", f"Publisher Model `projects/{project}/locations/{region}/publishers/google/"
                    f"models/{model}` was not found or your project does not have access to it.", "")
        if self.is_stream(rec) and rec.query.get("alt") != "sse":
            return 400, "INVALID_ARGUMENT", "fake: streams are served as SSE only with alt=sse", ""
        try:
            validate_request(rec.json, thinking_model=model.startswith("gemini-3"), issued=self.signatures,
                             role_required=True, top_fields=VERTEX_TOP_FIELDS)
        except GeminiRejection as exc:
            text = str(exc)
            if text.startswith(ROLE_MESSAGE):
                text = f"Unable to submit request because {ROLE_MESSAGE}. {LEARN_MORE}"
            return 400, "INVALID_ARGUMENT", text, ""
        return None

    def side_reply(self, rec: Recorded) -> Reply | None:
        return None  # no models.list: Vertex's publisher-model reads are another API

    def _choose(self, rec: Recorded) -> Reply:
        if rec.path == TOKEN_PATH and rec.method == "POST":
            return self._issue(rec)
        if self.split_path(rec.path) is not None and not self.is_main(rec.path):
            return gemini_error(400, "INVALID_ARGUMENT", f"fake: unknown method {rec.path.rpartition(':')[2]!r}")
        return super()._choose(rec)

    def __enter__(self) -> FakeGeminiVertex:
        self.start()
        return self


__all__ = ["FakeGeminiVertex"]
