"""Sign-in through /login against moto's Cognito; the errors moto cannot make come from Stubber."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.stub import Stubber
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from flask import Flask
from flask.testing import FlaskClient
from support import message, session_of, text
from werkzeug.test import TestResponse

from webapp.aws import Clients
from webapp.identity.cognito import Failure, create_user
from webapp.local.demo import DEMO_PASSWORD
from webapp.settings import Settings
from webapp.web.auth.session import EXPIRED_SESSION, User

if TYPE_CHECKING:
    from support import AuthActions

NEW_PASSWORD = "Brand-new-pass-2026"
TEMPORARY_PASSWORD = "Temporary-1234-pass"


def location(response: TestResponse) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(response.headers["Location"])
    return parts.path, parse_qs(parts.query)


@pytest.fixture
def cognito_stub(app: Flask) -> Iterator[Stubber]:
    """Stub the app's own Cognito client; every queued answer must be used."""
    clients: Clients = app.extensions["kakeibo.services"].clients
    with Stubber(clients.cognito) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def id_token(settings: Settings, clients: Clients) -> str:
    """Return a real (moto-signed) ID token of a user named bob@example.com."""
    create_user(clients.cognito, settings.cognito_user_pool_id, "bob@example.com", DEMO_PASSWORD)
    return clients.cognito.initiate_auth(
        ClientId=settings.cognito_client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "bob@example.com", "PASSWORD": DEMO_PASSWORD},
    )["AuthenticationResult"]["IdToken"]


# --- sign-in with moto -------------------------------------------------------------------------


def test_demo_user_signs_in_and_lands_on_the_start_page(
    app: Flask, client: FlaskClient, auth: AuthActions, make_user: Callable[[str], User]
) -> None:
    demo = make_user("demo@example.com")
    response = auth.login("demo@example.com", DEMO_PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    data = session_of(app, client)
    # Only what is needed: the verified sub, the email to show, the token's expiry,
    # the session's id and start that a sign-out names, and the access token for the
    # account page, sealed (a JWT would start "eyJ").
    assert set(data) == {"sub", "email", "exp", "sid", "iat", "access"}
    assert not data["access"].startswith("eyJ") and "." not in data["access"]
    assert data["sub"] == demo.sub and data["email"] == "demo@example.com"
    assert 3500 < data["exp"] - time.time() <= 3600
    page = client.get("/")
    assert page.status_code == 200
    assert "demo@example.com" in page.get_data(as_text=True)
    assert "Sign out" in page.get_data(as_text=True)


def test_session_cookie_is_httponly_and_samesite_lax(auth: AuthActions, user: User) -> None:
    cookie = auth.login().headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # local mode serves plain http


def test_signed_in_user_visiting_login_goes_to_next(auth: AuthActions, user: User) -> None:
    auth.login()
    response = auth.client.get("/login", query_string={"next": "/?start=2025-01-01"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/?start=2025-01-01"


def test_wrong_password_and_unknown_user_get_the_same_answer(
    app: Flask, client: FlaskClient, auth: AuthActions, user: User
) -> None:
    wrong = auth.login("alice@example.com", "Not-her-password-1")
    unknown = auth.login("nobody@example.com", DEMO_PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    expected = message(Failure.BAD_CREDENTIALS)
    assert expected in text(wrong) and expected in text(unknown)

    def main(response: TestResponse) -> str:
        # The page minus what must differ: the CSRF token and the typed email.
        body = text(response).split('<main id="main"', 1)[1]
        body = body.split("</main>", 1)[0]
        return (
            body.replace("alice@example.com", "X")
            .replace("nobody@example.com", "X")
            .split('name="csrf_token"')[0]
        )

    assert main(wrong) == main(unknown)
    assert "sub" not in session_of(app, client)


def test_typed_email_is_kept_and_password_is_not(auth: AuthActions, user: User) -> None:
    page = auth.login("alice@example.com", "Not-her-password-1").get_data(as_text=True)
    assert 'value="alice@example.com"' in page
    assert "Not-her-password-1" not in page


def test_unconfirmed_user_is_told_so(
    settings: Settings, clients: Clients, auth: AuthActions
) -> None:
    clients.cognito.sign_up(
        ClientId=settings.cognito_client_id,
        Username="carol@example.com",
        Password=DEMO_PASSWORD,
        UserAttributes=[{"Name": "email", "Value": "carol@example.com"}],
    )
    response = auth.login("carol@example.com", DEMO_PASSWORD)
    assert response.status_code == 403
    assert message(Failure.NOT_CONFIRMED) in text(response)


def test_token_that_fails_verification_signs_nobody_in(
    app: Flask, client: FlaskClient, auth: AuthActions, cognito_stub: Stubber, id_token: str
) -> None:
    import jwt

    # Everything a real token says, but signed by a key that is not the pool's.
    claims = jwt.decode(id_token, options={"verify_signature": False})
    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, forged_key, algorithm="RS256", headers={"kid": "dummy"})
    cognito_stub.add_response(
        "initiate_auth",
        {"AuthenticationResult": {"IdToken": forged, "AccessToken": "a", "ExpiresIn": 3600}},
    )
    response = auth.login()
    assert response.status_code == 503
    assert message(Failure.UNAVAILABLE) in text(response)
    assert "sub" not in session_of(app, client)
    assert client.get("/").status_code == 302


# --- NEW_PASSWORD_REQUIRED ----------------------------------------------------------------------


@pytest.fixture
def new_user(settings: Settings, clients: Clients) -> User:
    """Return a user made by an administrator, still holding a temporary password."""
    sub = create_user(
        clients.cognito,
        settings.cognito_user_pool_id,
        "dave@example.com",
        temporary_password=TEMPORARY_PASSWORD,
    )
    return User(sub=sub, email="dave@example.com")


def test_new_password_challenge_then_signed_in(
    app: Flask, client: FlaskClient, auth: AuthActions, new_user: User
) -> None:
    response = auth.login(new_user.email, TEMPORARY_PASSWORD, next="/?start=2025-01-01")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login/new-password"
    assert "sub" not in session_of(app, client)

    page = client.get("/login/new-password")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<title>Choose a new password · Kakeibo Export</title>" in html
    assert html.count('autocomplete="new-password"') == 2
    token = auth.csrf_token("/login/new-password")

    mismatch = client.post(
        "/login/new-password",
        data={"csrf_token": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x"},
    )
    assert mismatch.status_code == 400
    assert "The two passwords are not the same." in text(mismatch)

    weak = client.post(
        "/login/new-password", data={"csrf_token": token, "password": "weak", "confirm": "weak"}
    )
    assert weak.status_code == 400
    assert "Choose a stronger password" in text(weak)
    assert 'aria-describedby="password-hint password-error"' in weak.get_data(as_text=True)

    done = client.post(
        "/login/new-password",
        data={"csrf_token": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert done.status_code == 303
    assert done.headers["Location"] == "/?start=2025-01-01"
    data = session_of(app, client)
    assert set(data) == {"sub", "email", "exp", "sid", "iat", "access"}  # the challenge is gone
    assert data["sub"] == new_user.sub

    # The new password is now the one that works.
    client.post("/logout", data={"csrf_token": auth.csrf_token("/")})
    assert auth.login(new_user.email, NEW_PASSWORD).status_code == 303


def test_challenge_state_in_the_cookie_is_sealed(
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    cognito_stub: Stubber,
    settings: Settings,
    id_token: str,
) -> None:
    # Real Cognito session strings run to about a thousand characters.
    cognito_session = "AYABeSECRET" + "x" * 1500
    cognito_stub.add_response(
        "initiate_auth",
        {
            "ChallengeName": "NEW_PASSWORD_REQUIRED",
            "Session": cognito_session,
            "ChallengeParameters": {"USER_ID_FOR_SRP": "internal-username"},
        },
    )
    response = auth.login("bob@example.com", TEMPORARY_PASSWORD)
    assert response.status_code == 303
    set_cookie = response.headers["Set-Cookie"]
    assert len(set_cookie) < 4000  # browsers keep cookies up to 4096 bytes
    readable = json.dumps(session_of(app, client))
    assert "AYABeSECRET" not in readable
    assert "internal-username" not in readable and "bob@example.com" not in readable
    assert TEMPORARY_PASSWORD not in readable

    cognito_stub.add_response(
        "respond_to_auth_challenge",
        {"AuthenticationResult": {"IdToken": id_token, "AccessToken": "a", "ExpiresIn": 3600}},
        expected_params={
            "ClientId": settings.cognito_client_id,
            "ChallengeName": "NEW_PASSWORD_REQUIRED",
            "Session": cognito_session,
            "ChallengeResponses": {"USERNAME": "internal-username", "NEW_PASSWORD": NEW_PASSWORD},
        },
    )
    done = client.post(
        "/login/new-password",
        data={
            "csrf_token": auth.csrf_token("/login/new-password"),
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert done.status_code == 303
    assert set(session_of(app, client)) == {"sub", "email", "exp", "sid", "iat", "access"}


# --- SOFTWARE_TOKEN_MFA -------------------------------------------------------------------------


def totp_code(secret: str, offset: int = 0) -> str:
    """Return the authenticator app's code for ``secret`` (``offset`` steps away)."""
    # moto checks the current 30-second step only: avoid its last seconds.
    if 30 - time.time() % 30 < 3:
        time.sleep(30 - time.time() % 30 + 0.1)
    padded = secret.upper() + "=" * (-len(secret) % 8)
    totp = TOTP(base64.b32decode(padded), 6, SHA1(), 30, enforce_key_length=False)
    return totp.generate(time.time() + 30 * offset).decode()


@pytest.fixture
def mfa_user(
    settings: Settings, clients: Clients, user: User, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Enrol ``user`` in TOTP MFA on moto; return the authenticator secret."""
    # moto checks TOTP codes only when asked to; its server runs in this process.
    monkeypatch.setenv("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP", "true")
    access_token = clients.cognito.initiate_auth(
        ClientId=settings.cognito_client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user.email, "PASSWORD": DEMO_PASSWORD},
    )["AuthenticationResult"]["AccessToken"]
    secret = clients.cognito.associate_software_token(AccessToken=access_token)["SecretCode"]
    clients.cognito.verify_software_token(AccessToken=access_token, UserCode=totp_code(secret))
    clients.cognito.admin_set_user_mfa_preference(
        UserPoolId=settings.cognito_user_pool_id,
        Username=user.email,
        SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
    )
    return secret


def test_mfa_challenge_then_signed_in(
    app: Flask, client: FlaskClient, auth: AuthActions, user: User, mfa_user: str
) -> None:
    response = auth.login(next="/?end=2025-12-31")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login/mfa"
    assert "sub" not in session_of(app, client)

    page = client.get("/login/mfa").get_data(as_text=True)
    assert "<title>Enter your sign-in code · Kakeibo Export</title>" in page
    assert 'autocomplete="one-time-code"' in page and 'inputmode="numeric"' in page
    token = auth.csrf_token("/login/mfa")

    malformed = client.post("/login/mfa", data={"csrf_token": token, "code": "12ab56"})
    assert malformed.status_code == 400
    assert "The code is 6 digits" in text(malformed)

    right = totp_code(mfa_user)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    refused = client.post("/login/mfa", data={"csrf_token": token, "code": wrong})
    assert refused.status_code == 401
    assert message(Failure.BAD_CODE) in text(refused)
    assert 'aria-invalid="true"' in refused.get_data(as_text=True)
    assert "sub" not in session_of(app, client)

    # Typed the way the app shows it, with a space in the middle.
    code = totp_code(mfa_user)
    spaced = f"{code[:3]} {code[3:]}"
    done = client.post("/login/mfa", data={"csrf_token": token, "code": spaced})
    assert done.status_code == 303
    assert done.headers["Location"] == "/?end=2025-12-31"
    data = session_of(app, client)
    assert set(data) == {"sub", "email", "exp", "sid", "iat", "access"} and data["sub"] == user.sub


def test_wrong_authenticator_codes_are_throttled_like_wrong_passwords(
    app: Flask, client: FlaskClient, auth: AuthActions, user: User, mfa_user: str
) -> None:
    # One moment throughout, so the wait reads the whole window however slow the machine.
    frozen = datetime.now(UTC)
    app.extensions["kakeibo.services"].clock = lambda: frozen
    calls: list[str] = []
    cognito = app.extensions["kakeibo.services"].clients.cognito
    cognito.meta.events.register(
        "before-call.cognito-idp.RespondToAuthChallenge", lambda **_: calls.append("answer")
    )
    # The password was right: its attempt is given back, and the codes count instead.
    assert auth.login().headers["Location"] == "/login/mfa"
    token = auth.csrf_token("/login/mfa")
    for _ in range(5):
        right = totp_code(mfa_user)
        wrong = f"{(int(right) + 1) % 1_000_000:06d}"
        assert (
            client.post("/login/mfa", data={"csrf_token": token, "code": wrong}).status_code == 401
        )

    refused = client.post("/login/mfa", data={"csrf_token": token, "code": totp_code(mfa_user)})

    assert refused.status_code == 429
    assert "Too many attempts. Try again in 15 minutes." in text(refused)
    assert refused.headers["Retry-After"] == str(15 * 60)
    assert len(calls) == 5
    assert "sub" not in session_of(app, client)
    # The same counter as the password's: sign-in with the email waits too.
    assert auth.login().status_code == 429


def test_new_password_page_refuses_an_mfa_challenge(
    auth: AuthActions, user: User, mfa_user: str
) -> None:
    auth.login()
    response = auth.client.get("/login/new-password")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"


# --- the session ------------------------------------------------------------------------------


def test_expired_session_sends_to_login(
    client: FlaskClient, user: User, login: Callable[..., None]
) -> None:
    login(user, ttl=-1)
    response = client.get("/")
    assert response.status_code == 302
    path, query = location(response)
    assert path == "/login" and query == {"next": ["/"]}
    assert str(EXPIRED_SESSION) in text(client.get("/login"))


def test_tampered_cookie_sends_to_login(client: FlaskClient, auth: AuthActions, user: User) -> None:
    auth.login()
    cookie = client.get_cookie("session")
    assert cookie is not None
    value = cookie.value
    assert client.get("/").status_code == 200
    for tampered in (
        # (not the last character: its low bits are base64 padding)
        value[:-5] + ("A" if value[-5] != "A" else "B") + value[-4:],  # the signature
        value[:9] + ("A" if value[9] != "A" else "B") + value[10:],  # the payload
        "garbage",
        "",
    ):
        client.set_cookie("session", tampered)
        response = client.get("/")
        assert response.status_code == 302, tampered
        assert location(response)[0] == "/login"


def test_cookie_signed_with_another_key_is_refused(
    app: Flask, client: FlaskClient, user: User
) -> None:
    other = Flask("other")
    other.secret_key = "not-our-key"
    serializer = other.session_interface.get_signing_serializer(other)  # type: ignore[attr-defined]
    forged = serializer.dumps({"sub": user.sub, "email": user.email, "exp": time.time() + 3600})
    client.set_cookie("session", forged)
    assert client.get("/").status_code == 302


def test_logout_clears_the_session(
    app: Flask, client: FlaskClient, auth: AuthActions, user: User
) -> None:
    auth.login()
    response = auth.logout()
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert "sub" not in session_of(app, client)
    assert client.get("/").status_code == 302
    assert "You have been signed out." in text(client.get("/login"))


def test_logout_without_csrf_token_keeps_the_session(
    app: Flask, client: FlaskClient, auth: AuthActions, user: User
) -> None:
    auth.login()
    response = client.post("/logout")
    assert response.status_code == 400
    assert session_of(app, client)["sub"] == user.sub


# --- where the user lands ---------------------------------------------------------------------


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "/\\evil.example"])
def test_next_off_the_site_lands_on_start(target: str, auth: AuthActions, user: User) -> None:
    # Every other case is in test_auth_errors.py, against safe_next alone.
    response = auth.login(next=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_next_that_is_a_local_page_is_kept(auth: AuthActions, user: User) -> None:
    response = auth.login(next="/?start=2025-01-01&end=2025-12-31")
    assert response.headers["Location"] == "/?start=2025-01-01&end=2025-12-31"
