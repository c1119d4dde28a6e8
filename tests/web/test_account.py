"""The account page: set up an authenticator app (TOTP) over moto, sign in with it, turn it off."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from html import unescape as html_unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import segno
from botocore.stub import Stubber
from flask import Flask
from flask.testing import FlaskClient
from support import AuthActions, session_of, text, totp_code
from werkzeug.test import TestResponse

from webapp.aws import Clients
from webapp.local.demo import DEMO_PASSWORD
from webapp.web.auth.session import User

SECRET_TEXT = re.compile(r'<code class="secret" id="totp-secret">([A-Z2-7 ]+)</code>')


@pytest.fixture
def check_totp(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto check TOTP codes (its server runs in this process)."""
    monkeypatch.setenv("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP", "true")


def start(client: FlaskClient, auth: AuthActions) -> TestResponse:
    """Press "Set up an authenticator app" on the account page."""
    return client.post(
        "/account/authenticator/new", data={"csrf_token": auth.csrf_token("/account")}
    )


def secret_of(page: TestResponse) -> str:
    match = SECRET_TEXT.search(text(page))
    assert match, "no secret on the page"
    return match.group(1)


def send_code(client: FlaskClient, auth: AuthActions, code: str) -> TestResponse:
    token = auth.csrf_token("/account/authenticator")
    return client.post("/account/authenticator", data={"csrf_token": token, "code": code})


def test_the_account_page_needs_a_session(client: FlaskClient) -> None:
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/account")


def test_an_older_session_without_an_access_token_signs_in_again(
    client: FlaskClient, user: User, login: Callable[[User], None]
) -> None:
    login(user)  # what /login set before access tokens were kept
    response = client.get("/account")
    assert response.status_code == 303
    assert parse_qs(urlsplit(response.headers["Location"]).query) == {"next": ["/account"]}
    assert "Please sign in again" in text(client.get("/login"))


def test_set_up_then_the_next_sign_in_asks_for_the_code_then_turn_off(
    app: Flask, client: FlaskClient, auth: AuthActions, user: User, check_totp: None
) -> None:
    assert auth.login().status_code == 303
    # The access token is in the session, but nobody holding the cookie can read it.
    cookie = session_of(app, client)
    assert "access" in cookie and not cookie["access"].startswith("eyJ")

    page = client.get("/account")
    assert page.status_code == 200
    assert "Off" in text(page) and "Set up an authenticator app" in text(page)
    assert '<a class="button button--quiet" href="/account">Account</a>' in text(page)

    started = start(client, auth)
    assert started.status_code == 303 and started.headers["Location"] == "/account/authenticator"
    setup = client.get("/account/authenticator")
    assert setup.status_code == 200
    html = text(setup)
    # The QR code is drawn here, labelled, with the key beside it for typing by hand.
    assert re.search(r'<svg role="img" aria-label="QR code to scan[^"]*"[^>]*class="qr"', html)
    assert "<title>QR code to scan with your authenticator app</title>" in html
    assert "<img" not in html and "data:" not in html and "<script" not in html
    compact = secret_of(setup).replace(" ", "")
    uri = re.search(r'href="(otpauth://[^"]+)"', html)
    assert uri, "no set-up link"
    assert (
        uri.group(1).lower()
        == (
            "otpauth://totp/Kakeibo%20Export:alice@example.com"
            f"?secret={compact}&issuer=Kakeibo%20Export"
        ).lower()
    )
    # The picture is that link's QR code (drawn by segno, error correction M).
    drawn = segno.make(html_unescape(uri.group(1)), error="m", micro=False)
    assert re.search(r'stroke="#000" d="([^"]+)"', html).group(1) in drawn.svg_inline(  # type: ignore[union-attr]
        scale=1, border=4, dark="#000", light="#fff", omitsize=True
    )
    assert compact not in str(session_of(app, client))  # the secret waits sealed

    wrong = send_code(client, auth, str((int(totp_code(compact)) + 1) % 1_000_000).zfill(6))
    assert wrong.status_code == 400
    assert "That code is not right." in text(wrong)
    assert send_code(client, auth, "12ab56").status_code == 400

    done = send_code(client, auth, totp_code(compact))
    assert done.status_code == 303 and done.headers["Location"] == "/account"
    page = client.get("/account")
    assert "Your authenticator app is set up." in text(page)
    assert "On" in text(page) and "Turn off the authenticator app" in text(page)
    # The secret is gone once used.
    assert client.get("/account/authenticator").headers["Location"] == "/account"

    # The next sign-in asks for the app's code, and a real one lets the user in.
    auth.logout()
    challenged = auth.login()
    assert challenged.status_code == 303 and challenged.headers["Location"] == "/login/mfa"
    token = auth.csrf_token("/login/mfa")
    signed_in = client.post("/login/mfa", data={"csrf_token": token, "code": totp_code(compact)})
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/"

    # Turning it off asks first; a GET changes nothing.
    confirm = client.get("/account/authenticator/off")
    assert confirm.status_code == 200
    assert "Turn off the authenticator app?" in text(confirm)
    assert "On" in text(client.get("/account"))
    token = auth.csrf_token("/account/authenticator/off")
    # The session alone is not enough: the password first, and a wrong one changes nothing.
    bare = client.post("/account/authenticator/off", data={"csrf_token": token})
    assert bare.status_code == 400 and "Enter your password." in text(bare)
    wrong = client.post(
        "/account/authenticator/off", data={"csrf_token": token, "password": "Wrong-passw0rd"}
    )
    assert wrong.status_code == 401 and "That password is not right." in text(wrong)
    assert "On" in text(client.get("/account"))
    off = client.post(
        "/account/authenticator/off", data={"csrf_token": token, "password": DEMO_PASSWORD}
    )
    assert off.status_code == 303 and off.headers["Location"] == "/account"
    assert "The authenticator app is turned off." in text(client.get("/account"))
    auth.logout()
    assert auth.login().headers["Location"] == "/"  # no code asked


def test_forms_without_their_token_change_nothing(
    client: FlaskClient, auth: AuthActions, user: User, clients: Clients
) -> None:
    auth.login()
    assert client.post("/account/authenticator/off", data={}).status_code == 400
    refused = client.post("/account/authenticator/new", data={})
    assert refused.status_code == 400
    assert client.get("/account/authenticator").headers["Location"] == "/account"


def test_an_expired_setup_starts_again(
    app: Flask, client: FlaskClient, auth: AuthActions, user: User
) -> None:
    auth.login()
    start(client, auth)
    with client.session_transaction() as session:
        session["totp_secret"] = "not a sealed secret"
    response = client.get("/account/authenticator")
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert "Setting up took too long" in text(client.get("/account"))


@pytest.fixture
def stub(app: Flask) -> Iterator[Stubber]:
    clients: Clients = app.extensions["kakeibo.services"].clients
    with Stubber(clients.cognito) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_a_revoked_access_token_ends_the_session(
    app: Flask, client: FlaskClient, auth: AuthActions, user: User, clients: Clients
) -> None:
    auth.login()
    clients.cognito.admin_user_global_sign_out(
        UserPoolId=app.extensions["kakeibo.services"].settings.cognito_user_pool_id,
        Username=user.email,
    )
    response = client.get("/account")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?next=")
    assert client.get("/").status_code == 302  # signed out


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [
        ("EnableSoftwareTokenMFAException", 400, "That code is not right."),
        ("CodeMismatchException", 400, "That code is not right."),
        ("TooManyRequestsException", 429, "Too many attempts."),
        ("InternalErrorException", 503, "This is not available right now."),
    ],
)
def test_cognito_refusals_of_the_code_are_our_words(
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    user: User,
    code: str,
    status: int,
    words: str,
) -> None:
    auth.login()
    start(client, auth)
    clients: Clients = app.extensions["kakeibo.services"].clients
    with Stubber(clients.cognito) as stub:
        stub.add_client_error("verify_software_token", code, "Cognito's own sentence")
        refused = send_code(client, auth, "123456")
    assert refused.status_code == status
    assert words in text(refused) and "Cognito's own sentence" not in text(refused)
    assert client.get("/account/authenticator").status_code == 200  # still set up-able


def test_cognito_unavailable_on_the_account_page_is_503(
    app: Flask, client: FlaskClient, auth: AuthActions, user: User
) -> None:
    auth.login()
    clients: Clients = app.extensions["kakeibo.services"].clients
    with Stubber(clients.cognito) as stub:
        stub.add_client_error("get_user", "InternalErrorException", "Cognito's own sentence")
        page = client.get("/account")
    assert page.status_code == 503
    assert "This is not available right now." in text(page)


def test_the_otpauth_link_is_what_authenticator_apps_read() -> None:
    from webapp.identity.selfservice import totp_uri

    assert totp_uri("JBSWY3DPEHPK3PXP", "a+b@example.com") == (
        "otpauth://totp/Kakeibo%20Export:a%2Bb@example.com"
        "?secret=JBSWY3DPEHPK3PXP&issuer=Kakeibo%20Export"
    )


def test_the_account_pages_speak_japanese(
    client: FlaskClient, auth: AuthActions, user: User
) -> None:
    auth.login()
    ja = {"Accept-Language": "ja"}
    page = text(client.get("/account", headers=ja))
    assert "認証アプリ" in page and "オフ" in page and "Authenticator app" not in page
    start(client, auth)
    setup = text(client.get("/account/authenticator", headers=ja))
    assert 'aria-label="認証アプリで読み取る QR コード"' in setup
    assert "<title>認証アプリで読み取る QR コード</title>" in setup
    off = text(client.get("/account/authenticator/off", headers=ja))
    assert "認証アプリをオフにしますか？" in off
