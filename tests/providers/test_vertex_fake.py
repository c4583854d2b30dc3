"""The fake Vertex is strict: what it refuses, a gateway bug would be refused by Google too."""

from __future__ import annotations

import httpx
import pytest

from providers import google_auth
from tests.fakes.vertex_server import FakeVertex, service_account_info

PATH = "/v1/projects/fake-project/locations/us-east5/publishers/anthropic/models/claude-opus-4-6"
GOOD = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def up():
    google_auth.google_tokens_forget()
    with FakeVertex() as fake:
        yield fake
    google_auth.google_tokens_forget()


def _post(up, path, body, token=None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(up.origin + path, json=body, headers=headers, timeout=10, trust_env=False)


def test_issued_token_opens_predict_and_streams_sse(up):
    token = google_auth.google_token_get(cache_key="fake", info=up.service_account())
    assert _post(up, PATH + ":rawPredict", GOOD, token).json()["type"] == "message"
    resp = _post(up, PATH + ":streamRawPredict", {**GOOD, "stream": True}, token)
    assert resp.headers["content-type"].startswith("text/event-stream") and "event: message_stop" in resp.text


@pytest.mark.parametrize("body,path_suffix,fragment", [
    ({**GOOD, "model": "claude-opus-4-6"}, ":rawPredict", "model: Extra inputs"),
    ({k: v for k, v in GOOD.items() if k != "anthropic_version"}, ":rawPredict", "anthropic_version"),
    ({**GOOD, "anthropic_version": "2023-06-01"}, ":rawPredict", "anthropic_version"),
    ({**GOOD, "stream": True}, ":rawPredict", "does not fit"),
    (GOOD, ":streamRawPredict", "does not fit"),
], ids=["model-field", "no-version", "wrong-version", "stream-on-raw", "no-stream-on-stream"])
def test_body_rules(up, body, path_suffix, fragment):
    token = google_auth.google_token_get(cache_key="fake", info=up.service_account())
    resp = _post(up, PATH + path_suffix, body, token)
    assert resp.status_code == 400 and fragment in resp.json()["error"]["message"]


def test_unknown_or_missing_token_and_wrong_project(up):
    assert _post(up, PATH + ":rawPredict", GOOD).json()["error"]["status"] == "UNAUTHENTICATED"
    assert _post(up, PATH + ":rawPredict", GOOD, "ya29.made-up").status_code == 401
    token = google_auth.google_token_get(cache_key="fake", info=up.service_account())
    other = PATH.replace("fake-project", "someone-else") + ":rawPredict"
    assert _post(up, other, GOOD, token).status_code == 404
    assert len(up.rejected) == 3


def test_token_endpoint_verifies_the_jwt_signature(up):
    info = service_account_info(up.token_uri)
    with pytest.raises(google_auth.GoogleCredentialsError, match="invalid_grant"):
        google_auth.google_token_get(cache_key="forged", info={**info, "client_email": "x@y.iam.gserviceaccount.com"})
    resp = httpx.post(up.token_uri, data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                          "assertion": "e30.e30.c2ln"}, trust_env=False)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    assert up.tokens == {}
