"""Sign-in failures and edge cases, with every Cognito answer stubbed (no moto needed)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber
from flask import Flask
from flask.testing import FlaskClient
from support import OFFLINE, AuthActions, message, session_of, text

from webapp import create_app
from webapp.aws import Clients
from webapp.identity.cognito import Failure, SignInError, start_sign_in
from webapp.local.demo import DEMO_PASSWORD
from webapp.settings import Settings
from webapp.web.auth.session import safe_next
from webapp.web.auth.views import EXPIRED_CHALLENGE

SESSION = "AYAB" + "s" * 60  # Cognito's session strings are at least 20 characters


@pytest.fixture(scope="module")
def app() -> Flask:
    """Return an app on ``OFFLINE`` settings (shadows the moto-backed one)."""
    # One app for the module: each boto3 Session loads Cognito's model afresh (≈0.4 s).
    app = create_app(OFFLINE)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def stub(app: Flask) -> Iterator[Stubber]:
    """Stub the app's own Cognito client; every queued answer must be used."""
    clients: Clients = app.extensions["kakeibo.services"].clients
    with Stubber(clients.cognito) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def challenge(stub: Stubber, name: str, parameters: dict[str, str] | None = None) -> None:
    """Queue Cognito's answer to InitiateAuth: the challenge ``name``."""
    stub.add_response(
        "initiate_auth",
        {"ChallengeName": name, "Session": SESSION, "ChallengeParameters": parameters or {}},
    )


def test_login_page_is_public_accessible_and_titled(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<title>Sign in · Kakeibo Export</title>" in page
    assert "<h1" in page and ">Sign in</h1>" in page
    assert '<label class="field__label" for="email">' in page
    assert '<label class="field__label" for="password">' in page
    assert 'autocomplete="email"' in page and 'type="email"' in page
    assert 'autocomplete="current-password"' in page and 'type="password"' in page
    assert 'method="post"' in page and 'name="csrf_token"' in page
    assert "<script" not in page and "style=" not in page


def test_login_form_keeps_next_in_its_action(client: FlaskClient) -> None:
    page = client.get("/login", query_string={"next": "/?start=2025-01-01"}).get_data(as_text=True)
    action = page.split('<form method="post" action="', 1)[1].split('"', 1)[0]
    parts = urlsplit(html.unescape(action))
    assert parts.path == "/login"
    assert parse_qs(parts.query) == {"next": ["/?start=2025-01-01"]}


def test_session_cookie_is_secure_outside_local_mode() -> None:
    fields = {
        **OFFLINE.__dict__,
        "local": False,
        "jwks_url": None,
        "archive_key_parameter": "/kakeibo/dev/archive-key",
    }
    client = create_app(Settings(**fields)).test_client()
    cookie = client.get("/login").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize(
    ("email", "password", "error"),
    [
        ("", DEMO_PASSWORD, "Enter your email address."),
        ("alice", DEMO_PASSWORD, "Enter an email address like name@example.com."),
        ("alice@ex ample.com", DEMO_PASSWORD, "Enter an email address like name@example.com."),
        ("a" * 120 + "@example.com", DEMO_PASSWORD, "at most 128 characters"),
        ("alice@example.com", "", "Enter your password."),
        ("alice@example.com", "p" * 257, "at most 256 characters"),
    ],
)
def test_invalid_form_is_refused_without_asking_cognito(
    email: str, password: str, error: str, auth: AuthActions, stub: Stubber
) -> None:
    response = auth.login(email, password)  # a Cognito call would hit the empty stub
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert error in html.unescape(page)
    assert 'aria-invalid="true"' in page and 'class="field__error"' in page


def test_field_error_is_linked_to_its_input(auth: AuthActions, stub: Stubber) -> None:
    page = auth.login("", DEMO_PASSWORD).get_data(as_text=True)
    assert 'aria-describedby="email-error"' in page
    assert 'id="email-error"' in page


@pytest.mark.parametrize(
    ("code", "cognito_message", "failure", "status"),
    [
        ("PasswordResetRequiredException", "Password reset required", Failure.RESET_REQUIRED, 403),
        ("UserNotConfirmedException", "User is not confirmed.", Failure.NOT_CONFIRMED, 403),
        ("TooManyRequestsException", "Too many requests", Failure.TOO_MANY, 429),
        ("LimitExceededException", "Attempt limit exceeded", Failure.TOO_MANY, 429),
        ("TooManyFailedAttemptsException", "Too many failed attempts", Failure.TOO_MANY, 429),
        ("NotAuthorizedException", "Password attempts exceeded", Failure.TOO_MANY, 429),
        ("NotAuthorizedException", "Incorrect username or password.", Failure.BAD_CREDENTIALS, 401),
        ("NotAuthorizedException", "User is disabled.", Failure.BAD_CREDENTIALS, 401),
        ("UserNotFoundException", "User does not exist.", Failure.BAD_CREDENTIALS, 401),
        ("InternalErrorException", "Internal error", Failure.UNAVAILABLE, 503),
        ("ResourceNotFoundException", "User pool client does not exist.", Failure.UNAVAILABLE, 503),
        ("InvalidParameterException", "flow not enabled", Failure.UNAVAILABLE, 503),
        ("InvalidUserPoolConfigurationException", "bad pool", Failure.UNAVAILABLE, 503),
    ],
)  # fmt: skip
def test_each_cognito_error_gets_its_own_message(
    code: str,
    cognito_message: str,
    failure: Failure,
    status: int,
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    stub: Stubber,
) -> None:
    stub.add_client_error(
        "initiate_auth",
        service_error_code=code,
        service_message=cognito_message,
        http_status_code=400,
        expected_params={
            "ClientId": OFFLINE.cognito_client_id,
            "AuthFlow": "USER_PASSWORD_AUTH",
            "AuthParameters": {"USERNAME": "alice@example.com", "PASSWORD": DEMO_PASSWORD},
        },
    )
    response = auth.login("alice@example.com", DEMO_PASSWORD)
    assert response.status_code == status
    page = text(response)
    assert message(failure) in page
    assert 'class="form-error" role="alert"' in page
    assert "Traceback" not in page and code not in page and cognito_message not in page
    assert "sub" not in session_of(app, client)


def test_email_is_sent_without_surrounding_spaces(auth: AuthActions, stub: Stubber) -> None:
    stub.add_client_error(
        "initiate_auth",
        service_error_code="NotAuthorizedException",
        expected_params={
            "ClientId": OFFLINE.cognito_client_id,
            "AuthFlow": "USER_PASSWORD_AUTH",
            "AuthParameters": {"USERNAME": "alice@example.com", "PASSWORD": " pass word "},
        },
    )
    assert auth.login("  alice@example.com ", " pass word ").status_code == 401


class BrokenNetworkCognito:
    """A Cognito client whose network is down: botocore raises, not Cognito."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def initiate_auth(self, **_: Any) -> dict[str, Any]:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://cognito-idp.example"),
        ReadTimeoutError(endpoint_url="https://cognito-idp.example"),
    ],
)
def test_unreachable_cognito_is_unavailable_not_a_crash(error: Exception) -> None:
    cognito: Any = BrokenNetworkCognito(error)
    with pytest.raises(SignInError) as exc:
        start_sign_in(cognito, "client", "alice@example.com", DEMO_PASSWORD)
    assert exc.value.failure is Failure.UNAVAILABLE


@pytest.mark.parametrize(
    "name", ["SMS_MFA", "MFA_SETUP", "SELECT_MFA_TYPE", "CUSTOM_CHALLENGE", "EMAIL_OTP"]
)
def test_unsupported_challenge_is_explained(
    name: str, app: Flask, client: FlaskClient, auth: AuthActions, stub: Stubber
) -> None:
    challenge(stub, name)
    response = auth.login()
    assert response.status_code == 403
    assert message(Failure.UNSUPPORTED, detail=name) in text(response)
    assert "challenge" not in session_of(app, client)


def test_answer_with_neither_tokens_nor_challenge_is_unavailable(
    auth: AuthActions, stub: Stubber
) -> None:
    stub.add_response("initiate_auth", {"ChallengeParameters": {}})
    response = auth.login()
    assert response.status_code == 503
    assert message(Failure.UNAVAILABLE) in text(response)


def test_challenge_after_new_password_is_followed(
    app: Flask, client: FlaskClient, auth: AuthActions, stub: Stubber
) -> None:
    challenge(stub, "NEW_PASSWORD_REQUIRED", {"USERNAME": "internal-name"})
    stub.add_response(
        "respond_to_auth_challenge",
        {
            "ChallengeName": "SOFTWARE_TOKEN_MFA",
            "Session": SESSION + "2",
            "ChallengeParameters": {},
        },
        expected_params={
            "ClientId": OFFLINE.cognito_client_id,
            "ChallengeName": "NEW_PASSWORD_REQUIRED",
            "Session": SESSION,
            "ChallengeResponses": {"USERNAME": "internal-name", "NEW_PASSWORD": "New-pass-1234"},
        },
    )
    stub.add_client_error(
        "respond_to_auth_challenge",
        service_error_code="CodeMismatchException",
        expected_params={
            "ClientId": OFFLINE.cognito_client_id,
            "ChallengeName": "SOFTWARE_TOKEN_MFA",
            "Session": SESSION + "2",
            "ChallengeResponses": {
                "USERNAME": "internal-name",
                "SOFTWARE_TOKEN_MFA_CODE": "123456",
            },
        },
    )
    assert auth.login().headers["Location"] == "/login/new-password"
    token = auth.csrf_token("/login/new-password")
    response = client.post(
        "/login/new-password",
        data={"csrf_token": token, "password": "New-pass-1234", "confirm": "New-pass-1234"},
    )
    assert response.headers["Location"] == "/login/mfa"
    refused = client.post("/login/mfa", data={"csrf_token": token, "code": "123456"})
    assert refused.status_code == 401
    assert message(Failure.BAD_CODE) in text(refused)


def test_unsupported_challenge_after_new_password_drops_the_old_one(
    app: Flask, client: FlaskClient, auth: AuthActions, stub: Stubber
) -> None:
    challenge(stub, "NEW_PASSWORD_REQUIRED")
    stub.add_response(
        "respond_to_auth_challenge",
        {"ChallengeName": "MFA_SETUP", "Session": SESSION, "ChallengeParameters": {}},
    )
    auth.login()
    response = client.post(
        "/login/new-password",
        data={
            "csrf_token": auth.csrf_token("/login/new-password"),
            "password": "New-pass-1234",
            "confirm": "New-pass-1234",
        },
    )
    assert response.status_code == 403
    assert message(Failure.UNSUPPORTED, detail="MFA_SETUP") in text(response)
    assert "challenge" not in session_of(app, client)


@pytest.mark.parametrize(
    ("code", "cognito_message"),
    [
        ("NotAuthorizedException", "Invalid session for the user, session is expired."),
        ("ResourceNotFoundException", "session not found"),  # what moto answers
    ],
)
def test_expired_challenge_starts_over(
    code: str,
    cognito_message: str,
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    stub: Stubber,
) -> None:
    challenge(stub, "SOFTWARE_TOKEN_MFA")
    stub.add_client_error(
        "respond_to_auth_challenge", service_error_code=code, service_message=cognito_message
    )
    auth.login()
    response = client.post(
        "/login/mfa", data={"csrf_token": auth.csrf_token("/login/mfa"), "code": "123456"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert "challenge" not in session_of(app, client)
    assert str(EXPIRED_CHALLENGE) in text(client.get("/login"))


def test_throttled_challenge_answer_keeps_the_challenge(
    app: Flask, client: FlaskClient, auth: AuthActions, stub: Stubber
) -> None:
    challenge(stub, "SOFTWARE_TOKEN_MFA")
    stub.add_client_error(
        "respond_to_auth_challenge", service_error_code="TooManyRequestsException"
    )
    auth.login()
    response = client.post(
        "/login/mfa", data={"csrf_token": auth.csrf_token("/login/mfa"), "code": "123456"}
    )
    assert response.status_code == 429
    assert message(Failure.TOO_MANY) in text(response)
    assert "challenge" in session_of(app, client)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda sealed: (
            sealed[:-12] + ("A" * 8 if sealed[-12:-4] != "A" * 8 else "B" * 8) + sealed[-4:]
        ),
        lambda sealed: "not a sealed value",
        lambda sealed: 12345,
    ],
    ids=["flipped", "garbage", "not-a-string"],
)
def test_tampered_challenge_state_starts_over(
    tamper: Any, app: Flask, client: FlaskClient, auth: AuthActions, stub: Stubber
) -> None:
    challenge(stub, "NEW_PASSWORD_REQUIRED")
    auth.login()
    with client.session_transaction() as session:
        session["challenge"] = tamper(session["challenge"])
    response = client.get("/login/new-password")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"


def test_challenge_state_from_another_key_is_refused(
    client: FlaskClient, auth: AuthActions, stub: Stubber
) -> None:
    other = create_app(Settings(**{**OFFLINE.__dict__, "secret_key": "another-secret-key"}))
    other.config["TESTING"] = True
    other_client = other.test_client()
    with Stubber(other.extensions["kakeibo.services"].clients.cognito) as other_stub:
        challenge(other_stub, "NEW_PASSWORD_REQUIRED")
        AuthActions(other_client).login()
    with other_client.session_transaction() as session:
        sealed = session["challenge"]
    with client.session_transaction() as session:
        session["challenge"] = sealed
    assert client.get("/login/new-password").status_code == 303


def test_challenge_pages_without_a_challenge_send_to_login(client: FlaskClient) -> None:
    for path in ("/login/new-password", "/login/mfa"):
        for response in (client.get(path), client.post(path)):
            assert response.status_code in (303, 400)  # POST without a token: CSRF first
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["Location"] == "/login"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/",
        "https://evil.example",
        "http://evil.example/",
        "HTTPS://evil.example",
        "http:/evil.example",
        "http:evil.example",
        "\\\\evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        " //evil.example",
        "///evil.example",
        "////evil.example",
        "javascript:alert(1)",
        "data:text/html,hi",
        "evil.example",
        "./evil",
        "/\x00/evil.example",
        "/\u3000/evil.example",
        "/no-such-page",
        "/exports",  # exists, but POST only
        "/logout",  # likewise
        "",
        None,
    ],
)
def test_next_that_is_not_a_local_page_becomes_start(target: str | None, app: Flask) -> None:
    with app.test_request_context():
        assert safe_next(target) == "/"


@pytest.mark.parametrize(
    "target",
    ["/", "/?start=2025-01-01&end=2025-12-31", "/login", "/healthz", "/exports/x"],
)
def test_next_that_is_a_local_page_is_kept(target: str, app: Flask) -> None:
    with app.test_request_context():
        assert safe_next(target) == target
