"""Automatic backups: who is due, the daily dispatch, the backup job, what is kept, the page."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from support import csrf_token

from webapp.archive.dynamo import put_items
from webapp.archive.ids import BACKUP_PREFIX, ArchiveId, archive_key
from webapp.aws import Clients
from webapp.jobs.backup import backup_job_id
from webapp.jobs.dispatcher import dispatch, event_day, run_schedule
from webapp.jobs.job import State
from webapp.jobs.schedule import (
    BackupPrefsStore,
    following_run,
    local_day,
)
from webapp.jobs.store import JobStore
from webapp.local.worker import LocalWorker
from webapp.services import Services
from webapp.settings import Settings
from webapp.web.auth.session import User

SignIn = Callable[[User], None]
TODAY = date(2026, 12, 3)


@pytest.fixture
def prefs(services: Services) -> BackupPrefsStore:
    return services.backup_prefs


@pytest.fixture
def store(services: Services) -> JobStore:
    return services.jobs


def _waiting(clients: Clients, settings: Settings) -> int:
    attributes = clients.sqs.get_queue_attributes(
        QueueUrl=settings.jobs_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


# --- when the next one is due ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("frequency", "done", "anchor", "expected"),
    [
        ("weekly", date(2026, 12, 3), 3, date(2026, 12, 10)),
        ("weekly", date(2026, 12, 29), 3, date(2027, 1, 5)),
        ("monthly", date(2026, 12, 3), 3, date(2027, 1, 3)),
        # Month ends: a backup of the 31st keeps to the last day of shorter months ...
        ("monthly", date(2027, 1, 31), 31, date(2027, 2, 28)),
        ("monthly", date(2028, 1, 31), 31, date(2028, 2, 29)),
        # ... and goes back to the 31st when the month has one (no drift to the 28th).
        ("monthly", date(2027, 2, 28), 31, date(2027, 3, 31)),
        ("monthly", date(2027, 4, 30), 31, date(2027, 5, 31)),
    ],
)
def test_the_next_run_follows_the_frequency_and_the_month_ends(
    frequency: Any, done: date, anchor: int, expected: date
) -> None:
    assert following_run(frequency, done, anchor) == expected


def test_the_day_is_the_display_time_zones_at_the_boundary() -> None:
    # 03:00 in Tokyo is 18:00 UTC the day before.
    assert event_day({"time": "2026-12-02T18:00:00Z"}, "Asia/Tokyo") == date(2026, 12, 3)
    assert event_day({"time": "2026-12-02T14:59:59Z"}, "Asia/Tokyo") == date(2026, 12, 2)
    assert event_day({"time": "2026-12-02T15:00:00Z"}, "Asia/Tokyo") == date(2026, 12, 3)
    assert event_day({}, "Asia/Tokyo") is None
    assert event_day({"time": "yesterday"}, "Asia/Tokyo") is None
    moment = datetime(2026, 12, 31, 15, 30, tzinfo=UTC)
    assert local_day(moment, __import__("zoneinfo").ZoneInfo("Asia/Tokyo")) == date(2027, 1, 1)


def test_who_is_due_comes_from_the_index_first_run_and_off(prefs: BackupPrefsStore) -> None:
    prefs.choose("weekly-new", "weekly", today=TODAY, email="a@example.com")
    prefs.choose("monthly-new", "monthly", today=TODAY, email=None)
    prefs.choose("turned-off", "weekly", today=TODAY, email=None)
    prefs.choose("turned-off", "off", today=TODAY, email=None)
    prefs.choose("later", "weekly", today=TODAY + timedelta(days=2), email=None)

    due = {p.user_id for p in prefs.due(TODAY)}
    # Turned on today: the first backup runs at the next dispatch (today's).
    assert due == {"weekly-new", "monthly-new"}
    assert {p.user_id for p in prefs.due(TODAY + timedelta(days=2))} == due | {"later"}
    off = prefs.get("turned-off")
    assert not off.on and off.next_run is None
    assert prefs.get("nobody").frequency == "off"
    # Choosing again keeps the day it is due (it does not postpone the backup).
    prefs.choose("weekly-new", "monthly", today=TODAY + timedelta(days=1), email=None)
    assert prefs.get("weekly-new").next_run == TODAY


def test_a_failed_run_stays_due_and_a_success_moves_on(prefs: BackupPrefsStore) -> None:
    prefs.choose("u1", "weekly", today=TODAY, email=None)
    prefs.record("u1", {"at": "2026-12-03T18:00:00Z", "state": "failed"}, next_run=None)
    assert [p.user_id for p in prefs.due(TODAY + timedelta(days=1))] == ["u1"]
    prefs.record("u1", {"at": "2026-12-04T18:00:00Z", "state": "done"}, next_run=date(2026, 12, 11))
    assert [p.user_id for p in prefs.due(TODAY + timedelta(days=6))] == []
    assert [p.user_id for p in prefs.due(date(2026, 12, 11))] == ["u1"]
    assert prefs.get("u1").last["state"] == "done"


def test_a_success_after_turning_off_leaves_it_off(prefs: BackupPrefsStore) -> None:
    prefs.choose("u1", "weekly", today=TODAY, email=None)
    prefs.choose("u1", "off", today=TODAY, email=None)
    prefs.record("u1", {"at": "x", "state": "done"}, next_run=date(2026, 12, 10))
    found = prefs.get("u1")
    assert not found.on and found.next_run is None and found.last["state"] == "done"
    assert list(prefs.due(date(2027, 1, 1))) == []


# --- the dispatch ------------------------------------------------------------------------------


def test_dispatching_twice_on_one_day_queues_nothing_more(
    prefs: BackupPrefsStore,
    store: JobStore,
    services: Services,
    clients: Clients,
    settings: Settings,
) -> None:
    for user in ("u1", "u2"):
        prefs.choose(user, "weekly", today=TODAY, email=None)

    first = dispatch(services, TODAY)
    second = dispatch(services, TODAY)

    assert sorted(first.queued) == ["u1", "u2"] and first.skipped == []
    assert second.queued == [] and sorted(second.skipped) == ["u1", "u2"]
    assert _waiting(clients, settings) == 2
    job = store.get("u1", backup_job_id(TODAY))
    assert job is not None and job.kind == "backup" and job.state is State.QUEUED


def test_an_unfinished_backup_of_yesterday_is_not_queued_again(
    prefs: BackupPrefsStore, services: Services, clients: Clients, settings: Settings
) -> None:
    prefs.choose("u1", "weekly", today=TODAY, email=None)
    dispatch(services, TODAY)
    # Still queued the next day (the worker is behind): nothing new.
    tomorrow = dispatch(services, TODAY + timedelta(days=1))
    assert tomorrow.queued == [] and tomorrow.skipped == ["u1"]
    assert _waiting(clients, settings) == 1


# --- the backup job ------------------------------------------------------------------------------


def _slip(sub: str, day: str, n: int) -> dict[str, Any]:
    return {"user_id": {"S": sub}, "sk": {"S": f"{day}#{n:04d}"}, "amount": {"N": str(-n)}}


def _archive(clients: Clients, settings: Settings, key: str) -> zipfile.ZipFile:
    body = clients.s3.get_object(Bucket=settings.export_bucket, Key=key)["Body"].read()
    return zipfile.ZipFile(io.BytesIO(body))


def test_a_backup_holds_the_whole_partition_and_moves_the_next_run_on(
    prefs: BackupPrefsStore,
    store: JobStore,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
) -> None:
    sub = "0a1b2c3d-0000-4000-8000-00000000back"
    # Far outside any export's five-year window, both ways.
    days = ["1989-04-01", "2025-06-30", "2099-12-31"]
    put_items(
        clients.dynamodb, settings.slips_table, [_slip(sub, d, n) for n, d in enumerate(days)]
    )
    put_items(clients.dynamodb, settings.slips_table, [_slip("someone-else", "2025-01-01", 9)])
    put_items(
        clients.dynamodb,
        settings.balances_table,
        [{"user_id": {"S": sub}, "sk": {"S": "1999-12-31#cash"}, "balance": {"N": "1"}}],
    )
    prefs.choose(sub, "monthly", today=TODAY, email=None)
    run_schedule(Services(settings, clients), TODAY)
    worker.drain()

    job = store.get(sub, backup_job_id(TODAY))
    assert job is not None and job.state is State.DONE, job and job.error
    assert job.result["key"].startswith(f"{BACKUP_PREFIX}{sub}/")
    assert job.result["counts"] == {"slips": 3, "balances": 1}
    with _archive(clients, settings, job.result["key"]) as zf:
        lines = zf.read("slips.json").decode().splitlines()
        assert [json.loads(line)["Item"]["sk"]["S"][:10] for line in lines] == days
        assert "manifest.sig" in zf.namelist()
    choice = prefs.get(sub)
    assert choice.next_run == date(2027, 1, 3)
    assert choice.last["state"] == "done" and choice.last["size"] == job.result["size"]
    # Its record lasts as long as the backup does, so the list can say what it holds.
    record = clients.dynamodb.get_item(
        TableName=settings.app_table, Key={"user_id": {"S": sub}, "sk": {"S": f"job#{job.id}"}}
    )["Item"]
    lasts = int(record["expires_at"]["N"]) - time.time()
    assert settings.backup_retention_days - 1 < lasts / 86400 <= settings.backup_retention_days
    # Not listed among the exports, which expire after days.
    listed = clients.s3.list_objects_v2(Bucket=settings.export_bucket, Prefix="exports/")
    assert listed.get("KeyCount", 0) == 0


def test_retention_keeps_exactly_the_newest_and_never_touches_exports(
    prefs: BackupPrefsStore,
    store: JobStore,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
) -> None:
    sub = "0a1b2c3d-0000-4000-8000-0000000keep"
    now = datetime.now(UTC)
    old = []
    for weeks in range(1, 15):
        archive_id = ArchiveId.new(
            date(1000, 1, 1), date(9999, 12, 31), now - timedelta(weeks=weeks)
        )
        key = archive_key(sub, archive_id, BACKUP_PREFIX)
        clients.s3.put_object(Bucket=settings.export_bucket, Key=key, Body=b"PK")
        old.append(key)
    export_id = ArchiveId.new(date(2025, 1, 1), date(2025, 1, 31), now - timedelta(weeks=30))
    exported = archive_key(sub, export_id)
    clients.s3.put_object(Bucket=settings.export_bucket, Key=exported, Body=b"PK")
    other = archive_key("another-user", export_id, BACKUP_PREFIX)
    clients.s3.put_object(Bucket=settings.export_bucket, Key=other, Body=b"PK")

    prefs.choose(sub, "weekly", today=TODAY, email=None)
    run_schedule(Services(settings, clients), TODAY)
    worker.drain()

    job = store.get(sub, backup_job_id(TODAY))
    assert job is not None and job.state is State.DONE
    kept = clients.s3.list_objects_v2(
        Bucket=settings.export_bucket, Prefix=f"{BACKUP_PREFIX}{sub}/"
    )["Contents"]
    assert sorted(o["Key"] for o in kept) == sorted([job.result["key"], *old[:11]])
    everything = {
        o["Key"] for o in clients.s3.list_objects_v2(Bucket=settings.export_bucket)["Contents"]
    }
    assert {exported, other} <= everything


# --- the page ------------------------------------------------------------------------------------


def test_the_page_turns_the_backup_on_and_off_and_shows_the_next_run(
    client: FlaskClient, user: User, login: SignIn, prefs: BackupPrefsStore
) -> None:
    login(user)
    page = client.get("/").get_data(as_text=True)
    assert "Automatic backups" in page
    off = re.search(r'<input[^>]*value="off"[^>]*>', page)
    assert off is not None and "checked" in off.group(0)

    answer = client.post(
        "/backups/setting", data={"frequency": "weekly", "csrf_token": csrf_token(client)}
    )
    assert answer.status_code == 303
    choice = prefs.get(user.sub)
    assert choice.frequency == "weekly" and choice.email == user.email
    page = client.get("/").get_data(as_text=True)
    assert "Automatic backup is on." in page
    assert "Next backup" in page

    client.post("/backups/setting", data={"frequency": "off", "csrf_token": csrf_token(client)})
    assert not prefs.get(user.sub).on
    assert "Next backup" not in client.get("/").get_data(as_text=True)


def test_the_setting_needs_the_csrf_token_and_a_known_choice(
    client: FlaskClient, user: User, login: SignIn, prefs: BackupPrefsStore
) -> None:
    login(user)
    assert client.post("/backups/setting", data={"frequency": "weekly"}).status_code == 400
    bad = client.post(
        "/backups/setting", data={"frequency": "hourly", "csrf_token": csrf_token(client)}
    )
    assert bad.status_code == 400
    assert not prefs.get(user.sub).on


def test_a_backup_is_listed_downloadable_and_restorable_only_by_its_owner(
    client: FlaskClient,
    user: User,
    login: SignIn,
    make_user: Callable[[str], User],
    prefs: BackupPrefsStore,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    store: JobStore,
) -> None:
    login(user)
    prefs.choose(user.sub, "weekly", today=TODAY, email=None)
    run_schedule(Services(settings, clients), TODAY)
    worker.drain()
    job = store.get(user.sub, backup_job_id(TODAY))
    assert job is not None and job.state is State.DONE
    archive_id = job.result["archive_id"]

    page = client.get("/").get_data(as_text=True)
    assert f"/backups/{archive_id}/download" in page
    assert f"/restore/backups/{archive_id}" in page
    download = client.get(f"/backups/{archive_id}/download")
    assert download.status_code == 302 and BACKUP_PREFIX in download.headers["Location"]
    assert "All your data" in client.get(f"/restore/backups/{archive_id}").get_data(True)

    login(make_user("bob@example.com"))
    assert client.get(f"/backups/{archive_id}/download").status_code == 404
    assert client.get(f"/restore/backups/{archive_id}").status_code == 404


# --- the mail ------------------------------------------------------------------------------------


def test_the_mail_says_what_was_saved_and_links_the_page_never_a_download() -> None:
    from webapp.jobs.notify import backup_mail

    done = backup_mail(
        {
            "state": "done",
            "counts": {"slips": 1234, "balances": 36},
            "size": 2_500_000,
            "key": "backups/sub/20261203T180000Z_10000101_99991231_abc.zip",
        },
        site_url="https://kakeibo.example/",
        when="2026-12-04 03:00",
    )
    assert (
        "自動バックアップを作成しました" in done.subject and "Automatic backup made" in done.subject
    )
    assert "伝票 1,234件と残高 36件（2.4 MB）" in done.body
    assert "1,234 slips and 36 balances (2.4 MB)" in done.body
    links = re.findall(r"https?://\S+", done.body)
    assert links and set(links) == {"https://kakeibo.example/#backups-heading"}
    assert "backups/" not in done.body and "X-Amz" not in done.body

    failed = backup_mail(
        {"state": "failed", "message": "Your account book could not be read"},
        site_url="https://kakeibo.example",
        when="2026-12-04 03:00",
    )
    assert "失敗" in failed.subject and "failed" in failed.subject
    assert "Reason: Your account book could not be read" in failed.body
    assert set(re.findall(r"https?://\S+", failed.body)) == {
        "https://kakeibo.example/#backups-heading"
    }


def _sent(clients: Clients) -> int:
    return int(clients.ses.get_send_quota()["SentLast24Hours"])


@pytest.mark.parametrize("sender", [None, "backups@kakeibo.example"])
def test_a_mail_goes_out_after_a_backup_only_when_a_sender_is_set(
    sender: str | None,
    prefs: BackupPrefsStore,
    store: JobStore,
    clients: Clients,
    settings: Settings,
) -> None:
    from dataclasses import replace

    configured = replace(settings, notify_from=sender, site_url="https://kakeibo.example/")
    before = _sent(clients)
    prefs.choose("mailed", "weekly", today=TODAY, email="alice@example.com")
    wired = Services(configured, clients)
    run_schedule(wired, TODAY)
    LocalWorker(wired).drain()
    job = store.get("mailed", backup_job_id(TODAY))
    assert job is not None and job.state is State.DONE
    assert _sent(clients) - before == (1 if sender else 0)
