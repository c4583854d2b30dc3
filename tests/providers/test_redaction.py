"""Credentials never reach a client answer or a log row through an upstream's error message."""

from __future__ import annotations

import json
import sqlite3
import time

import httpx
import pytest

from runtime.redaction import MASK, SecretBook, redact, secrets_pattern
from tests.fakes import FakeOpenAI, Reply
from tests.support.gateway import CLIENT_KEY, start_gateway

# Obviously fake values of every shape the redactor knows.
SHAPED = {
    "openai": "sk-proj-FAKEfake0123456789abcdef",
    "anthropic": "sk-ant-api03-FAKE_fake-0123456789",
    "oauth": "sk-ant-oat01-FAKEfake0123456789",
    "gateway": "sk-gw-FAKEfake0123456789",
    "google": "AIzaFAKEfake0123456789abcdefghijklmno",
    "aws_key_id": "AKIAFAKEFAKEFAKE0000",
}


@pytest.mark.parametrize("name", sorted(SHAPED))
def test_redact_masks_well_known_key_shapes(name):
    secret = SHAPED[name]
    out = redact(f"Incorrect API key provided: {secret}. See the docs.")
    assert secret not in out and MASK in out
    assert out.startswith("Incorrect API key provided: ") and out.endswith(". See the docs.")


@pytest.mark.parametrize("text", [
    "Authorization: Bearer eyJFAKE.fake.token rejected",
    "header x-api-key: any-shape-at-all-123 is invalid",
    '{"x-api-key": "any-shape-at-all-123"}',
    "api_key=any-shape-at-all-123&x=1",
    "secret_access_key = any-shape-at-all-123",
])
def test_redact_masks_header_and_parameter_values(text):
    out = redact(text)
    assert "any-shape-at-all-123" not in out and "eyJFAKE" not in out
    assert MASK in out


def test_redact_keeps_ordinary_text():
    text = "model gpt-4o not found; max_tokens must be <= 4096 (task-id 1234, skip-this)"
    assert redact(text) == text


def test_redact_masks_configured_values_of_any_shape():
    assert redact("echo: plainvalue-31415926!", ["plainvalue-31415926"]) == f"echo: {MASK}!"
    assert redact("short abc stays", ["abc"]) == "short abc stays"  # too short to be a credential


def test_redact_masks_a_secret_containing_another_whole():
    pattern = secrets_pattern(["value-12345678", "value-12345678-longer"])
    assert redact("got value-12345678-longer", pattern) == f"got {MASK}"


def test_secret_book_keeps_only_the_most_recent_values():
    book = SecretBook(limit=3)
    for i in range(5):
        book.add(f"configured-value-{i:04d}")
    book.add("configured-value-0002")  # used again: now the most recent
    book.add("configured-value-0005")
    assert len(book) == 3
    kept = redact(" ".join(f"configured-value-{i:04d}" for i in range(6)), book.pattern)
    assert kept.split() == ["configured-value-0000", "configured-value-0001", MASK,
                            "configured-value-0003", MASK, MASK]


CONFIGURED_KEY = "cfg-upstream-secret-9f8e7d6c5b4a"   # no well-known shape: only the configured-value net
ORG_TOKEN = "org-token-value-27182818"               # a provider header (CUSTOM_HEADER_X_ORG_TOKEN)
HEADERS = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
BODY = {"model": "claude-sonnet-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
ALL_SECRETS = [CONFIGURED_KEY, ORG_TOKEN, *SHAPED.values(), "eyJFAKE.fake.token", "any-shape-at-all-123"]


def echo_credentials(status: int):
    """An upstream whose error message quotes what it received and a few keys of its own."""

    def handler(rec):
        if not rec.path.endswith("/chat/completions"):
            return None
        message = (f"bad request with key {rec.headers.get('authorization', '')[7:]} and org "
                   f"{rec.headers.get('x-org-token')}; also {' '.join(SHAPED.values())}; "
                   "Authorization: Bearer eyJFAKE.fake.token; x-api-key: any-shape-at-all-123")
        return Reply.error(status, {"error": {"message": message, "type": "invalid_request_error"}})

    return handler


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with FakeOpenAI() as up, start_gateway(
        {"PREFERRED_PROVIDER": "openai", "OPENAI_BASE_URL": up.base_url, "OPENAI_API_KEY": CONFIGURED_KEY,
         "CUSTOM_HEADER_X_ORG_TOKEN": ORG_TOKEN, "REQUEST_LOG_FLUSH_INTERVAL": "0.1"},
        tmp_path_factory.mktemp("redaction"),
    ) as gw:
        yield up, gw


def logged_errors(gw, marker: str, deadline: float = 10.0) -> list[str]:
    """The RequestLog error texts containing ``marker`` (the flusher writes them within a second)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with sqlite3.connect(gw.db_path) as db:
            rows = [r[0] for r in db.execute("SELECT error FROM dashboard_requestlog WHERE error LIKE ?",
                                             (f"%{marker}%",))]
        if rows:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"no log row with {marker!r} within {deadline} s")


@pytest.mark.parametrize(("path", "status", "stream"), [
    ("/v1/messages", 400, False),
    ("/v1/messages", 400, True),
    ("/v1/messages", 500, False),
    ("/v1/chat/completions", 400, False),
    ("/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke", 400, False),
])
def test_upstream_error_echoing_credentials_is_redacted_for_client_and_log(live, path, status, stream):
    up, gw = live
    up.handler = echo_credentials(status)
    marker = f"marker-{path.split('/')[-1]}-{status}-{stream}"
    body = {**BODY, "stream": stream, "metadata": {"user_id": marker}}
    if path.startswith("/model/"):
        body = {k: v for k, v in body.items() if k not in ("model", "stream")}
    resp = httpx.post(f"{gw.url}{path}", headers={**HEADERS, "x-claude-code-session-id": marker},
                      content=json.dumps(body), timeout=30, trust_env=False)
    assert resp.status_code >= 400
    assert up.requests[-1].headers["authorization"] == f"Bearer {CONFIGURED_KEY}"  # it really was echoed
    assert "bad request with key" in resp.text and MASK in resp.text
    for secret in ALL_SECRETS:
        assert secret not in resp.text
    rows = [r for r in logged_errors(gw, "bad request with key") if r]
    for row in rows:
        for secret in ALL_SECRETS:
            assert secret not in row
