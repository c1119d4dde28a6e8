"""How many AWS calls each page makes, and how many of them wait for one another.

A page's AWS calls cost round trips: the ones made one after another add up, the
ones made side by side cost one. Every call here is given the same latency (a
``before-send`` hook that waits), so calls in a row never overlap and calls made
together always do; each call's start and end come from botocore's own
``before-call`` and ``after-call`` events. The depth of a page is the longest chain
of calls each of which started after the previous one ended.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import AuthActions, csrf_token

from webapp.services import Services
from webapp.web.auth.session import User
from webapp.web.context import SERVICES

#: What each call is made to take: far above moto's own time, so overlaps are certain.
LATENCY = 0.3


@dataclass(frozen=True)
class Call:
    """One AWS call, by operation, and when it started and ended."""

    name: str
    start: float
    end: float


class Recorder:
    """Record every call the app's clients make, each made LATENCY slow."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def attach(self, services: Services) -> None:
        """Hook the app's clients (built here, so a thread never builds one unhooked)."""
        for client in (services.clients.dynamodb, services.clients.s3, services.clients.cognito):
            events = client.meta.events
            events.register("before-call", self._start)
            events.register("before-send", self._wait)
            events.register("after-call", self._end)
            events.register("after-call-error", self._end)

    def clear(self) -> None:
        """Forget what was recorded (the sign-in's own calls)."""
        with self._lock:
            self.calls.clear()

    def _start(self, model: Any, context: dict[str, Any], **kwargs: Any) -> None:
        context["recorded"] = (f"{model.service_model.service_id}.{model.name}", time.monotonic())

    def _wait(self, **kwargs: Any) -> None:
        time.sleep(LATENCY)

    def _end(self, context: dict[str, Any], **kwargs: Any) -> None:
        name, start = context.pop("recorded")
        with self._lock:
            self.calls.append(Call(name, start, time.monotonic()))

    def depth(self) -> int:
        """Return the longest chain of calls, each started after the one before ended."""
        calls = sorted(self.calls, key=lambda call: call.start)
        chain: list[int] = []
        for call in calls:
            before = [
                chain[i] for i, other in enumerate(calls[: len(chain)]) if other.end <= call.start
            ]
            chain.append(1 + max(before, default=0))
        return max(chain, default=0)

    def names(self) -> list[str]:
        """Return the operations called, sorted."""
        return sorted(call.name for call in self.calls)


@pytest.fixture
def recorder(app: Flask) -> Recorder:
    """Return a recorder hooked to the app's clients."""
    found = Recorder()
    found.attach(app.extensions[SERVICES])
    return found


@pytest.fixture
def signed_in(
    client: FlaskClient, user: User, login: Callable[[User], None], services: Services
) -> User:
    """Sign ``user`` in and give them what the exports page shows: each kind of item."""
    login(user)
    services.backup_prefs.choose(user.sub, "weekly", today=date(2026, 12, 7), email=user.email)
    services.vocabulary.add(user.sub, {"accounts": {"cash"}, "categories": {"food"}})
    data = {"start": "2025-01-01", "end": "2025-12-31", "formats": "both"}
    response = client.post("/exports", data={**data, "csrf_token": csrf_token(client)})
    assert response.status_code == 303, response.get_data(as_text=True)
    return user


def test_the_exports_page_reads_the_app_table_once_then_both_listings_together(
    client: FlaskClient,
    signed_in: User,
    recorder: Recorder,
    put_archive: Callable[..., str],
) -> None:
    archive_id = put_archive(signed_in.sub, created=datetime(2026, 12, 1, tzinfo=UTC))
    recorder.clear()

    page = client.get("/")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert archive_id in html  # the S3 listing
    assert re.search(r'<input checked[^>]*value="weekly"', html)  # the backup choice
    assert 'value="cash"' in html  # the filter vocabulary
    assert recorder.names() == ["DynamoDB.Query", "S3.ListObjectsV2", "S3.ListObjectsV2"]
    assert recorder.depth() == 2


def test_the_account_page_checks_the_session_then_asks_cognito(
    client: FlaskClient, user: User, auth: AuthActions, recorder: Recorder
) -> None:
    assert auth.login().status_code == 303
    recorder.clear()

    page = client.get("/account")

    assert page.status_code == 200
    assert recorder.names() == ["Cognito Identity Provider.GetUser", "DynamoDB.GetItem"]
    assert recorder.depth() <= 2


def test_the_restore_page_checks_the_session_then_the_archive(
    client: FlaskClient,
    user: User,
    login: Callable[[User], None],
    recorder: Recorder,
    put_archive: Callable[..., str],
) -> None:
    login(user)
    archive_id = put_archive(user.sub)
    recorder.clear()

    page = client.get(f"/restore/archives/{archive_id}")

    assert page.status_code == 200
    assert recorder.names() == ["DynamoDB.GetItem", "S3.HeadObject"]
    assert recorder.depth() <= 2


def test_a_signed_out_cookie_opens_no_exports_page_read_from_the_partition(
    client: FlaskClient, signed_in: User, services: Services, recorder: Recorder
) -> None:
    services.sessions.end_all(signed_in.sub, now=int(time.time() * 1000) + 1000)
    recorder.clear()

    page = client.get("/")

    assert page.status_code == 302
    assert "/login" in page.headers["Location"]
    assert recorder.names() == ["DynamoDB.Query"]
