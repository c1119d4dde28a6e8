"""Shared fixtures: one moto server per session, fresh resources per test."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import AuthActions

from webapp import create_app
from webapp.aws import Clients
from webapp.identity.cognito import create_user
from webapp.local.demo import DEMO_PASSWORD
from webapp.local.stack import fake_credentials, provision, start_moto
from webapp.local.worker import LocalWorker
from webapp.services import Services
from webapp.settings import Settings
from webapp.web.auth.session import User


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
    # The suite reads English pages; tests of the Japanese site ask for it themselves.
    return provision(moto_endpoint, default_locale="en")


@pytest.fixture
def clients(settings: Settings) -> Clients:
    """Return boto3 clients pointing at moto."""
    return Clients(settings)


@pytest.fixture
def services(settings: Settings, clients: Clients) -> Services:
    """Return the stores, queue and buckets on those clients (the production wiring)."""
    return Services(settings, clients)


@pytest.fixture
def worker(services: Services) -> LocalWorker:
    """Return the local stand-in for Lambda's SQS trigger; ``drain()`` runs queued jobs."""
    return LocalWorker(services)


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


@pytest.fixture
def put_archive(clients: Clients, settings: Settings) -> Callable[..., str]:
    """Store a stand-in archive for a user straight into S3; return its id text."""
    from datetime import UTC, date, datetime

    from webapp.archive.ids import ArchiveId, archive_key

    def put(
        sub: str,
        start: date = date(2025, 1, 1),
        end: date = date(2025, 12, 31),
        created: datetime | None = None,
        body: bytes = b"PK\x05\x06" + bytes(18),  # an empty zip
    ) -> str:
        archive_id = ArchiveId.new(start, end, now=created or datetime.now(UTC))
        clients.s3.put_object(
            Bucket=settings.export_bucket, Key=archive_key(sub, archive_id), Body=body
        )
        return str(archive_id)

    return put


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    """Sign ``client`` in and out through /login and /logout."""
    return AuthActions(client)
