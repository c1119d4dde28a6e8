"""Hostile requests from the outside tester: foreign origins, non-UTF-8 forms, 405s, /static/."""

from __future__ import annotations

import html
from collections.abc import Callable

import pytest
from apig_wsgi import make_lambda_handler
from flask import Flask
from flask.testing import FlaskClient
from support import OFFLINE, AuthActions, make_v2_event, text

from webapp import create_app
from webapp.web.auth.session import User
from webapp.web.security import (
    CSRF_MESSAGE,
    FOREIGN_ORIGIN_MESSAGE,
    UNREADABLE_FORM_MESSAGE,
)

FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
def offline_app() -> Flask:
    """Return one app without AWS for the module."""
    app = create_app(OFFLINE)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def anonymous(offline_app: Flask) -> FlaskClient:
    return offline_app.test_client()


def _login_post(client: FlaskClient, **headers: str) -> tuple[int, str]:
    token = AuthActions(client).csrf_token()
    response = client.post(
        "/login", data={"csrf_token": token, "email": "", "password": ""}, headers=headers
    )
    return response.status_code, html.unescape(response.get_data(as_text=True))


# --- Origin beside the CSRF token -----------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://localhost.evil.example"},
        {"Origin": "https://localhost"},  # another scheme is another origin
        {"Referer": "https://evil.example/page"},
        {"Origin": "https://evil.example", "Referer": "http://localhost/login"},
    ],
    ids=["foreign", "null", "lookalike", "scheme", "referer", "origin-wins"],
)
def test_a_post_from_another_origin_is_refused_with_a_clear_page(
    headers: dict[str, str], anonymous: FlaskClient
) -> None:
    status, page = _login_post(anonymous, **headers)
    assert status == 403
    assert str(FOREIGN_ORIGIN_MESSAGE) in page
    assert str(CSRF_MESSAGE) not in page


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://localhost"},
        {"Origin": "HTTP://LOCALHOST"},
        {"Referer": "http://localhost/x"},
        {},
    ],
    ids=["origin", "case", "referer", "neither"],
)
def test_a_post_from_our_own_origin_or_without_one_goes_on_to_the_form(
    headers: dict[str, str], anonymous: FlaskClient
) -> None:
    status, page = _login_post(anonymous, **headers)
    assert status == 400
    assert "Enter your email address." in page
    assert str(FOREIGN_ORIGIN_MESSAGE) not in page


def test_without_origin_or_referer_the_csrf_token_still_decides(anonymous: FlaskClient) -> None:
    response = anonymous.post("/login", data={"email": "a@example.com", "password": "x"})
    assert response.status_code == 400
    assert str(CSRF_MESSAGE) in text(response)


def test_the_origin_check_follows_the_api_gateway_host(offline_app: Flask) -> None:
    handler = make_lambda_handler(offline_app, binary_support=True)
    page = handler(make_v2_event(path="/login"), None)
    host = make_v2_event()["headers"]["host"]
    for origin, status in ((f"https://{host}", 400), ("https://evil.example", 403)):
        event = make_v2_event(
            method="POST",
            path="/login",
            headers={"content-type": FORM, "origin": origin},
            cookies=[c.split(";", 1)[0] for c in page["cookies"]],
            body=b"email=&password=",
        )
        assert handler(event, None)["statusCode"] == status


def test_s3_sending_the_browser_back_after_an_upload_is_a_get_and_passes(
    client: FlaskClient, user: User, login: Callable[[User], None]
) -> None:
    login(user)
    response = client.get(
        f"/restore/uploaded?key=uploads/{user.sub}/{'a' * 32}.zip",
        headers={"Origin": "null", "Referer": "https://bucket.s3.amazonaws.com/"},
    )
    assert response.status_code != 403


# --- forms that are not UTF-8 ---------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"csrf_token=%FF%FE&email=a%40example.com", b"email=\xff\xfe&password=x"],
    ids=["percent-encoded", "raw-bytes"],
)
def test_a_form_that_is_not_utf8_is_named_as_such(body: bytes, anonymous: FlaskClient) -> None:
    response = anonymous.post("/login", data=body, content_type=FORM)
    assert response.status_code == 400
    page = text(response)
    assert "The form could not be read" in page
    assert str(UNREADABLE_FORM_MESSAGE) in page
    assert str(CSRF_MESSAGE) not in page


def test_a_signed_in_post_that_is_not_utf8_changes_nothing(
    client: FlaskClient, user: User, login: Callable[[User], None]
) -> None:
    login(user)
    token = AuthActions(client).csrf_token("/")
    response = client.post(
        "/exports", data=f"csrf_token={token}&start=%FF".encode(), content_type=FORM
    )
    assert response.status_code == 400
    assert str(UNREADABLE_FORM_MESSAGE) in text(response)
    assert "/jobs/" not in (response.headers.get("Location") or "")


def test_a_utf8_form_is_still_read(anonymous: FlaskClient) -> None:
    token = AuthActions(anonymous).csrf_token()
    body = f"csrf_token={token}&email=%E5%AE%B6%40example.com&password=x".encode()
    response = anonymous.post("/login", data=body, content_type=FORM)
    assert str(UNREADABLE_FORM_MESSAGE) not in text(response)
    assert "家@example.com" in text(response)


# --- 404 under /static/, 405 ----------------------------------------------------------------


def test_a_missing_static_file_is_not_stored_and_shows_no_email(
    client: FlaskClient, user: User, login: Callable[[User], None]
) -> None:
    login(user)
    assert user.email in client.get("/").get_data(as_text=True)  # the email is shown elsewhere

    response = client.get("/static/no-such-file.css")

    assert response.status_code == 404
    assert response.headers["Cache-Control"] == "no-store"
    assert user.email not in response.get_data(as_text=True)
    # A file that exists may still be cached.
    assert client.get("/static/style.css").headers.get("Cache-Control") != "no-store"


def _rules(app: Flask) -> list[tuple[str, set[str]]]:
    """Return each fixed path with every method its rules allow (a path may have several)."""
    methods: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if not rule.arguments:
            methods.setdefault(rule.rule, set()).update(rule.methods or ())
    return sorted(methods.items())


def test_every_405_through_the_lambda_handler_has_its_allow_header(offline_app: Flask) -> None:
    handler = make_lambda_handler(offline_app, binary_support=True)
    checked = 0
    for path, methods in _rules(offline_app):
        wrong = next(m for m in ("PUT", "DELETE", "PATCH", "POST") if m not in methods)
        response = handler(make_v2_event(method=wrong, path=path), None)
        assert response["statusCode"] == 405, path
        allowed = {m.strip() for m in response["headers"]["allow"].split(",")}
        assert allowed == methods - {"OPTIONS"} or allowed == methods, (path, allowed)
        assert response["headers"]["cache-control"] == "no-store"
        checked += 1
    assert checked >= 5
