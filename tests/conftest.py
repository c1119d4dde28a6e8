"""Shared fixtures: one moto server per session, fresh resources per test."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from webapp import create_app
from webapp.auth import User
from webapp.aws import Clients
from webapp.demo import DEMO_PASSWORD
from webapp.local import fake_credentials, provision, start_moto
from webapp.provision import create_user
from webapp.settings import Settings


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Start moto's server once; every test resets it (see ``settings``)."""
    fake_credentials()
    server, endpoint = start_moto()
    yield endpoint
    server.stop()


@pytest.fixture
def settings(moto_endpoint: str) -> Settings:
    """Return settings for freshly provisioned resources on an empty moto."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request).close()
    return provision(moto_endpoint)


@pytest.fixture
def clients(settings: Settings) -> Clients:
    """Return boto3 clients pointing at moto."""
    return Clients(settings)


@pytest.fixture
def app(settings: Settings) -> Flask:
    """Return the app, configured for the provisioned resources."""
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Return a test client."""
    return app.test_client()


@pytest.fixture
def make_user(clients: Clients, settings: Settings) -> Callable[[str], User]:
    """Create Cognito users (password ``DEMO_PASSWORD``) on demand."""

    def make(email: str) -> User:
        sub = create_user(clients.cognito, settings.cognito_user_pool_id, email, DEMO_PASSWORD)
        return User(sub=sub, email=email)

    return make


@pytest.fixture
def user(make_user: Callable[[str], User]) -> User:
    """Return a confirmed Cognito user."""
    return make_user("alice@example.com")


@pytest.fixture
def login(client: FlaskClient) -> Callable[[User], None]:
    """Give ``client`` a signed-in session for ``user`` (what /login would set)."""

    def sign_in(user: User, ttl: int = 3600) -> None:
        with client.session_transaction() as session:
            session.update(sub=user.sub, email=user.email, exp=int(time.time()) + ttl)

    return sign_in
