"""Test helpers shared by several test modules (not fixtures: those live in conftest)."""

from __future__ import annotations

import html
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from webapp.auth import MESSAGES
from webapp.auth_cognito import Failure
from webapp.settings import Settings

#: Settings whose AWS is never reached: every Cognito call made with them is
#: stubbed, and the endpoint is a closed local port so nothing leaks out.
OFFLINE = Settings(
    export_bucket="bucket",
    slips_table="slips",
    balances_table="balances",
    cognito_user_pool_id="ap-northeast-1_offline",
    cognito_client_id="offline-client",
    region="ap-northeast-1",
    endpoint_url="http://127.0.0.1:9",
    jwks_url="http://127.0.0.1:9/.well-known/jwks.json",
    secret_key="offline-secret-key",
    local=True,
)


def message(failure: Failure, **fields: str) -> str:
    """Return the sign-in page's message for ``failure``."""
    return MESSAGES[failure][0].format(**fields)


def text(response: TestResponse) -> str:
    """Return the page as the browser shows it (HTML entities undone)."""
    return html.unescape(response.get_data(as_text=True))


def session_of(app: Flask, client: FlaskClient) -> dict[str, Any]:
    """Return what the session cookie holds, read the way anyone holding it could."""
    cookie = client.get_cookie("session")
    if cookie is None:
        return {}
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    data: dict[str, Any] = serializer.loads(cookie.value)
    return data
