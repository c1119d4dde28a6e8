"""The exports page through Flask's test client, over moto."""

from __future__ import annotations

import io
import re
import time
import urllib.request
import zipfile
import zoneinfo
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from botocore.stub import Stubber
from flask import Flask, abort
from flask.testing import FlaskClient
from markupsafe import escape
from support import csrf_token
from werkzeug.test import TestResponse

from webapp import create_app
from webapp.archive.ids import ArchiveId
from webapp.aws import Clients
from webapp.local.demo import write_items
from webapp.local.worker import LocalWorker
from webapp.services import Services
from webapp.settings import Settings
from webapp.web.auth.session import User
from webapp.web.formatting import format_datetime, format_day

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
GONE = b"gone or never existed"
SignIn = Callable[[User], None]
PutArchive = Callable[..., str]


def _period(start: str, end: str) -> str:
    """Return how the (English) list marks up an archive's period."""

    def day(text: str) -> str:
        return format_day(date.fromisoformat(text), "en")

    return (
        f'<time datetime="{start}">{day(start)}</time> – <time datetime="{end}">{day(end)}</time>'
    )


def _sign_in(client: FlaskClient, user: User) -> None:
    """Sign ``user`` in on a client of an app built inside a test."""
    with client.session_transaction() as session:
        session.update(sub=user.sub, email=user.email, exp=int(time.time()) + 600)


def _keys(clients: Clients, settings: Settings, prefix: str = "exports/") -> list[str]:
    answer = clients.s3.list_objects_v2(Bucket=settings.export_bucket, Prefix=prefix)
    return [o["Key"] for o in answer.get("Contents", [])]


def _export(client: FlaskClient, **fields: str) -> TestResponse:
    data = {"start": "2025-01-01", "end": "2025-12-31", "formats": "both", **fields}
    data.setdefault("csrf_token", csrf_token(client))
    return client.post("/exports", data=data)


def _seed(clients: Clients, settings: Settings, sub: str) -> None:
    """Write 3 slips and 2 balances in 2025 for ``sub``, and some outside it."""

    def slip(day: str, n: int, amount: int) -> dict[str, Any]:
        return {
            "user_id": sub,
            "sk": f"{day}#{n:012x}",
            "date": day,
            "kind": "expense",
            "category": "食費",
            "account": "cash",
            "amount": amount,
            "memo": "イオン",
        }

    def balance(day: str, account: str, amount: int) -> dict[str, Any]:
        return {
            "user_id": sub,
            "sk": f"{day}#{account}",
            "date": day,
            "account": account,
            "balance": amount,
        }

    slips = [
        slip("2024-12-31", 1, -100),
        slip("2025-01-01", 2, -200),
        slip("2025-06-15", 3, -300),
        slip("2025-12-31", 4, -400),
        slip("2026-01-01", 5, -500),
    ]
    balances = [
        balance("2024-12-31", "cash", 10),
        balance("2025-01-31", "cash", 20),
        balance("2025-12-31", "bank", 30),
    ]
    write_items(clients.dynamodb, settings.slips_table, slips)
    write_items(clients.dynamodb, settings.balances_table, balances)


# --- who may see what ----------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/exports/20261125T193442Z_20250101_20251231_abcdefabcdef"])
def test_private_pages_send_anonymous_visitors_to_sign_in(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [path]


@pytest.mark.parametrize("action", ["export", "delete", "delete-all"])
def test_posts_without_a_csrf_token_get_the_friendly_400_page(
    client: FlaskClient,
    user: User,
    login: SignIn,
    put_archive: PutArchive,
    clients: Clients,
    settings: Settings,
    action: str,
) -> None:
    login(user)
    archive = put_archive(user.sub)
    path = {
        "export": "/exports",
        "delete": f"/exports/{archive}/delete",
        "delete-all": "/exports/delete-all",
    }[action]

    response = client.post(
        path, data={"start": "2025-01-01", "end": "2025-01-31", "confirm": "yes"}
    )

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "That request could not be used" in page
    assert "reload the page" in page
    assert "Traceback" not in page
    assert _keys(clients, settings) == [f"exports/{user.sub}/{archive}.zip"]


def test_second_user_cannot_list_download_or_delete_the_first_users_archives(
    client: FlaskClient,
    make_user: Callable[[str], User],
    login: SignIn,
    put_archive: PutArchive,
    clients: Clients,
    settings: Settings,
) -> None:
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    archive = put_archive(alice.sub)
    login(bob)

    listing = client.get("/")
    download = client.get(f"/exports/{archive}")
    delete = client.post(
        f"/exports/{archive}/delete", data={"csrf_token": csrf_token(client), "confirm": "yes"}
    )

    assert listing.status_code == 200
    assert archive.encode() not in listing.data
    assert b"No archives yet" in listing.data
    assert download.status_code == 404
    assert GONE in download.data
    assert "Location" not in download.headers
    assert delete.status_code == 404
    assert GONE in delete.data
    assert _keys(clients, settings) == [f"exports/{alice.sub}/{archive}.zip"]


# --- the list -------------------------------------------------------------------


def test_empty_state_invites_a_first_export(client: FlaskClient, user: User, login: SignIn) -> None:
    login(user)
    response = client.get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<title>Your exports · Kakeibo Export</title>" in page
    assert "No archives yet" in page
    assert "<table" not in page
    assert user.email in page  # the header shows who is signed in
    assert 'action="/logout"' in page


def test_list_shows_live_archives_newest_first_in_the_display_time_zone(
    client: FlaskClient, user: User, login: SignIn, put_archive: PutArchive
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    older = put_archive(
        user.sub, date(2024, 1, 1), date(2024, 12, 31), created=now - timedelta(days=2)
    )
    newer = put_archive(
        user.sub,
        date(2025, 4, 1),
        date(2025, 4, 30),
        created=now - timedelta(hours=1),
        body=b"x" * 57344,
    )
    expired = put_archive(user.sub, created=now - timedelta(days=7, seconds=1))
    login(user)

    page = client.get("/").get_data(as_text=True)

    assert expired not in page
    assert page.index(newer) < page.index(older)
    assert '<th scope="col">Period</th>' in page
    assert "<caption>" in page
    assert _period("2025-04-01", "2025-04-30") in page
    assert format_datetime(now - timedelta(hours=1), TOKYO, "en") in page
    assert "Times are in Japan Time." in page
    expires = format_datetime(now - timedelta(hours=1) + timedelta(days=7), TOKYO, "en")
    assert expires in page
    # Made an hour ago and kept 7 days: "in 7 days", as people round it.
    assert '<span class="archive__left muted">in 7 days</span>' in page
    assert "56 KB" in page
    assert "22 bytes" in page
    assert f'href="/exports/{newer}"' in page
    assert f'href="/exports/{newer}/delete"' in page


def test_display_time_zone_comes_from_the_settings(
    settings: Settings, make_user: Callable[[str], User], put_archive: PutArchive
) -> None:
    app = create_app(replace(settings, display_timezone="America/New_York"))
    client = app.test_client()
    alice = make_user("alice@example.com")
    created = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    put_archive(alice.sub, created=created)
    _sign_in(client, alice)

    page = client.get("/").get_data(as_text=True)

    assert format_datetime(created, zoneinfo.ZoneInfo("America/New_York"), "en") in page
    assert "JST" not in page


def test_listing_failure_still_offers_the_form(
    app: Flask, client: FlaskClient, user: User, login: SignIn
) -> None:
    login(user)
    with Stubber(app.extensions["kakeibo.services"].clients.s3) as stub:
        stub.add_client_error("list_objects_v2", "InternalError", http_status_code=500)
        response = client.get("/")
    assert response.status_code == 200
    assert b"could not be listed" in response.data
    assert b'action="/exports"' in response.data


def test_a_listing_failure_reads_in_the_pages_language(
    app: Flask, client: FlaskClient, user: User, login: SignIn
) -> None:
    # The listings run in threads, outside the request: the page translates what they say.
    login(user)
    with Stubber(app.extensions["kakeibo.services"].clients.s3) as stub:
        stub.add_client_error("list_objects_v2", "InternalError", http_status_code=500)
        response = client.get("/", headers={"Accept-Language": "ja"})
    assert response.status_code == 200
    assert "アーカイブの一覧を今は表示できませんでした。" in response.get_data(as_text=True)


# --- the form -------------------------------------------------------------------


def test_quick_ranges_are_plain_links_that_fill_the_form(
    client: FlaskClient, user: User, login: SignIn
) -> None:
    login(user)
    today = datetime.now(TOKYO).date()
    last_year = today.year - 1
    page = client.get("/").get_data(as_text=True)
    # Back at the form (#new-export, which takes focus), not at the page's top.
    assert (
        f'href="/?start={last_year}-01-01&amp;end={last_year}-12-31#new-export">Last year</a>'
        in page
    )
    assert '<h2 id="new-export" tabindex="-1">' in page
    assert "Last 5 years</a>" in page
    assert "This month</a>" in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)  # plain links, no inline script

    filled = client.get(f"/?start={last_year}-01-01&end={last_year}-12-31&formats=csv")
    text = filled.get_data(as_text=True)
    assert re.search(rf'id="start"[^>]*value="{last_year}-01-01"', text)
    assert re.search(rf'id="end"[^>]*value="{last_year}-12-31"', text)
    assert re.search(r'checked[^>]*value="csv"|value="csv"[^>]*checked', text)


def test_the_form_defaults_to_this_year_and_both_formats(
    client: FlaskClient, user: User, login: SignIn
) -> None:
    login(user)
    today = datetime.now(TOKYO).date()
    page = client.get("/").get_data(as_text=True)
    assert re.search(r'type="date"[^>]*value="' + f"{today.year}-01-01", page)
    assert re.search(r'type="date"[^>]*value="' + today.isoformat(), page)
    assert re.search(r'checked[^>]*value="both"|value="both"[^>]*checked', page)
    assert '<label class="field__label" for="start">From</label>' in page
    assert '<label class="field__label" for="end">To</label>' in page
    assert "<legend" in page
    names = ("CSV and DynamoDB JSON", "CSV for Excel", "DynamoDB JSON (for an exact restore)")
    for n, name in enumerate(names):
        assert f'<label class="choice__label" for="formats-{n}">{name}</label>' in page


INVALID_INPUT = [
    ({"start": "2025-12-31", "end": "2025-01-01"}, "on or after the first day"),
    ({"start": "2020-01-01", "end": "2025-01-01"}, "at most 1,827 days"),
    ({"start": "2025-02-30"}, "Enter a date like 2025-01-31."),
    ({"start": "yesterday"}, "Enter a date like 2025-01-31."),
    ({"start": "2025-01-01T00:00"}, "Enter a date like 2025-01-31."),
    ({"end": "10000-01-01"}, "Enter a date like 2025-12-31."),
    ({"start": "0025-01-01"}, "between 1900-01-01 and 2999-12-31"),
    ({"start": ""}, "Enter the first day to export."),
    ({"end": ""}, "Enter the last day to export."),
    ({"formats": "xml"}, "Not a valid choice"),
    ({"csv_encoding": "latin-1"}, "Not a valid choice"),
    ({"start": "<b>2025</b>"}, "Enter a date like 2025-01-31."),
]


def test_invalid_input_rerenders_the_form_with_400_and_writes_nothing(
    client: FlaskClient,
    user: User,
    login: SignIn,
    clients: Clients,
    settings: Settings,
    subtests: pytest.Subtests,
) -> None:
    login(user)
    for fields, message in INVALID_INPUT:
        with subtests.test(msg=message, fields=fields):
            response = _export(client, **fields)
            page = response.get_data(as_text=True)
            assert response.status_code == 400
            assert message in page
            assert "<title>Error: Your exports · Kakeibo Export</title>" in page
            assert 'aria-invalid="true"' in page
            for name in ("start", "end"):
                if fields.get(name):
                    # What the user typed stays in the field (escaped).
                    typed = re.escape(str(escape(fields[name])))
                    assert re.search(rf'id="{name}"[^>]*value="{typed}"', page), name
            assert "<b>2025</b>" not in page
    assert _keys(clients, settings) == []


def test_the_span_limit_follows_the_setting(
    settings: Settings, make_user: Callable[[str], User]
) -> None:
    client = create_app(replace(settings, max_span_days=31)).test_client()
    alice = make_user("alice@example.com")
    _sign_in(client, alice)
    response = _export(client, start="2025-01-01", end="2025-02-01")
    assert response.status_code == 400
    assert "at most 31 days; this range has 32" in response.get_data(as_text=True)


# --- making an export -----------------------------------------------------------


def test_export_runs_as_a_job_then_its_archive_is_highlighted(
    client: FlaskClient,
    user: User,
    login: SignIn,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
) -> None:
    _seed(clients, settings, user.sub)
    login(user)

    response = _export(client)

    # The request only queued the job: no archive yet, the page shows it waiting.
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert location.path == "/" and location.fragment == f"job-{query['job'][0]}"
    assert (query["start"], query["end"], query["formats"]) == (
        ["2025-01-01"],
        ["2025-12-31"],
        ["both"],
    )
    assert _keys(clients, settings) == []
    waiting = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'id="job-{query["job"][0]}" class="job job--queued"' in waiting
    assert "Waiting to start…" in waiting
    job_id = query["job"][0]
    # Reloads itself (a new query each time: a fragment alone would only scroll).
    refresh = re.search(r'<meta http-equiv="refresh" content="2; url=([^"]+)">', waiting)
    assert refresh, waiting
    target = urlsplit(refresh.group(1).replace("&amp;", "&"))
    assert parse_qs(target.query)["refresh"] == ["1"] and target.fragment == f"job-{job_id}"
    assert parse_qs(target.query)["job"] == [job_id]

    assert worker.drain() == 1
    (key,) = _keys(clients, settings)
    new = key.removeprefix(f"exports/{user.sub}/").removesuffix(".zip")
    body = clients.s3.get_object(Bucket=settings.export_bucket, Key=f"exports/{user.sub}/{new}.zip")
    with zipfile.ZipFile(io.BytesIO(body["Body"].read())) as archive:
        assert {"slips.csv", "slips.json", "balances.csv", "balances.json"} <= set(
            archive.namelist()
        )
        assert len(archive.read("slips.json").splitlines()) == 3
        assert len(archive.read("balances.json").splitlines()) == 2

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert re.search(r"Exported 3 slips and 2 balances \(\d[\d.,]* (bytes|KB)\)\.", page)
    assert f'id="archive-{new}" class="archive archive--new"' in page
    assert "job--" not in page and 'http-equiv="refresh"' not in page
    # The form keeps the user's choices.
    assert re.search(r'id="start"[^>]*value="2025-01-01"', page)
    assert ">New</span>" in page
    assert _period("2025-01-01", "2025-12-31") in page


def test_export_of_one_format_writes_only_that_format(
    client: FlaskClient,
    user: User,
    login: SignIn,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
) -> None:
    _seed(clients, settings, user.sub)
    login(user)
    response = _export(client, formats="csv")
    assert response.status_code == 303
    worker.drain()
    (key,) = _keys(clients, settings)
    body = clients.s3.get_object(Bucket=settings.export_bucket, Key=key)["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = set(archive.namelist())
    assert {"slips.csv", "balances.csv"} <= names
    assert not {"slips.json", "balances.json"} & names


def test_a_workbook_and_shift_jis_csv_export_counts_what_was_replaced(
    client: FlaskClient,
    user: User,
    login: SignIn,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
) -> None:
    _seed(clients, settings, user.sub)
    clients.dynamodb.update_item(
        TableName=settings.slips_table,
        Key={"user_id": {"S": user.sub}, "sk": {"S": f"2025-06-15#{3:012x}"}},
        UpdateExpression="SET memo = :memo",
        ExpressionAttributeValues={":memo": {"S": "寿司🍣🍺"}},
    )
    login(user)
    response = _export(client, formats="all", csv_encoding="cp932")
    assert response.status_code == 303
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert (query["formats"], query["csv_encoding"]) == (["all"], ["cp932"])
    worker.drain()
    (key,) = _keys(clients, settings)
    body = clients.s3.get_object(Bucket=settings.export_bucket, Key=key)["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.namelist()[:5] == [
            "slips.csv", "slips.json", "balances.csv", "balances.json", "kakeibo.xlsx",
        ]  # fmt: skip
        assert "寿司??" in archive.read("slips.csv").decode("cp932")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 characters that Shift_JIS cannot hold were written as ? in the CSV." in page
    # The form keeps the choices.
    assert re.search(r'checked[^>]*value="cp932"|value="cp932"[^>]*checked', page)


def test_export_uses_the_signed_in_users_sub_never_the_request(
    client: FlaskClient,
    make_user: Callable[[str], User],
    login: SignIn,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
) -> None:
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    _seed(clients, settings, alice.sub)
    _seed(clients, settings, bob.sub)
    login(alice)
    response = _export(client, sub=bob.sub, user_id=bob.sub)
    assert response.status_code == 303
    worker.drain()
    (key,) = _keys(clients, settings)
    assert key.startswith(f"exports/{alice.sub}/")


def test_export_failure_shows_a_clear_message_and_leaves_nothing(
    settings: Settings, make_user: Callable[[str], User], clients: Clients
) -> None:
    broken = replace(settings, slips_table="no-such-table")
    client = create_app(broken).test_client()
    alice = make_user("alice@example.com")
    _sign_in(client, alice)
    response = _export(client)
    assert response.status_code == 303
    assert LocalWorker(Services(broken, clients)).drain() == 1
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "job job--failed" in page
    assert "Your account book could not be read, so no archive was made." in page
    assert "Traceback" not in page
    assert _keys(clients, settings) == []
    uploads = clients.s3.list_multipart_uploads(Bucket=settings.export_bucket)
    assert not uploads.get("Uploads")


# --- downloading ----------------------------------------------------------------


def test_download_redirects_to_a_fresh_presigned_url(
    settings: Settings, make_user: Callable[[str], User], put_archive: PutArchive
) -> None:
    client = create_app(replace(settings, download_url_expiry=120)).test_client()
    alice = make_user("alice@example.com")
    archive = put_archive(alice.sub, date(2025, 1, 1), date(2025, 12, 31), body=b"PK-zip-bytes")
    _sign_in(client, alice)

    first = client.get(f"/exports/{archive}")
    second = client.get(f"/exports/{archive}")

    assert first.status_code == 302
    assert first.headers["Cache-Control"] == "no-store"
    url = first.headers["Location"]
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}" == settings.endpoint_url
    assert parts.path == f"/{settings.export_bucket}/exports/{alice.sub}/{archive}.zip"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "120"
    assert "X-Amz-Signature" in query
    # No job record for this archive: no formats in the name, the creation minute in Tokyo.
    made = ArchiveId.parse(archive)
    assert made is not None
    name = f"kakeibo_2025-01-01_2025-12-31_{made.created.astimezone(TOKYO):%Y%m%d-%H%M%S}.zip"
    assert query["response-content-disposition"] == (
        f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    )
    assert query["response-content-type"] == "application/zip"
    assert second.headers["Location"] != url or "X-Amz-Date" in query  # signed per click

    with urllib.request.urlopen(url) as answer:  # moto serves it (it checks no signature)
        assert answer.read() == b"PK-zip-bytes"
        assert answer.headers["Content-Disposition"].startswith(f'attachment; filename="{name}"')
        assert answer.headers["Content-Type"] == "application/zip"


def test_expired_archives_are_gone_even_if_s3_still_has_them(
    client: FlaskClient,
    user: User,
    login: SignIn,
    put_archive: PutArchive,
    clients: Clients,
    settings: Settings,
) -> None:
    archive = put_archive(user.sub, created=datetime.now(UTC) - timedelta(days=7, minutes=1))
    login(user)
    assert archive.encode() not in client.get("/").data
    download = client.get(f"/exports/{archive}")
    assert download.status_code == 404
    assert GONE in download.data
    delete = client.post(
        f"/exports/{archive}/delete", data={"csrf_token": csrf_token(client), "confirm": "yes"}
    )
    assert delete.status_code == 404
    assert len(_keys(clients, settings)) == 1  # S3's lifecycle removes it, not us


def test_missing_archive_is_404(client: FlaskClient, user: User, login: SignIn) -> None:
    login(user)
    response = client.get("/exports/20261125T193442Z_20250101_20251231_abcdefabcdef")
    assert response.status_code == 404
    assert GONE in response.data
    assert b"Nothing here" in response.data


CRAFTED_IDS = [
    "..",
    "%2E%2E",
    "..%2F..%2Fexports",
    "a%2Fb",
    "{id}%2F..",
    "{id}%2F..%2F..%2F{id}",
    "..%2F{other}%2F{id}",
    "{id}.zip",
    "{id}%00",
    "{ID}",
    "２0261125T193442Z_20250101_20251231_abcdefabcdef",
    "%E5%AE%B6%E8%A8%88%E7%B0%BF",
    "x" * 5000,
    "20261125T193442Z_20250101_20251231_" + "a" * 4000,
]


def test_malformed_or_crafted_ids_are_404(
    client: FlaskClient,
    make_user: Callable[[str], User],
    login: SignIn,
    put_archive: PutArchive,
    clients: Clients,
    settings: Settings,
    subtests: pytest.Subtests,
) -> None:
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    real = put_archive(bob.sub)
    own = put_archive(alice.sub)
    login(alice)
    token = csrf_token(client)
    for pattern in CRAFTED_IDS:
        crafted = pattern.replace("{id}", real).replace("{ID}", real.upper())
        crafted = crafted.replace("{other}", bob.sub)
        with subtests.test(msg=pattern[:60]):
            download = client.get(f"/exports/{crafted}")
            ask = client.get(f"/exports/{crafted}/delete")
            delete = client.post(
                f"/exports/{crafted}/delete", data={"csrf_token": token, "confirm": "yes"}
            )
            assert download.status_code == 404
            assert "Location" not in download.headers
            assert ask.status_code == delete.status_code == 404
            for response in (download, ask, delete):
                assert b"Traceback" not in response.data
                assert b'rel="stylesheet"' in response.data
    assert sorted(_keys(clients, settings)) == sorted(
        [f"exports/{alice.sub}/{own}.zip", f"exports/{bob.sub}/{real}.zip"]
    )


def test_download_when_s3_fails_is_a_503_page(
    app: Flask, client: FlaskClient, user: User, login: SignIn
) -> None:
    login(user)
    with Stubber(app.extensions["kakeibo.services"].clients.s3) as stub:
        stub.add_client_error("head_object", "SlowDown", http_status_code=503)
        response = client.get("/exports/20261125T193442Z_20250101_20251231_abcdefabcdef")
    assert response.status_code == 503
    assert b"could not be checked just now" in response.data
    assert b"Please try again in a minute" in response.data
    assert "Location" not in response.headers


# --- deleting -------------------------------------------------------------------


def test_delete_removes_the_archive_and_says_so(
    client: FlaskClient,
    user: User,
    login: SignIn,
    put_archive: PutArchive,
    clients: Clients,
    settings: Settings,
) -> None:
    keep = put_archive(user.sub, date(2024, 1, 1), date(2024, 12, 31))
    gone = put_archive(user.sub, date(2025, 1, 1), date(2025, 3, 31))
    login(user)

    # The row's link only asks, and so does a post without the confirmation.
    unconfirmed = client.post(f"/exports/{gone}/delete", data={"csrf_token": csrf_token(client)})
    assert unconfirmed.status_code == 303
    assert unconfirmed.headers["Location"] == f"/exports/{gone}/delete"
    first = client.get(f"/exports/{gone}/delete")
    assert first.status_code == 200
    assert "Delete this archive?" in first.get_data(as_text=True)
    assert len(_keys(clients, settings)) == 2
    response = client.post(
        f"/exports/{gone}/delete", data={"csrf_token": csrf_token(client), "confirm": "yes"}
    )

    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/"
    assert _keys(clients, settings) == [f"exports/{user.sub}/{keep}.zip"]
    page = client.get("/").get_data(as_text=True)
    assert "Deleted the archive of Jan 1, 2025 to Mar 31, 2025." in page
    assert gone not in page
    assert keep in page
    again = client.post(
        f"/exports/{gone}/delete", data={"csrf_token": csrf_token(client), "confirm": "yes"}
    )
    assert again.status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/exports"),
        ("PUT", "/exports/20261125T193442Z_20250101_20251231_abcdefabcdef/delete"),
        ("DELETE", "/exports/20261125T193442Z_20250101_20251231_abcdefabcdef"),
    ],
)
def test_wrong_methods_get_the_405_page(
    client: FlaskClient, user: User, login: SignIn, method: str, path: str
) -> None:
    login(user)
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert b"That page cannot be used that way" in response.data


# --- error pages ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "heading"),
    [
        (400, "That request could not be used"),
        (403, "This page is not yours to open"),
        (404, "Nothing here"),
        (405, "That page cannot be used that way"),
        (500, "Something went wrong on our side"),
        (503, "Please try again in a minute"),
        (418, "Something did not work"),  # any other code: the generic page
    ],
)
def test_error_pages_share_the_sites_look(settings: Settings, code: int, heading: str) -> None:
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> str:
        if code == 500:
            raise RuntimeError("secret detail")
        abort(code)

    response = app.test_client().get("/boom")
    page = response.get_data(as_text=True)
    assert response.status_code == code
    assert heading in page
    assert f"Error {code}" in page
    assert 'rel="stylesheet"' in page
    assert 'class="site-header"' in page
    assert "secret detail" not in page
    assert "Traceback" not in page
    assert "<script" not in page
    assert 'style="' not in page


def test_pages_have_no_inline_script_or_style(
    client: FlaskClient, user: User, login: SignIn, put_archive: PutArchive
) -> None:
    put_archive(user.sub)
    login(user)
    for response in (client.get("/"), _export(client, start="x")):
        page = response.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", page)
        assert "<style" not in page
        assert 'style="' not in page
        assert re.search(r"\son[a-z]+=", page) is None  # no inline event handlers
