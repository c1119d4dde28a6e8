"""The exports page says what it means, where the person is looking (the new user's walk).

The backup choice's confirmation sits in its section and promises the run the page
shows; the retention wording matches the backup rows' expiry; each row's actions
name their archive; the formats say what they hold; the encoding is only for CSV;
a finished Shift_JIS export's count reaches the page's script too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient
from support import csrf_token, text

from webapp.archive.ids import BACKUP_PREFIX, ArchiveId, archive_key
from webapp.aws import Clients
from webapp.jobs import export
from webapp.jobs.job import Job, State
from webapp.jobs.submit import submit
from webapp.services import Services
from webapp.settings import Settings
from webapp.web.auth.session import User

TOKYO = ZoneInfo("Asia/Tokyo")
SignIn = Callable[[User], None]


def _section(page: str, name: str) -> str:
    return page.split(f'<section class="card {name}"', 1)[1].split("</section>", 1)[0]


def _next_shown(page: str) -> str:
    found = re.search(r"Next backup</dt>\s*<dd><time[^>]*>([^<]+)</time>", page)
    assert found, page
    return found.group(1)


def test_saving_the_backup_choice_confirms_it_in_its_section_with_the_run_it_shows(
    client: FlaskClient, user: User, login: SignIn, services: Services
) -> None:
    login(user)
    today = services.now().astimezone(TOKYO).date()
    # On already, and its next backup a week away: "tonight" would be a false promise.
    services.backup_prefs.choose(user.sub, "weekly", today=today, email=user.email)
    done = {"state": "done", "at": "2026-12-01T18:00:00Z", "counts": {"slips": 1}, "size": 9}
    services.backup_prefs.record(user.sub, done, next_run=today + timedelta(days=7))

    answer = client.post(
        "/backups/setting", data={"frequency": "monthly", "csrf_token": csrf_token(client)}
    )

    assert answer.headers["Location"] == "/#backups-saved"
    page = text(client.get("/"))
    backups = _section(page, "backups")
    assert "Automatic backup is on." not in page.split("<section", 1)[0]  # not at the top
    said = re.search(
        r'id="backups-saved"[^>]*>Automatic backup is on\. The next one runs on ([^<]+)\.<', backups
    )
    assert said, backups
    assert said.group(1) == _next_shown(backups)
    assert str((today + timedelta(days=7)).day) in said.group(1)

    client.post("/backups/setting", data={"frequency": "off", "csrf_token": csrf_token(client)})
    backups = _section(text(client.get("/")), "backups")
    assert "Automatic backup is off. The backups made so far stay listed." in backups


def test_the_retention_words_match_each_backup_rows_expiry(
    client: FlaskClient, user: User, login: SignIn, clients: Clients, settings: Settings
) -> None:
    login(user)
    made = ArchiveId.new(date(2000, 1, 1), date(2099, 12, 31), now=datetime.now(TOKYO))
    key = archive_key(user.sub, made, prefix=BACKUP_PREFIX)
    clients.s3.put_object(Bucket=settings.export_bucket, Key=key, Body=b"PK\x05\x06" + bytes(18))

    backups = _section(text(client.get("/")), "backups")

    days = settings.backup_retention_days
    assert f"each for up to {days} days" in backups
    left = re.search(r'class="archive__left muted">([^<]+)<', backups)
    assert left and left.group(1) == f"in {days} days"


def _hidden_names(row: str) -> list[str]:
    return [unescape(name).strip() for name in re.findall(r'visually-hidden"> ([^<]+)<', row)]


def test_each_rows_actions_name_the_archive_by_period_and_creation(
    client: FlaskClient, user: User, login: SignIn, put_archive: Callable[..., str]
) -> None:
    login(user)
    first = put_archive(user.sub, created=datetime(2026, 12, 3, 6, 31, 5, tzinfo=TOKYO))
    second = put_archive(user.sub, created=datetime(2026, 12, 3, 6, 40, 0, tzinfo=TOKYO))
    page = client.get("/").get_data(as_text=True)

    names = {}
    for archive in (first, second):
        row = page.split(f'id="archive-{archive}"', 1)[1].split("</tr>", 1)[0]
        hidden = _hidden_names(row)
        assert len(hidden) == 3  # Download, Restore, Delete
        assert len(set(hidden)) == 1
        names[archive] = hidden[0]
    assert names[first] == "Jan 1, 2025 to Dec 31, 2025, made Dec 3, 2026, 6:31\u202fAM"
    assert names[first] != names[second]


def test_the_formats_say_which_two_and_what_dynamodb_json_is_for(
    client: FlaskClient, user: User, login: SignIn
) -> None:
    login(user)
    page = text(client.get("/"))
    assert '<label class="choice__label" for="formats-0">CSV and DynamoDB JSON</label>' in page
    assert "DynamoDB JSON (for an exact restore)</label>" in page
    assert "For an exact restore: every slip and balance exactly as stored" in page
    encoding = page.split('id="csv_encoding-choices"', 1)[1].split("</fieldset>", 1)[0]
    assert "choices--encoding" in page and "Used only when CSV is chosen." in encoding


def test_an_encoding_sent_without_csv_changes_nothing(
    app: Flask, client: FlaskClient, user: User, login: SignIn, services: Services
) -> None:
    login(user)
    app.config["WTF_CSRF_ENABLED"] = False
    data = {"start": "2025-01-01", "end": "2025-12-31", "csv_encoding": "cp932"}
    assert client.post("/exports", data={**data, "formats": "json"}).status_code == 303
    assert client.post("/exports", data={**data, "formats": "csv"}).status_code == 303
    jobs = sorted(services.jobs.list(user.sub), key=lambda job: job.created_at)
    assert [job.params["formats"] for job in jobs] == [["json"], ["csv"]]
    assert [job.params["csv_encoding"] for job in jobs] == ["utf-8-sig", "cp932"]


def test_a_finished_shift_jis_export_tells_the_script_its_count(
    client: FlaskClient, user: User, login: SignIn, services: Services
) -> None:
    login(user)
    params = export.ExportParams.from_dict(
        {"start": "2025-01-01", "end": "2025-12-31", "formats": ["csv"], "csv_encoding": "cp932"}
    )
    job = submit(services, user.sub, export.KIND, params)
    archive = ArchiveId.new(date(2025, 1, 1), date(2025, 12, 31), now=services.now())
    services.clients.s3.put_object(
        Bucket=services.settings.export_bucket, Key=archive_key(user.sub, archive), Body=b"PK"
    )
    claimed = services.jobs.claim(job, services.now())
    assert isinstance(claimed, Job)
    result = {"archive_id": str(archive), "size": 2, "counts": {"slips": 3, "balances": 0}}
    result.update(encoding="cp932", replaced={"slips": 2, "balances": 0})
    services.jobs.finish(claimed, result, {"slips": 3, "balances": 0}, services.now())

    answer = client.get(f"/jobs/{job.id}").get_json()

    assert answer["state"] == State.DONE
    assert "2 characters that Shift_JIS cannot hold were written as ? in the CSV." in answer["text"]
    assert "row" in answer  # the script swaps this in, and shows the text beside it
    page = text(client.get("/", query_string={"job": job.id}))
    outcome = re.search(r'id="job-outcome">([^<]*)<', page)
    assert outcome and "written as ? in the CSV" in outcome.group(1)


def test_the_archives_readme_points_to_where_the_page_has_its_restore_link(
    client: FlaskClient, user: User, login: SignIn
) -> None:
    from webapp.archive.ids import ArchiveId as Id
    from webapp.archive.readme import SEPARATOR, render_readme

    login(user)
    archive = Id.new(date(2025, 1, 1), date(2025, 12, 31), now=datetime.now(TOKYO))
    halves = render_readme(archive, csv=True, json=True).split(SEPARATOR)
    for language, half in zip(("en", "ja"), halves, strict=True):
        page = client.get("/", headers={"Accept-Language": language}).get_data(as_text=True)
        head = page.split('class="archives__head"', 1)[1].split("</div>", 1)[0]
        heading = re.search(r"<h2[^>]*>([^<]+)</h2>", head)
        link = re.search(r'href="/restore/upload">([^<]+)</a>', head)
        assert heading and link, head
        # A wrapped line joins with a space in English, with nothing in Japanese.
        joined = re.sub(r"\s*\n\s*", " " if language == "en" else "", half)
        readme = joined.replace("...", "…")
        if language == "en":
            said = f'"{link.group(1)}" next to the heading "{heading.group(1)}"'
        else:
            said = f"見出し「{heading.group(1)}」の横にある「{link.group(1)}」"
        assert said in readme, (said, readme)
