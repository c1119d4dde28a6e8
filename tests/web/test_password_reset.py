"""Forgot your password: a code by mail, then code + new password, over moto and stubbed."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from botocore.stub import Stubber
from flask import Flask
from flask.testing import FlaskClient
from support import OFFLINE, AuthActions, reset_codes, text
from werkzeug.test import TestResponse

from webapp import create_app
from webapp.aws import Clients
from webapp.identity.cognito import create_user
from webapp.local.demo import DEMO_PASSWORD
from webapp.settings import Settings
from webapp.web.auth.session import User

NEW_PASSWORD = "Brand-new-Passw0rd"
#: The local pool's policy in our words (webapp/local/resources.py: 12, upper, lower, digit).
RULES = "at least 12 characters, with upper-case and lower-case letters and a digit"


def ask_code(client: FlaskClient, auth: AuthActions, email: str) -> TestResponse:
    """Submit the "forgot your password" form."""
    token = auth.csrf_token("/login/forgot")
    return client.post("/login/forgot", data={"csrf_token": token, "email": email})


def reset(
    client: FlaskClient,
    auth: AuthActions,
    email: str,
    code: str,
    password: str = NEW_PASSWORD,
    confirm: str | None = None,
) -> TestResponse:
    """Submit the code-and-new-password form."""
    return client.post(
        "/login/reset",
        data={
            "csrf_token": auth.csrf_token("/login/reset"),
            "email": email,
            "code": code,
            "password": password,
            "confirm": password if confirm is None else confirm,
        },
    )


def test_the_sign_in_page_links_to_the_reset(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert '<a href="/login/forgot">Forgot your password?</a>' in page
    forgot = client.get("/login/forgot")
    assert forgot.status_code == 200
    assert "<h1" in text(forgot) and ">Reset your password</h1>" in text(forgot)
    assert '<label class="field__label" for="email">' in text(forgot)


def test_forgot_then_reset_then_sign_in_with_the_new_password(
    app: Flask, client: FlaskClient, auth: AuthActions, user: User
) -> None:
    codes = reset_codes(app)
    asked = ask_code(client, auth, user.email)
    assert asked.status_code == 303
    assert asked.headers["Location"] == "/login/reset"
    assert len(codes) == 1  # Cognito was asked to mail a code

    page = client.get("/login/reset")
    assert f"If {user.email} belongs to an account, we have emailed it a code" in text(page)
    assert f'value="{user.email}"' in text(page)  # the address is filled in
    assert RULES in text(page)  # the hint lists the pool's rules

    done = reset(client, auth, user.email, codes[0])
    assert done.status_code == 303
    assert done.headers["Location"] == "/login"
    assert "Your password has been changed" in text(client.get("/login"))

    assert auth.login(user.email, DEMO_PASSWORD).status_code == 401
    signed_in = auth.login(user.email, NEW_PASSWORD)
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/"


def _answer(client: FlaskClient, auth: AuthActions, email: str, app: Flask) -> tuple[object, ...]:
    client.delete_cookie("session")
    response = ask_code(client, auth, email)
    page = text(client.get(response.headers.get("Location", "/login/forgot")))
    page = re.sub(r'name="csrf_token"[^>]*value="[^"]*"', "", page).replace(email, "EMAIL")
    return response.status_code, response.headers.get("Location"), page


def test_an_unknown_or_unresettable_address_gets_the_same_answer(
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    user: User,
    clients: Clients,
    settings: Settings,
) -> None:
    # Still on a temporary password: Cognito refuses to reset it (NotAuthorized).
    create_user(
        clients.cognito, settings.cognito_user_pool_id, "temp@example.com", None, "Temp-Passw0rd1"
    )
    codes = reset_codes(app)
    known = _answer(client, auth, user.email, app)
    assert len(codes) == 1
    assert _answer(client, auth, "nobody@example.com", app) == known
    assert _answer(client, auth, "temp@example.com", app) == known


def test_a_weak_password_lists_the_pool_rules_and_changes_nothing(
    app: Flask, client: FlaskClient, auth: AuthActions, user: User
) -> None:
    codes = reset_codes(app)
    ask_code(client, auth, user.email)
    refused = reset(client, auth, user.email, codes[0], password="short")
    assert refused.status_code == 400
    assert f"Choose a stronger password: use {RULES}." in text(refused)
    assert 'aria-invalid="true"' in text(refused)
    # The code is still good, and the old password still works until it is used.
    assert auth.login(user.email, DEMO_PASSWORD).status_code == 303


WRONG_CODE = (
    "That code is not right, has expired or was already used. Enter the code from the latest "
    "email we sent, or ask for a new one."
)


def test_a_wrong_or_used_code_is_a_form_error(
    app: Flask, client: FlaskClient, auth: AuthActions, user: User
) -> None:
    codes = reset_codes(app)
    ask_code(client, auth, user.email)
    # moto answers a code that is not the one it issued with ExpiredCodeException.
    wrong = codes[0][:-1] + ("0" if codes[0][-1] != "0" else "1")
    refused = reset(client, auth, user.email, wrong)
    assert refused.status_code == 400
    assert WRONG_CODE in text(refused)
    assert "Invalid code provided" not in text(refused)  # moto's own sentence
    assert auth.login(user.email, NEW_PASSWORD).status_code == 401
    assert reset(client, auth, user.email, codes[0]).status_code == 303
    # Used once, the code is gone.
    again = reset(client, auth, user.email, codes[0], password="Another-Passw0rd")
    assert again.status_code == 400
    assert WRONG_CODE in text(again)


def test_a_code_for_an_unknown_address_reads_as_a_wrong_code(
    client: FlaskClient, auth: AuthActions, user: User
) -> None:
    refused = reset(client, auth, "nobody@example.com", "123456")
    assert refused.status_code == 400
    assert WRONG_CODE in text(refused)


def _wrong_code_page(app: Flask, email: str) -> tuple[int, str]:
    client = app.test_client()
    auth = AuthActions(client)
    ask_code(client, auth, email)
    # moto checks only codes that look like its own: this one it refuses for an account.
    answer = reset(client, auth, email, "moto-confirmation-code:000000")
    page = re.sub(r'name="csrf_token"[^>]*value="[^"]*"', "", text(answer))
    return answer.status_code, page.replace(email, "EMAIL")


def test_a_wrong_code_reads_the_same_with_and_without_an_account(app: Flask, user: User) -> None:
    known = _wrong_code_page(app, user.email)
    assert known[0] == 400 and WRONG_CODE in known[1]
    assert _wrong_code_page(app, "nobody@example.com") == known


def test_wrong_codes_are_throttled_like_wrong_passwords(
    app: Flask, client: FlaskClient, auth: AuthActions, user: User
) -> None:
    # One moment throughout, so the wait reads the whole window however slow the machine.
    frozen = datetime.now(UTC)
    app.extensions["kakeibo.services"].clock = lambda: frozen
    calls: list[str] = []
    cognito = app.extensions["kakeibo.services"].clients.cognito
    cognito.meta.events.register(
        "before-call.cognito-idp.ConfirmForgotPassword", lambda **_: calls.append("confirm")
    )
    codes = reset_codes(app)
    ask_code(client, auth, user.email)
    for _ in range(5):
        assert reset(client, auth, user.email, "moto-confirmation-code:000000").status_code == 400
    refused = reset(client, auth, user.email, codes[0])
    assert refused.status_code == 429
    assert "Too many attempts. Try again in 15 minutes." in text(refused)
    assert refused.headers["Retry-After"] == str(15 * 60)
    assert len(calls) == 5  # the sixth never reached Cognito
    # The same counter as sign-in: the password waits too.
    assert auth.login(user.email).status_code == 429


def test_a_reset_ends_every_other_session_of_the_account(
    app: Flask, auth: AuthActions, user: User, clients: Clients, settings: Settings
) -> None:
    elsewhere = app.test_client()
    assert AuthActions(elsewhere).login(user.email).status_code == 303
    assert elsewhere.get("/").status_code == 200
    tokens = clients.cognito.initiate_auth(
        ClientId=settings.cognito_client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user.email, "PASSWORD": DEMO_PASSWORD},
    )["AuthenticationResult"]

    here = app.test_client()
    codes = reset_codes(app)
    ask_code(here, AuthActions(here), user.email)
    assert reset(here, AuthActions(here), user.email, codes[0]).status_code == 303

    # The other browser's next page is the sign-in page, saying why.
    bounced = elsewhere.get("/")
    assert bounced.status_code == 302 and bounced.headers["Location"].startswith("/login")
    assert "You were signed out in every browser" in text(elsewhere.get("/login"))
    # And Cognito's own tokens of the account are revoked.
    with pytest.raises(clients.cognito.exceptions.NotAuthorizedException):
        clients.cognito.get_user(AccessToken=tokens["AccessToken"])


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"code": ""}, "Enter the code from the email."),
        ({"confirm": "Something-else1"}, "The two passwords are not the same."),
        ({"email": "not-an-address"}, "Enter an email address like name@example.com."),
        ({"password": "x" * 257}, "A password has at most 256 characters."),
    ],
)
def test_bad_reset_forms_are_400(
    client: FlaskClient, auth: AuthActions, fields: dict[str, str], error: str
) -> None:
    data = {"email": "a@example.com", "code": "123456", "password": NEW_PASSWORD}
    data.update(fields)
    confirm = fields.get("confirm")
    data.pop("confirm", None)
    refused = reset(client, auth, confirm=confirm, **data)
    assert refused.status_code == 400
    assert error in text(refused)


def test_the_new_password_step_says_our_words_not_cognitos(
    client: FlaskClient, auth: AuthActions, clients: Clients, settings: Settings
) -> None:
    create_user(
        clients.cognito, settings.cognito_user_pool_id, "new@example.com", None, "Temp-Passw0rd1"
    )
    assert auth.login("new@example.com", "Temp-Passw0rd1").headers["Location"] == (
        "/login/new-password"
    )
    page = client.get("/login/new-password")
    assert f"Use {RULES}." in text(page)
    token = auth.csrf_token("/login/new-password")
    refused = client.post(
        "/login/new-password",
        data={"csrf_token": token, "password": "weakpassword", "confirm": "weakpassword"},
    )
    assert refused.status_code == 400
    assert f"Choose a stronger password: use {RULES}." in text(refused)
    assert "confirm to" not in text(refused) and "policy" not in text(refused)


# --- Cognito's other answers, stubbed -------------------------------------------------------------


@pytest.fixture
def offline() -> Flask:
    app = create_app(OFFLINE)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def stub(offline: Flask) -> Iterator[Stubber]:
    """Stub the offline app's Cognito client; the pool's policy is always asked first."""
    clients: Clients = offline.extensions["kakeibo.services"].clients
    with Stubber(clients.cognito) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def _policy(stub: Stubber, symbols: bool = True) -> None:
    stub.add_response(
        "describe_user_pool",
        {
            "UserPool": {
                "Policies": {
                    "PasswordPolicy": {
                        "MinimumLength": 10,
                        "RequireUppercase": True,
                        "RequireLowercase": True,
                        "RequireNumbers": True,
                        "RequireSymbols": symbols,
                    }
                }
            }
        },
    )


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [
        ("CodeMismatchException", 400, "That code is not right, has expired"),
        ("ExpiredCodeException", 400, "That code is not right, has expired or was already used."),
        (
            "InvalidPasswordException",
            400,
            "Choose a stronger password: use at least 10 characters, with upper-case and "
            "lower-case letters, a digit, and a symbol such as ! or #.",
        ),
        ("LimitExceededException", 429, "Too many attempts. Wait a few minutes"),
        ("TooManyFailedAttemptsException", 429, "Too many attempts."),
        ("InvalidParameterException", 400, "Something in the form could not be used."),
        ("UserNotFoundException", 400, "That code is not right, has expired"),
        ("InternalErrorException", 503, "This is not available right now."),
    ],
)
def test_cognito_refusals_of_the_reset_are_our_words(
    offline: Flask, stub: Stubber, code: str, status: int, words: str
) -> None:
    client = offline.test_client()
    auth = AuthActions(client)
    _policy(stub)  # read by the form's hint
    stub.add_client_error("confirm_forgot_password", code, "Cognito's own sentence")
    refused = reset(client, auth, "a@example.com", "123456", password="Strong-Passw0rd!")
    assert refused.status_code == status
    assert words in text(refused)
    assert "Cognito's own sentence" not in text(refused)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("UserNotFoundException", 303),
        ("NotAuthorizedException", 303),
        ("InvalidParameterException", 303),
        ("LimitExceededException", 429),
        ("InternalErrorException", 503),
    ],
)
def test_cognito_refusals_of_the_code_request(
    offline: Flask, stub: Stubber, code: str, status: int
) -> None:
    client = offline.test_client()
    stub.add_client_error("forgot_password", code, "Cognito's own sentence")
    response = ask_code(client, AuthActions(client), "a@example.com")
    assert response.status_code == status
    assert "Cognito's own sentence" not in text(response)
    if status == 303:
        assert response.headers["Location"] == "/login/reset"


def test_the_policy_is_read_once_and_a_failed_read_says_less(offline: Flask, stub: Stubber) -> None:
    client = offline.test_client()
    stub.add_client_error("describe_user_pool", "AccessDeniedException", "no")
    page = client.get("/login/reset")
    assert page.status_code == 200
    assert "Use a long password with different kinds of characters." in text(page)
    # The failure is remembered for a while: no second DescribeUserPool.
    assert client.get("/login/reset").status_code == 200
    offline.extensions.pop("kakeibo.password_policy")
    _policy(stub, symbols=False)
    assert "Use at least 10 characters" in text(client.get("/login/reset"))
    assert "Use at least 10 characters" in text(client.get("/login/reset"))


def test_a_signed_in_reset_ends_that_session(
    app: Flask,
    client: FlaskClient,
    auth: AuthActions,
    make_user: Callable[[str], User],
    login: Callable[[User], None],
) -> None:
    bob = make_user("bob@example.com")
    login(bob)
    codes = reset_codes(app)
    ask_code(client, auth, bob.email)
    assert reset(client, auth, bob.email, codes[0]).status_code == 303
    assert client.get("/").status_code == 302  # signed out


def test_the_rules_read_naturally_in_japanese(client: FlaskClient) -> None:
    page = client.get("/login/reset", headers={"Accept-Language": "ja"})
    assert "12文字以上で、英大文字と英小文字、数字を含むものにしてください。" in text(page)
    forgot = client.get("/login/forgot", headers={"Accept-Language": "ja"})
    assert "パスワードの再設定" in text(forgot) and "Reset your password" not in text(forgot)
