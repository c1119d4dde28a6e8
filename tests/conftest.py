"""Shared fixtures: one moto server per session, fresh resources per test."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import botocore.session
import jinja2
import jinja2.bccache
import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import OFFLINE, AuthActions

from webapp import create_app
from webapp.aws import Clients
from webapp.identity.cognito import create_user
from webapp.local.demo import DEMO_PASSWORD
from webapp.local.stack import REGION, fake_credentials, provision, start_moto
from webapp.local.worker import LocalWorker
from webapp.services import Services
from webapp.settings import Settings
from webapp.web.auth.session import User

#: Test modules whose tests take turns on one worker when pytest-xdist spreads the
#: suite over the cores (`make test`), by group: the deploy checks share build/ (the
#: zip, osls's output) and module fixtures; local mode's runs each start
#: `python -m webapp.local` and time it, so one runs at a time.
WORKER_GROUPS = {
    "tests/test_deploy.py": "deploy",
    "tests/test_iam.py": "deploy",  # packages with osls too, and runs one IAM moto server
    "tests/local/test_local_stop.py": "local-mode",
    "tests/local/test_readme_commands.py": "local-mode",
    "tests/web/test_browser.py": "local-mode",
}


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Spread tests over the workers one by one, but each group of WORKER_GROUPS whole.

    xdist's own ``--dist loadgroup`` (the ``xdist_group`` mark) groups nothing with
    pytest 9.2's node ids (pytest-xdist#1386), so the groups are named here by module.
    Biggest units go first, so the groups start at once, side by side.
    """
    if config.getvalue("dist") != "load":
        return None  # another --dist asked for by name: xdist's own
    from xdist.scheduler import LoadScopeScheduling

    class GroupedLoad(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return WORKER_GROUPS.get(nodeid.split("::", 1)[0], nodeid)

    return GroupedLoad(config, log)


@pytest.fixture(scope="session", autouse=True)
def botocore_models_parsed_once() -> Iterator[None]:
    """Let every boto3 session in this process share what botocore has parsed.

    Each ``Clients`` opens its own boto3 session, and a session's loader keeps the
    models it parsed to itself: a test opened three (provisioning, the test's
    clients, the app's) and parsed the S3, DynamoDB, SQS and Cognito models afresh
    in each, ≈0.7 s of CPU per test. The files read, and so the models, are the same.
    """
    cache: dict[Any, Any] = {}
    create_loader = botocore.session.create_loader

    def sharing(search_path_string: str | None = None) -> Any:
        loader = create_loader(search_path_string)
        loader._cache = cache  # the dict botocore's @instance_cache keeps per loader
        return loader

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", sharing)
        yield


class _CompiledTemplates(jinja2.BytecodeCache):
    """Jinja's compiled templates, kept in memory for every app of the process."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


@pytest.fixture(scope="session", autouse=True)
def templates_compiled_once() -> Iterator[None]:
    """Let every app of this process share Jinja's compiled templates.

    Each test builds its own app, and each app compiled every template it drew
    afresh (≈50 ms for a page). Jinja's bytecode cache checks each template's
    source before it uses what it kept.
    """
    options = {**Flask.jinja_options, "bytecode_cache": _CompiledTemplates()}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Flask, "jinja_options", options)
        yield


@pytest.fixture(scope="session", autouse=True)
def moto_pool_key_read_once() -> Iterator[None]:
    """Let moto read its user pools' signing key once per process, not once per pool.

    moto gives every pool the same RSA key, from a file it ships, and has
    cryptography check it (≈0.15 s of CPU) each time a pool is made: once per test
    here. The key, and so every token moto signs, is the same.
    """
    from joserfc.jwk import RSAKey

    import_key = RSAKey.import_key
    keys: dict[str, Any] = {}

    def read_once(value: Any, parameters: Any = None, password: Any = None) -> Any:
        if not isinstance(value, dict) or parameters is not None or password is not None:
            return import_key(value, parameters, password)
        text = json.dumps(value, sort_keys=True)
        if text not in keys:
            keys[text] = import_key(value)
        return keys[text]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RSAKey, "import_key", staticmethod(read_once))
        yield


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Start moto's server once; every test resets it (see ``settings``)."""
    fake_credentials()
    server, endpoint = start_moto()
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def provisioning_clients(moto_endpoint: str) -> Clients:
    """Return the clients that provision each test's resources (tests get their own)."""
    return Clients(replace(OFFLINE, endpoint_url=moto_endpoint, region=REGION))


@pytest.fixture
def settings(moto_endpoint: str, provisioning_clients: Clients) -> Settings:
    """Return settings for freshly provisioned resources on an empty moto."""
    # Emptying moto takes milliseconds; making the resources again is what costs.
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request).close()
    # The suite reads English pages; tests of the Japanese site ask for it themselves.
    return provision(moto_endpoint, default_locale="en", clients=provisioning_clients)


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
