"""The archive list says what each archive holds; names, expiry, empty periods, deleting."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import csrf_token
from werkzeug.test import TestResponse

from webapp.archive.dynamo import put_items
from webapp.archive.ids import BACKUP_PREFIX, ArchiveId, archive_key
from webapp.aws import Clients
from webapp.jobs.job import Job, State
from webapp.jobs.store import JobStore
from webapp.local.worker import LocalWorker
from webapp.settings import Settings
from webapp.web.auth.session import User

SignIn = Callable[[User], None]
PutArchive = Callable[..., str]
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
JA = {"Accept-Language": "ja"}


def _export(client: FlaskClient, **fields: str) -> TestResponse:
    data = {"start": "2025-01-01", "end": "2025-12-31", "formats": "both", **fields}
    data.setdefault("csrf_token", csrf_token(client))
    return client.post("/exports", data=data)


def _seed(clients: Clients, settings: Settings, sub: str) -> None:
    """Write 3 slips and 2 balances in 2025 for ``sub``."""
    slips = [
        {"user_id": {"S": sub}, "sk": {"S": f"2025-02-0{n}#x"}, "date": {"S": f"2025-02-0{n}"}}
        for n in range(1, 4)
    ]
    balances = [
        {"user_id": {"S": sub}, "sk": {"S": f"2025-03-0{n}#cash"}, "date": {"S": f"2025-03-0{n}"}}
        for n in range(1, 3)
    ]
    put_items(clients.dynamodb, settings.slips_table, slips)
    put_items(clients.dynamodb, settings.balances_table, balances)


def _row(page: str, archive_id: str) -> str:
    match = re.search(rf'<tr id="(?:archive|backup)-{archive_id}".*?</tr>', page, re.S)
    assert match, f"no row for {archive_id}"
    return match.group(0)


def _holds(row: str) -> str:
    match = re.search(r'<ul class="archive__holds">(.*?)</ul>', row, re.S)
    assert match
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def _archive_ids(
    clients: Clients, settings: Settings, sub: str, prefix: str = "exports/"
) -> list[str]:
    answer = clients.s3.list_objects_v2(Bucket=settings.export_bucket, Prefix=f"{prefix}{sub}/")
    return [o["Key"].rsplit("/", 1)[1].removesuffix(".zip") for o in answer.get("Contents", [])]


@pytest.fixture
def s3_calls(app: Flask) -> Iterator[list[str]]:
    """Record every S3 API call the app makes."""
    names: list[str] = []

    def record(model: Any, **_: Any) -> None:
        names.append(model.name)

    s3 = app.extensions["kakeibo.services"].clients.s3
    s3.meta.events.register("before-call.s3", record)
    yield names
    s3.meta.events.unregister("before-call.s3", record)


# --- what each row holds ---------------------------------------------------------


def test_three_archives_of_one_period_say_their_formats_and_counts_without_head_object(
    client: FlaskClient,
    user: User,
    login: SignIn,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    put_archive: PutArchive,
    s3_calls: list[str],
) -> None:
    _seed(clients, settings, user.sub)
    login(user)
    made = {}
    for formats, encoding in (("both", "utf-8"), ("xlsx", "utf-8"), ("csv", "cp932")):
        _export(client, formats=formats, csv_encoding=encoding)
        worker.drain()
        (new,) = set(_archive_ids(clients, settings, user.sub)) - set(made.values())
        made[formats] = new
    stranger = put_archive(user.sub, date(2025, 1, 1), date(2025, 12, 31))  # no job record

    del s3_calls[:]
    page = client.get("/").get_data(as_text=True)

    assert s3_calls.count("HeadObject") == 0
    assert s3_calls.count("ListObjectsV2") == 2  # exports and automatic backups, once each
    # Each was read back from S3 after it was written (jobs/readback.py).
    checked = " ✓ Verified (read back and checked after it was saved)"
    assert (
        _holds(_row(page, made["both"])) == "CSV + DynamoDB JSON 3 slips and 2 balances" + checked
    )
    assert _holds(_row(page, made["xlsx"])) == "Excel workbook 3 slips and 2 balances" + checked
    assert _holds(_row(page, made["csv"])) == "CSV (Shift_JIS) 3 slips and 2 balances" + checked
    assert _holds(_row(page, stranger)) == "— What it holds was not recorded."

    ja = client.get("/", headers=JA).get_data(as_text=True)
    assert _holds(_row(ja, made["csv"])) == (
        "CSV（Shift_JIS） 伝票 3件と残高 2件 ✓ 確認済み （保存後に読み直して確認済み）"
    )


def test_an_empty_or_future_period_still_exports_and_its_row_says_so(
    client: FlaskClient,
    user: User,
    login: SignIn,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
) -> None:
    login(user)
    response = _export(client, start="2031-01-01", end="2031-01-31")
    job_id = parse_qs(urlsplit(response.headers["Location"]).query)["job"][0]
    worker.drain()
    (archive,) = _archive_ids(clients, settings, user.sub)

    page = client.get(f"/?job={job_id}").get_data(as_text=True)

    assert "This period has no slips or balances, so the archive" in page  # the job's status
    row = _row(page, archive)
    assert 'class="archive__counts archive__counts--empty"' in row
    assert "This period has no slips or balances." in _holds(row)


def test_automatic_backups_share_the_row_and_say_what_they_hold(
    client: FlaskClient, user: User, login: SignIn, clients: Clients, settings: Settings
) -> None:
    now = datetime.now(UTC)
    backup = ArchiveId.new(date(1000, 1, 1), date(9999, 12, 31), now=now)
    old = ArchiveId.new(date(1000, 1, 1), date(9999, 12, 31), now=now - timedelta(days=40))
    for archive_id in (backup, old):
        clients.s3.put_object(
            Bucket=settings.export_bucket,
            Key=archive_key(user.sub, archive_id, BACKUP_PREFIX),
            Body=b"PK\x05\x06" + bytes(18),
        )
    store = JobStore(clients.dynamodb, settings.app_table)
    job = store.create(
        Job(
            user_id=user.sub,
            id="20261202T180000Z-backup",
            kind="backup",
            state=State.QUEUED,
            created_at=now,
            params={"day": now.date().isoformat()},
        )
    )
    running = store.claim(job, now)
    assert running is not None
    store.finish(
        running, {"archive_id": str(backup), "counts": {"slips": 12, "balances": 0}}, {}, now
    )
    login(user)

    page = client.get("/").get_data(as_text=True)

    row = _row(page, str(backup))
    assert _holds(row) == "CSV + DynamoDB JSON 12 slips and 0 balances"
    # Kept longer than exports, and counted down the same way.
    assert f"in {settings.backup_retention_days} days" in row
    assert _holds(_row(page, str(old))) == "— What it holds was not recorded."
    assert f'href="/backups/{backup}/download"' in row and "/delete" not in row


# --- download names ----------------------------------------------------------------


def test_download_names_say_the_period_formats_and_creation_time(
    client: FlaskClient,
    user: User,
    login: SignIn,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    put_archive: PutArchive,
) -> None:
    login(user)
    names = {}
    for formats, encoding in (("both", "utf-8"), ("all", "cp932"), ("xlsx", "utf-8")):
        before = set(_archive_ids(clients, settings, user.sub))
        _export(client, formats=formats, csv_encoding=encoding)
        worker.drain()
        (new,) = set(_archive_ids(clients, settings, user.sub)) - before
        location = client.get(f"/exports/{new}").headers["Location"]
        disposition = parse_qs(urlsplit(location).query)["response-content-disposition"][0]
        created = ArchiveId.parse(new)
        assert created is not None
        minute = created.created.astimezone(TOKYO).strftime("%Y%m%d-%H%M%S")  # the page's zone
        names[formats] = (disposition, minute)

    for formats, tag in (("both", "csv+json"), ("all", "csv-sjis+xlsx+json"), ("xlsx", "xlsx")):
        disposition, minute = names[formats]
        name = f"kakeibo_2025-01-01_2025-12-31_{tag}_{minute}.zip"
        assert (
            disposition
            == f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name, safe='')}"
        )
    assert len({d for d, _ in names.values()}) == 3


# --- when an archive expires -----------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "en", "ja"),
    [
        (timedelta(seconds=0), "in 7 days", "7日後"),
        (timedelta(seconds=5), "in 7 days", "7日後"),
        (timedelta(hours=23, minutes=59), "in 7 days", "7日後"),
        (timedelta(days=1, minutes=1), "in 6 days", "6日後"),
        (timedelta(days=6, hours=1), "in 23 hours", "23時間後"),
        (timedelta(days=6, hours=23, minutes=58), "in 2 minutes", "2分後"),
    ],
)
def test_expiry_on_the_row_matches_kept_7_days(
    client: FlaskClient,
    user: User,
    login: SignIn,
    put_archive: PutArchive,
    age: timedelta,
    en: str,
    ja: str,
) -> None:
    # The archive's own creation time is the clock: made `age` before the page is shown.
    archive = put_archive(user.sub, created=datetime.now(UTC) - age)
    login(user)

    page = client.get("/").get_data(as_text=True)
    japanese = client.get("/", headers=JA).get_data(as_text=True)

    assert "Each archive stays here for 7 days." in page
    assert f'<span class="archive__left muted">{en}</span>' in _row(page, archive)
    assert f'<span class="archive__left muted">{ja}</span>' in _row(japanese, archive)


# --- after an export -------------------------------------------------------------------


def test_the_form_keeps_the_choices_and_the_page_lands_on_the_new_row(
    client: FlaskClient,
    user: User,
    login: SignIn,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
) -> None:
    login(user)
    response = _export(
        client, start="2024-04-01", end="2025-03-31", formats="xlsx", csv_encoding="cp932"
    )
    location = urlsplit(response.headers["Location"])
    job_id = parse_qs(location.query)["job"][0]
    assert location.fragment == f"job-{job_id}"
    worker.drain()
    (archive,) = _archive_ids(clients, settings, user.sub)

    page = client.get(f"{location.path}?{location.query}").get_data(as_text=True)

    assert re.search(r'id="start"[^>]*value="2024-04-01"', page)
    assert re.search(r'id="end"[^>]*value="2025-03-31"', page)
    for value in ("xlsx", "cp932"):
        assert re.search(rf'<input(?=[^>]*value="{value}")(?=[^>]*\bchecked\b)[^>]*>', page)
    assert not re.search(r'<input(?=[^>]*value="both")(?=[^>]*\bchecked\b)[^>]*>', page)
    # The fragment the redirect (and the refresh) carry names a spot inside the new row.
    row = _row(page, archive)
    assert "archive--new" in row
    assert f'<span id="job-{job_id}" class="archive__anchor"></span>' in row
    assert page.count(f'id="job-{job_id}"') == 1


# --- deleting -----------------------------------------------------------------------------


def test_delete_asks_first_naming_the_archive_then_deletes(
    client: FlaskClient,
    user: User,
    login: SignIn,
    put_archive: PutArchive,
    clients: Clients,
    settings: Settings,
) -> None:
    archive = put_archive(user.sub, date(2025, 4, 1), date(2025, 6, 30))
    login(user)

    row = _row(client.get("/").get_data(as_text=True), archive)
    assert f'<a class="button button--danger" href="/exports/{archive}/delete">Delete…' in row
    asked = client.get(f"/exports/{archive}/delete")

    page = asked.get_data(as_text=True)
    assert asked.status_code == 200
    assert '<h1 id="confirm-heading">Delete this archive?</h1>' in page
    assert "Apr 1, 2025" in page and "Jun 30, 2025" in page
    assert 'name="confirm" value="yes"' in page and 'name="csrf_token"' in page
    assert f'href="/#archive-{archive}"' in page  # "Keep it" goes back to the row
    assert _archive_ids(clients, settings, user.sub) == [archive]

    done = client.post(
        f"/exports/{archive}/delete",
        data={"csrf_token": csrf_token(client), "confirm": "yes"},
        follow_redirects=True,
    )
    assert "Deleted the archive of Apr 1, 2025 to Jun 30, 2025." in done.get_data(as_text=True)
    assert _archive_ids(clients, settings, user.sub) == []


def test_delete_all_asks_first_then_empties_only_the_owners_archives(
    client: FlaskClient,
    make_user: Callable[[str], User],
    login: SignIn,
    put_archive: PutArchive,
    clients: Clients,
    settings: Settings,
) -> None:
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    mine = [put_archive(alice.sub, date(2025, m, 1), date(2025, m, 28)) for m in (1, 2, 3)]
    theirs = put_archive(bob.sub)
    backup = ArchiveId.new(date(1000, 1, 1), date(9999, 12, 31))
    clients.s3.put_object(
        Bucket=settings.export_bucket, Key=archive_key(alice.sub, backup, BACKUP_PREFIX), Body=b"x"
    )
    login(alice)
    listing = client.get("/").get_data(as_text=True)
    assert 'href="/exports/delete-all">Delete all archives…' in listing
    unconfirmed = client.post("/exports/delete-all", data={"csrf_token": csrf_token(client)})
    assert unconfirmed.status_code == 303
    assert unconfirmed.headers["Location"] == "/exports/delete-all"
    assert len(_archive_ids(clients, settings, alice.sub)) == 3

    asked = client.get("/exports/delete-all")

    page = asked.get_data(as_text=True)
    assert asked.status_code == 200
    assert "These 3 archives are removed at once" in page
    assert all(day in page for day in ("Jan 1, 2025", "Feb 1, 2025", "Mar 1, 2025"))
    assert sorted(_archive_ids(clients, settings, alice.sub)) == sorted(mine)

    done = client.post(
        "/exports/delete-all",
        data={"csrf_token": csrf_token(client), "confirm": "yes"},
        follow_redirects=True,
    )

    assert "Deleted 3 archives. Your automatic backups are kept." in done.get_data(as_text=True)
    assert _archive_ids(clients, settings, alice.sub) == []
    assert _archive_ids(clients, settings, bob.sub) == [theirs]
    assert _archive_ids(clients, settings, alice.sub, BACKUP_PREFIX) == [str(backup)]
    again = client.get("/exports/delete-all", follow_redirects=True)
    assert "You have no archives to delete." in again.get_data(as_text=True)


def test_delete_all_is_for_signed_in_users_with_a_csrf_token(
    client: FlaskClient,
    user: User,
    login: SignIn,
    put_archive: PutArchive,
    clients: Clients,
    settings: Settings,
) -> None:
    archive = put_archive(user.sub)
    anonymous = client.post("/exports/delete-all", data={"confirm": "yes"})
    assert anonymous.status_code in (302, 303, 400)
    login(user)
    forged = client.post("/exports/delete-all", data={"confirm": "yes"})
    assert forged.status_code == 400
    assert _archive_ids(clients, settings, user.sub) == [archive]
