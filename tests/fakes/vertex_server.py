"""A fake Google Vertex AI endpoint for Anthropic models, with its own fake OAuth token endpoint.

``POST /token`` plays Google's OAuth token endpoint for service accounts: it takes the
``jwt-bearer`` grant, verifies the assertion's RS256 signature with the public half of the
throwaway key that ``service_account_info()`` generated (and its ``iss``, ``aud``, ``scope`` and
``exp``), and issues ``ya29.fake-<n>`` tokens living ``token_lifetime`` seconds.

``POST /v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:rawPredict``
(and ``:streamRawPredict``) is strict the way Vertex is: the Bearer token must be one it issued and
not expired (401 ``UNAUTHENTICATED`` in Google's error shape otherwise), project and region must be
the fake's (404), the body must carry ``anthropic_version: vertex-2023-10-16`` and no ``model``
(400, in Anthropic's error shape, as Vertex passes those through). Streams are Anthropic SSE.
``…/models/count-tokens:rawPredict`` answers ``{"input_tokens": n}``.
"""

from __future__ import annotations

import base64
import functools
import hmac
import itertools
import json
import threading
import time
from typing import ClassVar
from urllib.parse import parse_qs, unquote

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fakes.anthropic_server import FakeAnthropic, anthropic_error
from tests.fakes.server import Recorded, Reply

VERTEX_VERSION = "vertex-2023-10-16"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
MODELS_PREFIX = "/publishers/anthropic/models/"
TOKEN_PATH = "/token"
# google-auth signs the assertion for Google's token endpoint whatever token_uri says (as Google wants)
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
CLIENT_EMAIL = "gateway-tests@fake-project.iam.gserviceaccount.com"


@functools.cache
def _private_key() -> rsa.RSAPrivateKey:
    """One throwaway RSA key per test process (generating one takes a noticeable fraction of a second)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account_info(token_uri: str, project: str = "fake-project") -> dict[str, str]:
    """A service-account JSON key whose ``token_uri`` is the fake's token endpoint."""
    pem = _private_key().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()).decode()
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "fake0000key0000id",
        "private_key": pem,
        "client_email": CLIENT_EMAIL,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.example.invalid/o/oauth2/auth",
        "token_uri": token_uri,
    }


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def google_error(status: int, message: str, code: str) -> Reply:
    return Reply.json({"error": {"code": status, "message": message, "status": code}}, status=status)


def verify_assertion(assertion: str, token_uri: str, now: float) -> str | None:
    """None when the JWT is RS256-signed by the fake's key for this endpoint; else why not."""
    try:
        header_b64, payload_b64, sig_b64 = assertion.split(".")
        header, claims = json.loads(_b64(header_b64)), json.loads(_b64(payload_b64))
        _private_key().public_key().verify(_b64(sig_b64), f"{header_b64}.{payload_b64}".encode(),
                                           padding.PKCS1v15(), hashes.SHA256())
    except Exception as exc:  # any malformed or forged assertion is an invalid_grant
        return f"invalid JWT: {type(exc).__name__}"
    if header.get("alg") != "RS256":
        return "alg must be RS256"
    if claims.get("iss") != CLIENT_EMAIL or claims.get("aud") not in (token_uri, GOOGLE_TOKEN_AUDIENCE):
        return "iss/aud mismatch"
    if CLOUD_PLATFORM not in str(claims.get("scope", "")).split():
        return "scope must include cloud-platform"
    if not claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0):
        return "JWT outside its validity window"
    return None


class GoogleTokens:
    """What both Vertex fakes share: a Google token endpoint that checks the service account's
    signed JWT (``issue``), the Bearer check of every call (``authorized``), and the
    ``/v1/projects/{p}/locations/{r}/publishers/{publisher}/models/{model}:{action}`` paths."""

    publisher: ClassVar[str] = "anthropic"
    token_prefix: ClassVar[str] = "ya29.fake-"
    origin: str
    requests: list[Recorded]

    def tokens_init(self, project: str, region: str, token_lifetime: int) -> None:
        self.project, self.region, self.token_lifetime = project, region, token_lifetime
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

    @classmethod
    def split_path(cls, path: str) -> tuple[str, str, str, str] | None:
        """(project, region, model, action) of a publisher model path, or None."""
        parts = path.split("/")
        if len(parts) != 10 or parts[1:3] != ["v1", "projects"] or parts[4] != "locations" \
                or parts[6:9] != ["publishers", cls.publisher, "models"] or ":" not in parts[9]:
            return None
        model, _, action = unquote(parts[9]).rpartition(":")
        return parts[3], parts[5], model, action

    def issue(self, rec: Recorded) -> Reply:
        form = {k: v[-1] for k, v in parse_qs(rec.raw.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return Reply.json({"error": "unsupported_grant_type"}, status=400)
        problem = verify_assertion(form.get("assertion", ""), self.token_uri, time.time())
        if problem is not None:
            return Reply.json({"error": "invalid_grant", "error_description": problem}, status=400)
        with self._token_lock:
            token = f"{self.token_prefix}{next(self._serial)}"
            self.tokens[token] = time.time() + self.token_lifetime
        return Reply.json({"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"})

    def authorized(self, rec: Recorded) -> bool:
        scheme, _, token = rec.headers.get("authorization", "").partition(" ")
        with self._token_lock:
            expiry = next((exp for t, exp in self.tokens.items() if hmac.compare_digest(t, token.strip())), None)
        return scheme == "Bearer" and expiry is not None and expiry > time.time()


class FakeVertex(GoogleTokens, FakeAnthropic):
    """Vertex for Anthropic models: ``base_url`` is the origin; ``token_uri`` the fake token endpoint."""

    main_paths: ClassVar[tuple[str, ...]] = ()
    name: ClassVar[str] = "fake-vertex"

    def __init__(self, project: str = "fake-project", region: str = "us-east5", token_lifetime: int = 3600) -> None:
        super().__init__()
        self.tokens_init(project, region, token_lifetime)
        self.rejected: list[Recorded] = []

    # --- paths ------------------------------------------------------------------------------------

    def is_main(self, path: str) -> bool:
        split = self.split_path(path)
        return split is not None and split[2] != "count-tokens" and split[3] in ("rawPredict", "streamRawPredict")

    # --- checks -----------------------------------------------------------------------------------

    def check(self, rec: Recorded) -> Reply | None:
        """Vertex's authentication, resource and body checks, before any scripted reply."""
        if not self.authorized(rec):
            return google_error(401, "Request had invalid authentication credentials. Expected OAuth 2 access "
                                "token, login cookie or other valid authentication credential.", "UNAUTHENTICATED")
        project, region, model, action = self.split_path(rec.path) or ("", "", "", "")
        if (project, region) != (self.project, self.region):
            return google_error(404, f"Project {project!r} or location {region!r} not found.", "NOT_FOUND")
        body = rec.json
        if not isinstance(body, dict):
            return Reply.json(anthropic_error(400, "body must be a JSON object"), status=400)
        if body.get("anthropic_version") != VERTEX_VERSION:
            return Reply.json(anthropic_error(400, "anthropic_version: vertex-2023-10-16 is required"), status=400)
        if "model" in body and model != "count-tokens":
            return Reply.json(anthropic_error(400, "model: Extra inputs are not permitted"), status=400)
        if bool(body.get("stream")) != (action == "streamRawPredict"):
            return Reply.json(anthropic_error(400, f"stream={body.get('stream')!r} does not fit :{action}"), status=400)
        return None

    def side_reply(self, rec: Recorded) -> Reply | None:
        split = self.split_path(rec.path)
        if rec.method == "POST" and split is not None and split[2] == "count-tokens":
            return Reply.json({"input_tokens": max(1, len(rec.raw) // 4)})
        return super().side_reply(rec)

    def _choose(self, rec: Recorded) -> Reply:
        if rec.path == TOKEN_PATH and rec.method == "POST":
            return self.issue(rec)
        if self.split_path(rec.path) is not None:
            rejected = self.check(rec)
            if rejected is not None:
                with self._lock:
                    self.rejected.append(rec)
                return rejected
        return super()._choose(rec)

    def __enter__(self) -> FakeVertex:
        self.start()
        return self


def vertex_token_headers(rec: Recorded) -> str:
    """The Bearer token a recorded request carried ("" without one)."""
    scheme, _, token = rec.headers.get("authorization", "").partition(" ")
    return token if scheme == "Bearer" else ""


__all__ = ["FakeVertex", "VERTEX_VERSION", "google_error", "service_account_info", "vertex_token_headers"]
