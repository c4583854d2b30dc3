"""Sign-in to the admin and dashboard through a real OpenID provider on loopback (no mocks):
the gateway runs under daphne, the provider is node-oidc-provider, the browser is httpx."""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.sso.conftest import start_provider
from tests.support import start_gateway
from tests.support.gateway import free_port

ACCOUNTS = {"alice": ["gateway-staff", "other"], "root": ["gateway-admins"], "bob": ["contractors"]}
FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*method="post"', re.I)
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', re.I)


@pytest.fixture(scope="module")
def sso(oidc_module, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sso")
    port = free_port()
    env = {"OIDC_ENABLED": "true", "OIDC_ISSUER": f"http://127.0.0.1:{port}", "OIDC_CLIENT_ID": "gateway-test",
           "OIDC_CLIENT_SECRET": "test-only-client-secret", "OIDC_STAFF_GROUP": "gateway-staff",
           "OIDC_SUPERUSER_GROUP": "gateway-admins", "OIDC_TIMEOUT": "5"}
    with start_gateway(env, tmp, client_key="") as gw, start_provider(
        oidc_module, port=port, redirect_uri=f"{gw.url}/accounts/oidc/callback/", accounts=ACCOUNTS,
        log_path=tmp / "provider.log",
    ) as op:
        yield gw, op


def sign_in(client: httpx.Client, start: str, login: str, max_steps: int = 20) -> tuple[httpx.Response, list[str]]:
    """Follow redirects from ``start``, submitting the provider's login and consent forms."""
    response = client.get(start)
    seen = [start]
    for _ in range(max_steps):
        if response.is_redirect:
            url = urljoin(str(response.url), response.headers["location"])
            seen.append(url)
            response = client.get(url)
            continue
        form = FORM.search(response.text) if response.status_code == 200 else None
        if form is None or "/interaction/" not in form.group(1):
            return response, seen
        data = {name: html.unescape(value) for name, value in HIDDEN.findall(response.text)}
        if data.get("prompt") == "login":
            data.update(login=login, password="any-password")
        url = urljoin(str(response.url), html.unescape(form.group(1)))
        seen.append(url)
        response = client.post(url, data=data)
    raise AssertionError(f"sign-in did not finish in {max_steps} steps: {seen}")


def browser() -> httpx.Client:
    return httpx.Client(timeout=10.0, trust_env=False, follow_redirects=False)


def test_admin_login_page_offers_sso(sso):
    gw, _ = sso
    with browser() as client:
        page = client.get(f"{gw.url}/admin/login/?next=/dashboard/")
    assert page.status_code == 200
    assert "Sign in with SSO" in page.text
    assert 'href="/accounts/oidc/authenticate/?next=/dashboard/"' in page.text
    assert 'name="password"' in page.text  # local passwords stay


def test_group_member_gets_a_staff_session(sso):
    gw, op = sso
    with browser() as client:
        final, seen = sign_in(client, f"{gw.url}/accounts/oidc/authenticate/?next=/dashboard/", "alice")
        assert any(u.startswith(op.issuer) for u in seen) and any("/accounts/oidc/callback/" in u for u in seen)
        assert urlsplit(str(final.url)).path == "/dashboard/" and final.status_code == 200, seen
        admin = client.get(f"{gw.url}/admin/")
        assert admin.status_code == 200 and "Site administration" in admin.text
        assert "alice" in admin.text.lower()
    users = gw.manage("shell", "--no-imports", "-c", "from django.contrib.auth.models import User; "
                      "u = User.objects.get(username='alice'); print(u.email, u.is_staff, u.is_superuser)")
    assert users.stdout.split() == ["alice@example.test", "True", "False"]


def test_superuser_group_makes_a_superuser(sso):
    gw, _ = sso
    with browser() as client:
        final, _seen = sign_in(client, f"{gw.url}/accounts/oidc/authenticate/?next=/admin/", "root")
        assert final.status_code == 200 and urlsplit(str(final.url)).path == "/admin/"
        assert client.get(f"{gw.url}/admin/providers/provider/").status_code == 200
    done = gw.manage("shell", "--no-imports", "-c", "from django.contrib.auth.models import User; print(User.objects.get(username='root').is_superuser)")
    assert done.stdout.strip() == "True"


def test_non_member_is_refused_without_a_session(sso):
    gw, op = sso
    with browser() as client:
        final, seen = sign_in(client, f"{gw.url}/accounts/oidc/authenticate/?next=/admin/", "bob")
        assert any(u.startswith(op.issuer) for u in seen)
        assert final.status_code == 403 and "Access refused" in final.text
        assert "not in the group" in final.text
        admin = client.get(f"{gw.url}/admin/")
        assert admin.status_code == 302 and admin.headers["location"].startswith("/admin/login/")
        assert client.get(f"{gw.url}/dashboard/").status_code == 302
    done = gw.manage("shell", "--no-imports", "-c", "from django.contrib.auth.models import User; "
                     "print(User.objects.filter(email='bob@example.test').exists())")
    assert done.stdout.strip() == "False"


def test_dashboard_login_redirect_leads_to_sso_and_back(sso):
    gw, _ = sso
    with browser() as client:
        first = client.get(f"{gw.url}/dashboard/")
        assert first.status_code == 302
        login_page = client.get(urljoin(gw.url, first.headers["location"]))
        link = re.search(r'href="(/accounts/oidc/authenticate/[^"]*)"', login_page.text)
        assert link is not None, login_page.text[:2000]
        final, _seen = sign_in(client, urljoin(gw.url, html.unescape(link.group(1))), "alice")
        assert final.status_code == 200 and urlsplit(str(final.url)).path == "/dashboard/"
