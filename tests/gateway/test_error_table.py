"""One error type -> status table (providers/adapters/openai_compat/errors.py) for the adapters and
for the gateway's streams (an upstream ``error`` event before any content)."""

from __future__ import annotations

import pytest

from gateway import errors as gateway_errors
from gateway.streaming import _early_error
from providers.adapters.base import StreamEvent
from providers.adapters.openai_compat.errors import error_from_object, status_for_type

TABLE = [("rate_limit_error", 429, True), ("overloaded_error", 529, True), ("invalid_request_error", 400, False),
         ("timeout_error", 504, True), ("api_error", 502, True), ("authentication_error", 502, True)]


def test_the_gateway_uses_the_adapters_table():
    assert gateway_errors.status_for_type is status_for_type


@pytest.mark.parametrize(("error_type", "status", "retryable"), TABLE)
def test_an_early_stream_error_answers_the_tables_status(error_type, status, retryable):
    error = _early_error([StreamEvent("error", {"type": "error", "error": {"type": error_type, "message": "m"}})])
    assert error is not None
    assert (error.status, error.retryable, error.error_type) == (status, retryable, error_type)



@pytest.mark.parametrize(("code", "status"), [(429, 429), (503, 529), (529, 529), (500, 502), (400, 400)])
def test_an_error_object_in_a_200_answers_the_tables_status(code, status):
    error = error_from_object({"code": code, "message": "m"})
    assert error.status == status and status_for_type(error.error_type) == status
