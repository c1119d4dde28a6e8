"""Limits that hold under bursts: parallel requests get exactly the limit, never more.

Each test fires real parallel requests (threads, released together) at the app on
moto, with moto's DynamoDB writes made atomic as DynamoDB's are (``atomic_dynamodb``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import atomic_dynamodb, burst

from webapp import create_app
from webapp.aws import Clients
from webapp.jobs.store import JobStore
from webapp.local.demo import DEMO_PASSWORD
from webapp.settings import Settings
from webapp.web.auth.session import User

EXPORT = {"start": "2025-01-01", "end": "2025-12-31", "formats": "both"}


@pytest.fixture(autouse=True)
def _atomic() -> Iterator[None]:
    with atomic_dynamodb():
        yield


def _app(settings: Settings, **limits: int) -> Flask:
    app = create_app(replace(settings, **limits))
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    return app


def _signed_in(app: Flask, user: User, count: int) -> list[FlaskClient]:
    """Return ``count`` clients sharing one signed-in session (one browser, many tabs)."""
    first = app.test_client()
    assert (
        first.post("/login", data={"email": user.email, "password": DEMO_PASSWORD}).status_code
        == 303
    )
    cookie = first.get_cookie("session")
    assert cookie is not None
    clients = [first]
    for _ in range(count - 1):
        other = app.test_client()
        other.set_cookie("session", cookie.value)
        clients.append(other)
    return clients


def test_a_burst_of_exports_starts_exactly_the_active_limit(
    settings: Settings, user: User, clients: Clients
) -> None:
    app = _app(settings, max_active_jobs=2, max_jobs_per_day=30)
    tabs = _signed_in(app, user, 6)

    answers = burst(6, lambda i: tabs[i].post("/exports", data=EXPORT).status_code)

    assert sorted(answers) == [303, 303, 429, 429, 429, 429]
    jobs = JobStore(clients.dynamodb, settings.app_table).list(user.sub)
    assert len(jobs) == 2


def test_a_burst_gets_exactly_the_daily_quota(
    settings: Settings, user: User, clients: Clients
) -> None:
    app = _app(settings, max_active_jobs=10, max_jobs_per_day=3)
    tabs = _signed_in(app, user, 8)

    answers = burst(8, lambda i: tabs[i].post("/exports", data=EXPORT).status_code)

    assert answers.count(303) == 3 and answers.count(429) == 5
    assert len(JobStore(clients.dynamodb, settings.app_table).list(user.sub)) == 3


def _cognito_calls(app: Flask, operation: str) -> list[str]:
    calls: list[str] = []
    lock = threading.Lock()

    def seen(**_: object) -> None:
        with lock:
            calls.append(operation)

    cognito = app.extensions["kakeibo.services"].clients.cognito
    cognito.meta.events.register(f"before-call.cognito-idp.{operation}", seen)
    return calls


def test_a_burst_of_wrong_passwords_reaches_cognito_exactly_the_limit(
    settings: Settings, user: User
) -> None:
    app = _app(settings)  # 5 per account, 20 per client
    calls = _cognito_calls(app, "InitiateAuth")
    browsers = [app.test_client() for _ in range(30)]

    def guess(i: int) -> int:
        data = {"email": user.email, "password": f"wrong-{i}"}
        return browsers[i].post("/login", data=data).status_code

    answers = burst(30, guess)

    assert len(calls) == 5
    assert answers.count(401) == 5 and answers.count(429) == 25
    # And the right password waits for the window, like everyone else.
    right = {"email": user.email, "password": DEMO_PASSWORD}
    assert app.test_client().post("/login", data=right).status_code == 429


def test_a_burst_from_one_client_reaches_cognito_exactly_its_limit(
    settings: Settings, make_user: Callable[[str], User]
) -> None:
    app = _app(settings, signin_max_failures_per_client=4)
    calls = _cognito_calls(app, "InitiateAuth")
    browsers = [app.test_client() for _ in range(12)]

    def guess(i: int) -> int:
        # Twelve different accounts, one client address: the client's counter decides.
        data = {"email": f"someone{i}@example.com", "password": "wrong"}
        return browsers[i].post("/login", data=data).status_code

    answers = burst(12, guess)

    assert len(calls) == 4
    assert answers.count(429) == 8
