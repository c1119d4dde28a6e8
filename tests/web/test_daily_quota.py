"""The per-user quota: at most so many exports and restores started in any 24 hours."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from support import AuthActions, text
from werkzeug.test import TestResponse

from webapp import create_app
from webapp.aws import Clients
from webapp.jobs.job import Job, State, new_job_id
from webapp.jobs.store import JobStore
from webapp.settings import Settings
from webapp.web.auth.session import User


def _client(settings: Settings, user: User, **limits: int) -> FlaskClient:
    app = create_app(replace(settings, **limits))
    app.config["TESTING"] = True
    client = app.test_client()
    assert AuthActions(client).login(user.email).status_code == 303
    return client


def _export(client: FlaskClient) -> TestResponse:
    token = AuthActions(client).csrf_token("/")
    return client.post(
        "/exports",
        data={"csrf_token": token, "start": "2025-01-01", "end": "2025-12-31", "formats": "both"},
    )


def _past_job(store: JobStore, sub: str, age: timedelta, kind: str = "export") -> None:
    created = datetime.now(UTC) - age
    store.create(
        Job(
            user_id=sub,
            id=new_job_id(created),
            kind=kind,
            state=State.DONE,
            created_at=created,
        )
    )


def test_the_daily_quota_refuses_one_more_with_a_try_again_time(
    settings: Settings, user: User, clients: Clients
) -> None:
    client = _client(settings, user, max_jobs_per_day=3, max_active_jobs=5)
    for _ in range(3):
        assert _export(client).status_code == 303

    refused = _export(client)

    assert refused.status_code == 429
    assert (
        "You have started 3 exports and restores in the last 24 hours, the most one account "
        "may. Try again in 24 hours." in text(refused)
    )
    jobs = JobStore(clients.dynamodb, settings.app_table).list(user.sub)
    assert len(jobs) == 3


def test_the_quota_counts_a_rolling_day_and_not_automatic_backups(
    settings: Settings, make_user: Callable[[str], User], clients: Clients
) -> None:
    user = make_user("alice@example.com")
    store = JobStore(clients.dynamodb, settings.app_table)
    _past_job(store, user.sub, timedelta(hours=25))  # a day and more ago: not counted
    _past_job(store, user.sub, timedelta(hours=2), kind="backup")  # the dispatcher's
    _past_job(store, user.sub, timedelta(hours=23, minutes=30))
    client = _client(settings, user, max_jobs_per_day=2, max_active_jobs=5)
    assert _export(client).status_code == 303

    refused = _export(client)

    assert refused.status_code == 429
    # The oldest counted job leaves the 24 hours in half an hour.
    assert "Try again in 1 hour." in text(refused)


def test_the_daily_quota_also_guards_a_restore_preview(
    settings: Settings, user: User, clients: Clients, put_archive: Callable[..., str]
) -> None:
    store = JobStore(clients.dynamodb, settings.app_table)
    _past_job(store, user.sub, timedelta(hours=1))
    archive = put_archive(user.sub)
    client = _client(settings, user, max_jobs_per_day=1)
    token = AuthActions(client).csrf_token(f"/restore/archives/{archive}")

    refused = client.post(
        "/restore/preview", data={"csrf_token": token, "source": f"archive:{archive}"}
    )

    assert refused.status_code == 429
    assert "the most one account may" in text(refused)
