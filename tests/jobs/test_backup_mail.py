"""A failed or overdue backup mails the user once per streak of trouble; a success ends it."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from webapp.aws import Clients
from webapp.errors import UserError
from webapp.jobs import backup
from webapp.jobs.backup import backup_job_id
from webapp.jobs.dispatcher import dispatch
from webapp.jobs.job import Job, State
from webapp.jobs.notify import backup_mail
from webapp.jobs.readback import BACKUP_DAMAGED
from webapp.services import Services
from webapp.settings import Settings

TODAY = date(2026, 12, 3)
NOW = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
SITE = "https://kakeibo.example/"


@pytest.fixture
def wired(settings: Settings, clients: Clients) -> Services:
    """Return services that mail (a sender and the site's address are set)."""
    configured = replace(settings, notify_from="backups@kakeibo.example", site_url=SITE)
    return Services(configured, clients, clock=lambda: NOW)


def _sent(clients: Clients) -> int:
    return int(clients.ses.get_send_quota()["SentLast24Hours"])


def _fail(services: Services, sub: str, day: date) -> None:
    params = backup.BackupParams(day=day)
    job = Job.queued(sub, backup.NAME, params.to_dict(), services.now(), backup_job_id(day))
    backup.failed(services, job, params, UserError(BACKUP_DAMAGED))


def _succeed(services: Services, sub: str, at: datetime) -> None:
    outcome = {"at": at.isoformat(), "state": "done", "size": 10, "counts": {"slips": 1}}
    services.backup_prefs.record(sub, outcome, next_run=at.date() + timedelta(days=7))


def test_a_failure_retried_daily_mails_once_and_a_success_starts_afresh(
    wired: Services, clients: Clients
) -> None:
    wired.backup_prefs.choose("u1", "weekly", today=TODAY, email="alice@example.com")
    before = _sent(clients)

    _fail(wired, "u1", TODAY)
    _fail(wired, "u1", TODAY + timedelta(days=1))
    _fail(wired, "u1", TODAY + timedelta(days=2))
    assert _sent(clients) - before == 1

    _succeed(wired, "u1", NOW + timedelta(days=3))
    assert wired.backup_prefs.get("u1").alerted is None
    _fail(wired, "u1", TODAY + timedelta(days=10))
    assert _sent(clients) - before == 2


def _clocked(services: Services, moment: datetime) -> Services:
    return Services(services.settings, services.clients, clock=lambda: moment)


def test_an_overdue_backup_mails_once_from_the_dispatch(wired: Services, clients: Clients) -> None:
    wired.backup_prefs.choose("u1", "weekly", today=TODAY, email="alice@example.com")
    _succeed(wired, "u1", NOW)
    before = _sent(clients)

    # A week and a half later, nothing has succeeded (say the jobs were lost).
    late = _clocked(wired, NOW + timedelta(days=9))
    first = dispatch(late, TODAY + timedelta(days=9))
    second = dispatch(_clocked(wired, NOW + timedelta(days=10)), TODAY + timedelta(days=10))

    assert first.overdue == ["u1"] and second.overdue == []
    assert _sent(clients) - before == 1
    # The failure of the same streak is not mailed again.
    _fail(late, "u1", TODAY + timedelta(days=10))
    assert _sent(clients) - before == 1


def test_nothing_is_mailed_on_time_or_without_a_sender(
    wired: Services, settings: Settings, clients: Clients
) -> None:
    wired.backup_prefs.choose("u1", "weekly", today=TODAY, email="alice@example.com")
    _succeed(wired, "u1", NOW)
    before = _sent(clients)

    on_time = _clocked(wired, NOW + timedelta(days=7))
    assert dispatch(on_time, TODAY + timedelta(days=7)).overdue == []
    unset = replace(settings, notify_from=None)
    silent = Services(unset, clients, clock=lambda: NOW + timedelta(days=20))
    assert dispatch(silent, TODAY + timedelta(days=20)).overdue == []
    assert _sent(clients) == before


def test_a_lost_backup_job_does_not_block_the_next_days_dispatch(
    wired: Services, clients: Clients, settings: Settings
) -> None:
    wired.backup_prefs.choose("u1", "weekly", today=TODAY, email=None)
    assert dispatch(wired, TODAY).queued == ["u1"]
    # Its message went to the dead-letter queue: the record stays "queued" forever.
    clients.sqs.purge_queue(QueueUrl=settings.jobs_queue_url)

    # The next day the queued record is older than any delivery could be: it is lost.
    tomorrow = TODAY + timedelta(days=1)
    again = dispatch(_clocked(wired, NOW + timedelta(days=1)), tomorrow)

    assert again.queued == ["u1"] and again.skipped == []
    job = wired.jobs.get("u1", backup_job_id(tomorrow))
    assert job is not None and job.state is State.QUEUED


def test_the_failure_mail_gives_the_reason_in_both_languages_and_links_the_page() -> None:
    mail = backup_mail(
        {"state": "failed", "error": BACKUP_DAMAGED, "error_fields": {}},
        site_url=SITE,
        when="2026-12-03 03:00",
    )
    assert "理由：バックアップは保存されましたが、読み直すと正しく読めなかった" in mail.body
    assert "Reason: The backup was saved but did not read back intact" in mail.body
    assert "今すぐバックアップ" in mail.body and '"Back up now"' in mail.body
    assert set(re.findall(r"https?://\S+", mail.body)) == {f"{SITE}#backups-heading"}


def test_the_overdue_mail_links_the_page_never_a_download() -> None:
    from webapp.jobs.notify import overdue_mail

    mail = overdue_mail("2026-11-24", site_url=SITE)
    assert "2026-11-24以降" in mail.body and "since 2026-11-24" in mail.body
    assert "Automatic backup overdue" in mail.subject
    assert set(re.findall(r"https?://\S+", mail.body)) == {f"{SITE}#backups-heading"}
