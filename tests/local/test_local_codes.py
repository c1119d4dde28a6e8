"""Local mode's codes: what the README says to type, and that moto really takes it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from webapp.aws import Clients
from webapp.local.demo import DEMO_PASSWORD
from webapp.local.mail import reset_code_line
from webapp.settings import Settings
from webapp.web.auth.session import User

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _section() -> str:
    return README.split("### Try the commands locally", 1)[1].split("\n## ", 1)[0]


def test_the_readme_quotes_the_printed_line_and_says_what_to_type() -> None:
    block = re.search(r"<!-- local: reset code -->\n```text\n(.*?)\n```", _section(), re.S)
    assert block, "the README shows no printed reset code"
    assert block.group(1) == reset_code_line("moto-confirmation-code:123456")
    words = " ".join(_section().split())
    assert "Type the whole code, `moto-confirmation-code:123456`" in words
    assert "any other code (`123456` alone, say) is accepted too" in words
    assert "any 6 digits pass as an authenticator app's code" in words


def _reset(clients: Clients, settings: Settings, email: str, code: str) -> None:
    clients.cognito.confirm_forgot_password(
        ClientId=settings.cognito_client_id,
        Username=email,
        ConfirmationCode=code,
        Password="Another-Passw0rd-1",
    )


def test_moto_takes_the_whole_printed_code_and_any_code_of_another_shape(
    clients: Clients, settings: Settings, user: User
) -> None:
    issued = []
    clients.cognito.meta.events.register(
        "after-call.cognito-idp.ForgotPassword",
        lambda http_response, **_: issued.append(
            http_response.headers["x-moto-forgot-password-confirmation-code"]
        ),
    )
    clients.cognito.forgot_password(ClientId=settings.cognito_client_id, Username=user.email)
    (code,) = issued
    assert re.fullmatch(r"moto-confirmation-code:\d{6}", code)
    with pytest.raises(clients.cognito.exceptions.ExpiredCodeException):
        _reset(clients, settings, user.email, "moto-confirmation-code:000000")
    _reset(clients, settings, user.email, code)
    _reset(clients, settings, user.email, "123456")  # not checked at all


def test_moto_takes_any_authenticator_code(
    clients: Clients, settings: Settings, user: User
) -> None:
    token = clients.cognito.initiate_auth(
        ClientId=settings.cognito_client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user.email, "PASSWORD": DEMO_PASSWORD},
    )["AuthenticationResult"]["AccessToken"]
    clients.cognito.associate_software_token(AccessToken=token)
    answer = clients.cognito.verify_software_token(AccessToken=token, UserCode="000000")
    assert answer["Status"] == "SUCCESS"
