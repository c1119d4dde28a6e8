"""The sign-in throttle: per account and per client, the same answer for any account, recovers."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient
from support import AuthActions, message, text

from webapp import create_app
from webapp.identity.cognito import Failure
from webapp.settings import Settings
from webapp.web.auth.session import User

TOO_MANY = "Too many attempts. Try again in 15 minutes."


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


def _app(settings: Settings, **limits: int) -> tuple[Flask, Clock]:
    app = create_app(replace(settings, **limits))
    app.config["TESTING"] = True
    clock = Clock()
    app.extensions["kakeibo.services"].clock = clock
    return app, clock


def _client(app: Flask, address: str = "203.0.113.7") -> tuple[FlaskClient, AuthActions]:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client, AuthActions(client)


def _cognito_calls(app: Flask) -> list[str]:
    calls: list[str] = []
    cognito = app.extensions["kakeibo.services"].clients.cognito
    cognito.meta.events.register(
        "before-call.cognito-idp.InitiateAuth", lambda **_: calls.append("InitiateAuth")
    )
    return calls


def test_wrong_passwords_for_one_account_are_throttled_then_recover(
    settings: Settings, user: User
) -> None:
    app, clock = _app(settings)
    _, auth = _client(app)
    calls = _cognito_calls(app)
    for _ in range(5):
        wrong = auth.login(user.email, "Wrong-password-123")
        assert wrong.status_code == 401
        assert message(Failure.BAD_CREDENTIALS) in text(wrong)
    assert len(calls) == 5

    # Even the right password is refused now, from another address too, without Cognito.
    _, elsewhere = _client(app, "198.51.100.9")
    refused = elsewhere.login(user.email)
    assert refused.status_code == 429
    assert TOO_MANY in text(refused)
    assert refused.headers["Retry-After"] == str(15 * 60)
    assert len(calls) == 5

    clock.now += 10 * 60
    later = auth.login(user.email)
    assert later.status_code == 429
    assert "Too many attempts. Try again in 5 minutes." in text(later)

    clock.now += 5 * 60 + 1
    recovered = auth.login(user.email)
    assert recovered.status_code == 303
    assert recovered.headers["Location"] == "/"


def test_an_unknown_account_gets_the_very_same_answers(
    settings: Settings, make_user: Callable[[str], User]
) -> None:
    make_user("alice@example.com")
    pages: dict[str, list[tuple[int, str]]] = {}
    for email in ("alice@example.com", "nobody@example.com"):
        app, _ = _app(settings)
        _, auth = _client(app)
        answers = [auth.login(email, "Wrong-password-123") for _ in range(6)]
        pages[email] = [
            (answer.status_code, text(answer).replace(email, "EMAIL")) for answer in answers
        ]
    assert [status for status, _ in pages["nobody@example.com"]] == [401] * 5 + [429]
    assert TOO_MANY in pages["nobody@example.com"][-1][1]
    assert [status for status, _ in pages["alice@example.com"]] == [401] * 5 + [429]


def test_many_accounts_from_one_client_are_throttled(
    settings: Settings, make_user: Callable[[str], User]
) -> None:
    app, clock = _app(settings, signin_max_failures_per_client=3)
    bob = make_user("bob@example.com")
    _, auth = _client(app)
    for n in range(3):
        assert auth.login(f"guess{n}@example.com", "Wrong-password-123").status_code == 401

    refused = auth.login(bob.email)
    assert refused.status_code == 429
    assert TOO_MANY in text(refused)
    # Another client, and this one after the window, may sign in.
    _, other = _client(app, "198.51.100.9")
    assert other.login(bob.email).status_code == 303
    clock.now += 15 * 60 + 1
    assert auth.login(bob.email).status_code == 303


def test_a_successful_sign_in_is_not_counted(settings: Settings, user: User) -> None:
    app, _ = _app(settings, signin_max_failures=2)
    client, auth = _client(app)
    for _ in range(4):
        assert auth.login(user.email).status_code == 303
        client.post("/logout", data={"csrf_token": auth.csrf_token("/")})
    assert auth.login(user.email, "Wrong-password-123").status_code == 401
    assert auth.login(user.email).status_code == 303


def test_the_throttle_page_is_translated(settings: Settings, user: User) -> None:
    app, _ = _app(settings, signin_max_failures=1)
    client, auth = _client(app)
    client.set_cookie("lang", "ja")
    auth.login(user.email, "Wrong-password-123")
    refused = auth.login(user.email)
    assert refused.status_code == 429
    assert "試行回数が多すぎます。15分後にもう一度お試しください。" in text(refused)


def test_an_unreadable_throttle_fails_open_and_cognito_still_answers(
    settings: Settings, user: User
) -> None:
    from botocore.exceptions import ClientError

    app, _ = _app(settings)
    _, auth = _client(app)
    dynamodb = app.extensions["kakeibo.services"].clients.dynamodb

    def fail(**_: object) -> None:
        error = {"Error": {"Code": "InternalServerError", "Message": "injected"}}
        raise ClientError(error, "UpdateItem")  # type: ignore[arg-type]

    dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", fail)
    wrong = auth.login(user.email, "Wrong-password-123")
    assert wrong.status_code == 401
    assert message(Failure.BAD_CREDENTIALS) in text(wrong)
    assert auth.login(user.email).status_code == 303


def _reset(auth: AuthActions, email: str) -> int:
    """Type a wrong reset code for ``email`` (and a valid new password); return the status."""
    token = auth.csrf_token("/login/reset")
    data = {
        "csrf_token": token,
        "email": email,
        "code": "moto-confirmation-code:000000",
        "password": "Brand-new-Passw0rd",
        "confirm": "Brand-new-Passw0rd",
    }
    return auth.client.post("/login/reset", data=data).status_code


def test_reset_codes_for_many_accounts_from_one_client_are_throttled(
    settings: Settings, make_user: Callable[[str], User]
) -> None:
    app, clock = _app(settings, signin_max_failures_per_client=3)
    calls: list[str] = []
    cognito = app.extensions["kakeibo.services"].clients.cognito
    cognito.meta.events.register(
        "before-call.cognito-idp.ConfirmForgotPassword", lambda **_: calls.append("confirm")
    )
    bob = make_user("bob@example.com")
    _, auth = _client(app)
    # One client guessing codes across addresses: the per-client counter, as at sign-in.
    assert [_reset(auth, f"guess{n}@example.com") for n in range(3)] == [400] * 3

    assert _reset(auth, bob.email) == 429
    assert len(calls) == 3
    # The same counter as the password's: this client's sign-in waits too.
    assert auth.login(bob.email).status_code == 429
    _, other = _client(app, "198.51.100.9")
    assert _reset(other, bob.email) == 400
    clock.now += 15 * 60 + 1
    assert auth.login(bob.email).status_code == 303
