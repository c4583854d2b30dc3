"""The SSO pieces that need no provider: group claims, flags, and an unreachable provider."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from sso import discovery
from sso.backends import claim_groups, staff_flags
from sso.views import SSOLoginView
from tests.support.gateway import free_port


@pytest.fixture(autouse=True)
def _oidc(settings):
    settings.OIDC_GROUPS_CLAIM = "groups"
    settings.OIDC_STAFF_GROUP = "gateway-staff"
    settings.OIDC_SUPERUSER_GROUP = "gateway-admins"
    discovery.discovery_forget()
    yield
    discovery.discovery_forget()


@pytest.mark.parametrize(("claims", "expected"), [
    ({"groups": ["gateway-staff", "x"]}, (True, False)),
    ({"groups": ["gateway-admins"]}, (True, True)),
    ({"groups": "x gateway-staff"}, (True, False)),       # some providers send one string
    ({"groups": ["contractors"]}, (False, False)),
    ({}, (False, False)),
    ({"groups": {"gateway-staff": True}}, (False, False)),  # not a list: no groups
])
def test_staff_flags_from_the_group_claim(claims, expected):
    assert staff_flags(claims) == expected


def test_claim_groups_reads_the_configured_claim(settings):
    settings.OIDC_GROUPS_CLAIM = "roles"
    assert claim_groups({"roles": ["a", "b"], "groups": ["c"]}) == {"a", "b"}


def test_unreachable_provider_shows_a_page_not_an_error(settings):
    settings.OIDC_ISSUER = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = ""
    settings.OIDC_TIMEOUT = 2.0
    response = SSOLoginView.as_view()(RequestFactory().get("/accounts/oidc/authenticate/"))
    assert response.status_code == 502
    assert b"Single sign-on is unavailable" in response.content


@pytest.mark.django_db
def test_login_page_has_no_sso_button_when_disabled(client, settings):
    settings.OIDC_ENABLED = False
    page = client.get("/admin/login/")
    assert page.status_code == 200 and "Sign in with SSO" not in page.content.decode()
    assert 'name="password"' in page.content.decode()
