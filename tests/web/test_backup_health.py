"""A backup's health on the page: last success, next due, failed and overdue, "Back up now"."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import csrf_token, text

from webapp import create_app
from webapp.archive.dynamo import put_items
from webapp.aws import Clients
from webapp.jobs import backup_now, export
from webapp.jobs.health import health
from webapp.jobs.job import Job, State
from webapp.jobs.readback import BACKUP_DAMAGED
from webapp.jobs.schedule import BackupPrefsStore
from webapp.local.worker import LocalWorker
from webapp.services import Services
from webapp.settings import Settings
from webapp.web.auth.session import User

SignIn = Callable[[User], None]
#: 12:00 in Tokyo on Thursday 3 December 2026.
NOW = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
TODAY = date(2026, 12, 3)


def _at(app: Flask, moment: datetime) -> None:
    """Set the app's clock (the services' ``clock``) to ``moment``."""
    app.extensions["kakeibo.services"].clock = lambda: moment


def _done(prefs: BackupPrefsStore, sub: str, at: datetime, next_run: date) -> None:
    outcome = {
        "at": at.isoformat(),
        "state": "done",
        "size": 2048,
        "counts": {"slips": 3, "balances": 1},
    }
    prefs.record(sub, outcome, next_run=next_run)


def _failed(prefs: BackupPrefsStore, sub: str, at: datetime) -> None:
    outcome = {"at": at.isoformat(), "state": "failed", "error": BACKUP_DAMAGED, "error_fields": {}}
    prefs.record(sub, outcome, next_run=None)


def _section(client: FlaskClient) -> str:
    page = text(client.get("/")).replace("\u202f", " ")  # Babel's narrow space before PM
    return page.split('id="backups-heading"')[1]


def test_the_page_shows_the_last_success_and_the_next_backup(
    app: Flask, client: FlaskClient, user: User, login: SignIn, prefs: BackupPrefsStore
) -> None:
    prefs.choose(user.sub, "weekly", today=TODAY - timedelta(days=2), email=user.email)
    _done(prefs, user.sub, NOW - timedelta(days=2), next_run=TODAY + timedelta(days=5))
    _at(app, NOW)
    login(user)

    section = _section(client)
    assert "Last successful backup" in section
    assert "Dec 1, 2026, 12:00 PM" in section  # two days ago, in Tokyo
    assert "Next backup" in section and "Dec 8, 2026, 3:00 AM" in section
    assert 'id="backup-warning"' not in section
    assert "Back up now" in section


def test_a_new_backup_says_none_yet(
    app: Flask, client: FlaskClient, user: User, login: SignIn, prefs: BackupPrefsStore
) -> None:
    prefs.choose(user.sub, "monthly", today=TODAY, email=user.email)
    _at(app, NOW)
    login(user)

    section = _section(client)
    assert re.search(r"Last successful backup</dt>\s*<dd>None yet", section)
    assert 'id="backup-warning"' not in section


def test_a_failed_backup_warns_with_the_reason_and_the_button(
    app: Flask, client: FlaskClient, user: User, login: SignIn, prefs: BackupPrefsStore
) -> None:
    prefs.choose(user.sub, "weekly", today=TODAY - timedelta(days=8), email=user.email)
    _done(prefs, user.sub, NOW - timedelta(days=8), next_run=TODAY - timedelta(days=1))
    _failed(prefs, user.sub, NOW - timedelta(hours=9))
    _at(app, NOW)
    login(user)

    section = _section(client)
    warning = section.split('id="backup-warning"')[1].split("</div>")[0]
    assert "Your last weekly backup failed on Dec 3, 2026, 3:00 AM:" in warning
    assert "did not read back intact" in warning
    assert "Try again now" in warning
    assert 'action="/backups/now"' in warning and "Back up now" in warning


def test_the_failed_warning_is_japanese_on_the_japanese_page(
    app: Flask, client: FlaskClient, user: User, login: SignIn, prefs: BackupPrefsStore
) -> None:
    prefs.choose(user.sub, "monthly", today=TODAY - timedelta(days=8), email=user.email)
    _failed(prefs, user.sub, NOW - timedelta(hours=9))
    _at(app, NOW)
    login(user)
    client.set_cookie("lang", "ja")

    warning = _section(client).split('id="backup-warning"')[1].split("</div>")[0]
    assert "毎月の自動バックアップ" in warning and "失敗しました" in warning
    assert "読み直すと正しく読めなかった" in warning
    assert "今すぐバックアップ" in warning


@pytest.mark.parametrize(
    ("days", "overdue"),
    [(7, False), (8, False), (8.5, True), (30, True)],
)
def test_a_weekly_backup_is_overdue_after_its_period_and_a_day(
    days: float,
    overdue: bool,
    app: Flask,
    client: FlaskClient,
    user: User,
    login: SignIn,
    prefs: BackupPrefsStore,
) -> None:
    last = NOW - timedelta(days=days)
    prefs.choose(user.sub, "weekly", today=TODAY - timedelta(days=40), email=user.email)
    _done(prefs, user.sub, last, next_run=last.date() + timedelta(days=7))
    _at(app, NOW)
    login(user)

    section = _section(client)
    assert ('id="backup-warning"' in section) is overdue
    if overdue:
        warning = section.split('id="backup-warning"')[1].split("</div>")[0]
        assert "No weekly backup has succeeded since" in warning
        assert "Back up now" in warning


def test_a_backup_that_never_succeeded_is_overdue_from_the_day_it_was_turned_on(
    prefs: BackupPrefsStore,
) -> None:
    prefs.choose("u1", "weekly", today=TODAY, email=None)
    choice = prefs.get("u1")
    assert health(choice, NOW + timedelta(days=7), "Asia/Tokyo").trouble is None
    late = health(choice, NOW + timedelta(days=9), "Asia/Tokyo")
    assert late.trouble == "overdue" and late.last_success is None
    # Turned off: nothing is due, nothing is overdue.
    prefs.choose("u1", "off", today=TODAY, email=None)
    assert health(prefs.get("u1"), NOW + timedelta(days=90), "Asia/Tokyo").trouble is None


# --- "Back up now" ---------------------------------------------------------------------------


def _waiting(clients: Clients, settings: Settings) -> int:
    attributes = clients.sqs.get_queue_attributes(
        QueueUrl=settings.jobs_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_back_up_now_queues_one_backup_job_that_the_worker_runs(
    client: FlaskClient,
    user: User,
    login: SignIn,
    prefs: BackupPrefsStore,
    services: Services,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
) -> None:
    slip = {"user_id": {"S": user.sub}, "sk": {"S": "2026-11-01#0001"}, "amount": {"N": "-5"}}
    put_items(clients.dynamodb, settings.slips_table, [slip])
    prefs.choose(user.sub, "weekly", today=TODAY, email=user.email)
    login(user)

    answer = client.post("/backups/now", data={"csrf_token": csrf_token(client)})
    again = client.post("/backups/now", data={"csrf_token": csrf_token(client)})

    assert answer.status_code == 303 and again.status_code == 303
    assert "#job-" in answer.headers["Location"]
    (job,) = services.jobs.list(user.sub)
    assert job.kind == backup_now.NAME and job.state is State.QUEUED
    assert _waiting(clients, settings) == 1  # the second press found it already going
    assert prefs.get(user.sub).last_job == job.id
    assert "A backup is being made already." in text(client.get("/"))
    # The row the redirect points at, with its progress.
    assert f'id="job-{job.id}"' in client.get("/").get_data(as_text=True)

    worker.drain()
    finished = services.jobs.get(user.sub, job.id)
    assert finished is not None and finished.state is State.DONE
    assert finished.result["verified"]["full"] is True
    assert prefs.get(user.sub).last_success["archive_id"] == finished.result["archive_id"]


def test_back_up_now_needs_the_csrf_token(
    client: FlaskClient, user: User, login: SignIn, services: Services
) -> None:
    login(user)
    assert client.post("/backups/now").status_code == 400
    assert services.jobs.list(user.sub) == []


def test_back_up_now_counts_toward_the_daily_quota_and_is_refused_beyond_it(
    settings: Settings, user: User, services: Services, clients: Clients
) -> None:
    app = create_app(replace(settings, max_jobs_per_day=2))
    app.config["TESTING"] = True
    client = app.test_client()
    with client.session_transaction() as session:
        session.update(sub=user.sub, email=user.email, exp=int(NOW.timestamp()) + 10**9)
    # One export earlier today, finished: one of the two a day.
    params = export.ExportParams(start=date(2026, 1, 1), end=date(2026, 1, 31))
    earlier = services.jobs.create(
        Job.queued(user.sub, export.NAME, params.to_dict(), services.now())
    )
    services.jobs.cancel(user.sub, earlier.id, services.now())

    first = client.post("/backups/now", data={"csrf_token": csrf_token(client)})
    (mine,) = [j for j in services.jobs.list(user.sub) if j.kind == backup_now.NAME]
    services.jobs.cancel(user.sub, mine.id, services.now())
    second = client.post("/backups/now", data={"csrf_token": csrf_token(client)})

    assert first.status_code == 303
    assert second.status_code == 429
    assert "in the last 24 hours" in text(second)
    assert len(services.jobs.list(user.sub)) == 2  # nothing more was queued
    assert _waiting(clients, settings) == 1


def test_back_up_now_is_refused_while_two_jobs_are_unfinished(
    client: FlaskClient, user: User, login: SignIn, services: Services
) -> None:
    params = export.ExportParams(start=date(2026, 1, 1), end=date(2026, 1, 31))
    for _ in range(2):
        services.jobs.create(Job.queued(user.sub, export.NAME, params.to_dict(), services.now()))
    login(user)

    answer = client.post("/backups/now", data={"csrf_token": csrf_token(client)})

    assert answer.status_code == 429
    assert "exports in progress" in text(answer)
    assert len(services.jobs.list(user.sub)) == 2


@pytest.fixture
def prefs(services: Services) -> BackupPrefsStore:
    return services.backup_prefs
