"""The single NinjaAPI; errors in Anthropic's shape (OpenAI's for auth and 500s on chat completions)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as ModelValidationError
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from clients.admin_api import router as clients_admin_router
from clients.staff_auth import STAFF_AUTH, StaffTokenAuth
from dashboard.admin_api import router as usage_admin_router
from gateway.api.anthropic import public_router, router
from gateway.api.bedrock import bedrock_auth_error, is_bedrock_path
from gateway.api.bedrock import router as bedrock_router
from gateway.api.openai import is_openai_path, openai_error
from gateway.api.openai import router as openai_router
from gateway.api.vertex import router as vertex_router
from gateway.errors import error_body
from providers.admin_api import router as providers_admin_router
from routing.admin_api import router as routing_admin_router

logger = logging.getLogger("gateway.api")



def docs_staff_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """/api/docs and /api/openapi.json: a staff session (else the admin login) or a staff bearer
    token (for schema tools such as schemathesis)."""
    for_session = staff_member_required(view)

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and StaffTokenAuth().authenticate(request, token.strip()) is not None:
            return view(request, *args, **kwargs)
        return for_session(request, *args, **kwargs)

    return guarded


api = NinjaAPI(title="Claude Code gateway", version="1", docs_url="/api/docs", openapi_url="/api/openapi.json",
               docs_decorator=docs_staff_only)


def _json(status: int, error_type: str, message: str) -> HttpResponse:
    return HttpResponse(error_body(error_type, message), status=status, content_type="application/json")


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    if is_openai_path(request.path):  # OpenAI clients read {"error": {..., "code"}}
        return openai_error(401, "invalid api key or bearer token", code="invalid_api_key")
    if is_bedrock_path(request.path):  # Bedrock clients read {"message"} and x-amzn-ErrorType
        return bedrock_auth_error()
    if request.path.startswith("/api/admin/"):
        return _json(401, "authentication_error", "a staff bearer token or a staff session is required")
    response = _json(401, "authentication_error", "invalid x-api-key or bearer token")
    response["x-should-retry"] = "false"  # Claude Code otherwise retries a wrong key for minutes
    return response


@api.exception_handler(RequestDataTooBig)
def on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    message = "request body exceeds MAX_REQUEST_BYTES"
    if is_openai_path(request.path):
        return openai_error(413, message, code="request_too_large")
    return _json(413, "request_too_large", message)


@api.exception_handler(ModelValidationError)
def on_model_validation_error(request: HttpRequest, exc: ModelValidationError) -> HttpResponse:
    """full_clean() refusals from the admin API's writes (bad choice, URL, duplicate name)."""
    detail = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()) \
        if hasattr(exc, "error_dict") else " ".join(exc.messages)
    return _json(400, "invalid_request_error", detail[:1000])


@api.exception_handler(IntegrityError)
def on_integrity_error(request: HttpRequest, exc: IntegrityError) -> HttpResponse:
    return _json(409, "invalid_request_error", "the change conflicts with existing data (a duplicate?)")


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return _json(400, "invalid_request_error", str(exc.errors)[:500])


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _json(exc.status_code, "invalid_request_error" if exc.status_code < 500 else "api_error", str(exc))


@api.exception_handler(Exception)
def on_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unhandled error on %s", request.path)
    if is_openai_path(request.path):
        return openai_error(500, "internal gateway error", "server_error")
    return _json(500, "api_error", "internal gateway error")


api.add_router("", public_router)
api.add_router("", router)
api.add_router("", openai_router)
api.add_router("", bedrock_router)
api.add_router("", vertex_router)
# Each app's admin REST API, all behind the staff bearer token or a staff session.
for admin_router in (providers_admin_router, routing_admin_router, clients_admin_router, usage_admin_router):
    api.add_router("/api/admin", admin_router, auth=STAFF_AUTH)
