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

from typing import ClassVar

from tests.fakes.gemini_server import (
    ROLE_MESSAGE,
    TOP_FIELDS,
    FakeGemini,
    GeminiRejection,
    gemini_error,
    validate_request,
)
from tests.fakes.server import Recorded, Reply
from tests.fakes.vertex_server import TOKEN_PATH, GoogleTokens

VERTEX_TOP_FIELDS = TOP_FIELDS | {"labels", "modelArmorConfig"}
ACTIONS = ("generateContent", "streamGenerateContent")
LEARN_MORE = "Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini"


class FakeGeminiVertex(GoogleTokens, FakeGemini):
    """``base_url`` is the origin (the adapter adds ``/v1/projects/...``); ``token_uri`` the token endpoint."""

    name: ClassVar[str] = "fake-gemini-vertex"
    publisher: ClassVar[str] = "google"
    token_prefix: ClassVar[str] = "ya29.fake-gemini-"

    def __init__(self, project: str = "fake-project", region: str = "us-central1", token_lifetime: int = 3600,
                 models: set[str] | None = None) -> None:
        super().__init__(api_key="")
        self.tokens_init(project, region, token_lifetime)
        self.models = models

    # --- paths ------------------------------------------------------------------------------------

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
            return self.issue(rec)
        if self.split_path(rec.path) is not None and not self.is_main(rec.path):
            return gemini_error(400, "INVALID_ARGUMENT", f"fake: unknown method {rec.path.rpartition(':')[2]!r}")
        return super()._choose(rec)

    def __enter__(self) -> FakeGeminiVertex:
        self.start()
        return self


__all__ = ["FakeGeminiVertex"]
