"""``flask --app webapp create-user EMAIL``: the first user of a fresh deploy."""

from __future__ import annotations

import re
import string

import pytest
from botocore.stub import Stubber
from flask import Flask

from webapp.aws import Clients
from webapp.cli import SYMBOLS, temporary_password
from webapp.settings import Settings

PASSWORD_LINE = re.compile(r"^Temporary password: (\S+)$", re.MULTILINE)


def _users(clients: Clients, settings: Settings) -> list[str]:
    users = clients.cognito.list_users(UserPoolId=settings.cognito_user_pool_id)["Users"]
    return sorted(
        attr["Value"] for user in users for attr in user["Attributes"] if attr["Name"] == "email"
    )


def test_create_user_prints_a_temporary_password_that_signs_in_once(
    app: Flask, clients: Clients, settings: Settings
) -> None:
    result = app.test_cli_runner().invoke(args=["create-user", "  bob@example.com "])

    assert result.exit_code == 0, result.output
    match = PASSWORD_LINE.search(result.output)
    assert match, result.output
    user = clients.cognito.admin_get_user(
        UserPoolId=settings.cognito_user_pool_id, Username="bob@example.com"
    )
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    assert attributes["email"] == "bob@example.com"
    assert attributes["email_verified"] == "true"
    assert attributes["sub"] in result.output
    # The printed password is the one Cognito holds: it opens the new-password step.
    auth = clients.cognito.initiate_auth(
        ClientId=settings.cognito_client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "bob@example.com", "PASSWORD": match.group(1)},
    )
    assert auth["ChallengeName"] == "NEW_PASSWORD_REQUIRED"


def test_create_user_refuses_an_existing_account(
    app: Flask, clients: Clients, settings: Settings
) -> None:
    runner = app.test_cli_runner()
    assert runner.invoke(args=["create-user", "bob@example.com"]).exit_code == 0

    result = runner.invoke(args=["create-user", "bob@example.com"])

    assert result.exit_code == 1
    assert "bob@example.com already has an account" in result.output
    assert "Traceback" not in result.output
    assert _users(clients, settings) == ["bob@example.com"]


@pytest.mark.parametrize(
    "email", ["", "bob", "bob@", "@example.com", "bob@example", "a b@example.com", "a@b@c.com"]
)
def test_create_user_rejects_a_malformed_email_and_writes_nothing(
    app: Flask, clients: Clients, settings: Settings, email: str
) -> None:
    result = app.test_cli_runner().invoke(args=["create-user", email])

    assert result.exit_code == 2
    assert "is not an email address" in result.output
    assert "Traceback" not in result.output
    assert _users(clients, settings) == []


def test_create_user_reports_other_cognito_errors_clearly(app: Flask) -> None:
    app_clients: Clients = app.extensions["kakeibo.services"].clients
    with Stubber(app_clients.cognito) as stub:
        stub.add_client_error(
            "admin_create_user",
            service_error_code="InvalidPasswordException",
            service_message="Password does not conform to policy",
        )
        result = app.test_cli_runner().invoke(args=["create-user", "bob@example.com"])

    assert result.exit_code == 1
    assert "InvalidPasswordException: Password does not conform to policy" in result.output
    assert "Traceback" not in result.output


def test_temporary_passwords_meet_the_strictest_policy_and_differ() -> None:
    passwords = {temporary_password() for _ in range(200)}

    assert len(passwords) == 200
    for password in passwords:
        assert len(password) == 20
        assert any(c in string.ascii_uppercase for c in password)
        assert any(c in string.ascii_lowercase for c in password)
        assert any(c in string.digits for c in password)
        assert any(c in SYMBOLS for c in password)
