"""Security headers on every response, the cross-site check, and templates without inline code."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from apig_wsgi import make_lambda_handler
from flask import Flask
from flask.testing import FlaskClient
from support import OFFLINE, AuthActions
from werkzeug.test import TestResponse

from webapp import create_app
from webapp.web.auth.session import User
from webapp.web.security import CROSS_SITE_MESSAGE, CSRF_MESSAGE, HSTS

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.fixture(scope="module")
def offline_app() -> Flask:
    """Return one app without AWS for the module."""
    app = create_app(OFFLINE)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def anonymous(offline_app: Flask) -> FlaskClient:
    """Return a client of the offline app, without a session."""
    return offline_app.test_client()


def csp(response: TestResponse) -> dict[str, str]:
    """Return the Content-Security-Policy as directive -> sources."""
    policy = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())


def assert_security_headers(response: TestResponse) -> None:
    policy = csp(response)
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert policy["form-action"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    # Not no-referrer: under it browsers send "Origin: null" on our own forms.
    assert response.headers["Referrer-Policy"] == "same-origin"


REQUESTS: dict[str, Callable[[FlaskClient], TestResponse]] = {
    "login page": lambda c: c.get("/login"),
    "redirect to login": lambda c: c.get("/"),
    "challenge redirect": lambda c: c.get("/login/mfa"),
    "not found": lambda c: c.get("/no-such-page"),
    "method not allowed": lambda c: c.put("/login"),
    "health check": lambda c: c.get("/healthz"),
    "csrf refusal": lambda c: c.post("/login", data={"email": "a@example.com"}),
    "form errors": lambda c: c.post(
        "/login", data={"csrf_token": AuthActions(c).csrf_token(), "email": ""}
    ),
}


@pytest.mark.parametrize("name", REQUESTS)
def test_every_response_has_the_security_headers(name: str, anonymous: FlaskClient) -> None:
    response = REQUESTS[name](anonymous)
    assert_security_headers(response)
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers  # plain http


def test_static_files_have_the_headers_but_may_be_cached(anonymous: FlaskClient) -> None:
    response = anonymous.get("/static/style.css")
    assert response.status_code == 200
    assert_security_headers(response)
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_https_responses_add_hsts(offline_app: Flask) -> None:
    client = offline_app.test_client()
    response = client.get("/login", base_url="https://kakeibo.example")
    assert response.headers["Strict-Transport-Security"] == HSTS
    assert "max-age=" in HSTS and int(HSTS.split("max-age=")[1].split(";")[0]) >= 31536000


def test_api_gateway_https_request_gets_hsts(offline_app: Flask) -> None:
    # What API Gateway's HTTP API sends: apig-wsgi reads X-Forwarded-Proto.
    handler = make_lambda_handler(offline_app, binary_support=True)
    event: dict[str, Any] = {
        "version": "2.0",
        "rawPath": "/login",
        "rawQueryString": "",
        "headers": {"host": "abc123.execute-api.ap-northeast-1.amazonaws.com",
                    "x-forwarded-proto": "https", "x-forwarded-port": "443"},
        "requestContext": {"http": {"method": "GET", "path": "/login", "protocol": "HTTP/1.1",
                                    "sourceIp": "192.0.2.1"}},
        "isBase64Encoded": False,
    }  # fmt: skip
    response = handler(event, None)
    assert response["statusCode"] == 200
    headers = {name.lower(): value for name, value in response["headers"].items()}
    assert headers["strict-transport-security"] == HSTS
    assert headers["x-frame-options"] == "DENY"


def test_signed_in_page_is_not_stored(
    client: FlaskClient, user: User, login: Callable[[User], None]
) -> None:
    login(user)
    response = client.get("/")
    assert response.status_code == 200
    assert_security_headers(response)
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_post_sent_by_another_site_is_refused(site: str, anonymous: FlaskClient) -> None:
    token = AuthActions(anonymous).csrf_token()
    response = anonymous.post(
        "/login",
        data={"csrf_token": token, "email": "", "password": ""},
        headers={"Sec-Fetch-Site": site},
    )
    assert response.status_code == 400
    assert str(CROSS_SITE_MESSAGE) in html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize("site", ["same-origin", "none", None])
def test_post_from_our_own_pages_passes_the_site_check(
    site: str | None, anonymous: FlaskClient
) -> None:
    token = AuthActions(anonymous).csrf_token()
    headers = {} if site is None else {"Sec-Fetch-Site": site}
    response = anonymous.post(
        "/login", data={"csrf_token": token, "email": "", "password": ""}, headers=headers
    )
    # Past both checks: the form itself answers (empty fields).
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert "Enter your email address." in page
    assert str(CROSS_SITE_MESSAGE) not in page and str(CSRF_MESSAGE) not in page


def test_https_post_without_referer_passes_csrf(offline_app: Flask) -> None:
    # Browsers and extensions may strip the Referer, even to us; Flask-WTF's
    # strict HTTPS check would then refuse every form.
    client = offline_app.test_client()
    base = "https://kakeibo.example"
    page = client.get("/login", base_url=base).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match is not None
    response = client.post(
        "/login", base_url=base, data={"csrf_token": match.group(1), "email": "", "password": ""}
    )
    assert response.status_code == 400
    assert "Enter your email address." in html.unescape(response.get_data(as_text=True))


def test_csrf_refusal_explains_itself(anonymous: FlaskClient) -> None:
    response = anonymous.post("/login", data={"email": "a@example.com", "password": "x"})
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert str(CSRF_MESSAGE) in page
    assert "Traceback" not in page and "CSRFError" not in page


@pytest.mark.parametrize(
    "template",
    sorted(str(path.relative_to(TEMPLATES)) for path in TEMPLATES.rglob("*.html")),
)
def test_templates_have_no_inline_script_or_style(template: str) -> None:
    source = (TEMPLATES / template).read_text(encoding="utf-8")
    # The CSP blocks inline code: it would silently not run.
    assert not re.search(r"<script(?![^>]*\bsrc=)", source, re.IGNORECASE), "inline <script>"
    assert not re.search(r"<style\b", source, re.IGNORECASE), "<style> element"
    assert not re.search(r"\sstyle\s*=", source, re.IGNORECASE), 'style="" attribute'
    assert not re.search(r"\son[a-z]+\s*=", source, re.IGNORECASE), "inline event handler"
    assert "javascript:" not in source.lower(), "javascript: URL"
