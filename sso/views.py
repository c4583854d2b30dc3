"""The sign-in and callback views of mozilla-django-oidc, with discovery and a clear refusal page."""

from __future__ import annotations

from typing import Any

import httpx
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import View
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from sso.discovery import oidc_setting


def _page(request: HttpRequest, *, status: int, title: str, reason: str) -> HttpResponse:
    return render(request, "sso/refused.html", {"title": title, "reason": reason}, status=status)


class SSOLoginView(OIDCAuthenticationRequestView):  # type: ignore[misc]
    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return oidc_setting(attr, *args)

    def __init__(self, **kwargs: Any) -> None:
        # The parent reads the endpoints here, so this is where discovery can fail.
        self.unavailable = False
        try:
            super().__init__(**kwargs)
        except (httpx.HTTPError, ValueError):
            View.__init__(self, **kwargs)
            self.unavailable = True

    def get(self, request: HttpRequest) -> HttpResponse:
        if self.unavailable:
            return _page(request, status=502, title="Single sign-on is unavailable",
                         reason="The identity provider could not be reached. Try again, or sign in "
                                "with a local password.")
        response: HttpResponse = super().get(request)
        return response


class SSOCallbackView(OIDCAuthenticationCallbackView):  # type: ignore[misc]
    @staticmethod
    def get_settings(attr: str, *args: Any) -> Any:
        return oidc_setting(attr, *args)

    def login_failure(self) -> HttpResponse:
        return _page(self.request, status=403, title="Access refused",
                     reason="Your sign-in did not grant staff access to this gateway: your account is "
                            "not in the group this gateway requires (or the sign-in did not complete). "
                            "Ask an administrator to add you to the group, then sign in again.")
