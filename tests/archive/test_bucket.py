"""The S3 gateway of the exports page, against moto (and Stubber for faults)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from botocore.stub import Stubber

from webapp.archive import bucket as store
from webapp.archive.bucket import ArchiveBucket
from webapp.archive.ids import ArchiveId, archive_key
from webapp.aws import Clients
from webapp.settings import Settings

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SUB = "sub-alice"
TOKYO = ZoneInfo("Asia/Tokyo")
OTHER = "sub-bob"


@pytest.fixture
def calls(clients: Clients) -> Iterator[list[str]]:
    """Record the name of every S3 API call the gateway makes."""
    names: list[str] = []

    def record(model: Any, **_: Any) -> None:
        names.append(model.name)

    clients.s3.meta.events.register("before-call.s3", record)
    yield names
    clients.s3.meta.events.unregister("before-call.s3", record)


def _store(s3: Any, bucket: str) -> ArchiveBucket:
    return ArchiveBucket(s3, bucket, retention_days=7)


def _list(
    clients: Clients, settings: Settings, sub: str = SUB, **kw: Any
) -> list[store.StoredArchive]:
    return _store(clients.s3, settings.export_bucket).list(sub, now=NOW, **kw)


def test_list_is_newest_first_paginated_and_never_heads(
    clients: Clients,
    settings: Settings,
    put_archive: Callable[..., str],
    calls: list[str],
) -> None:
    ids = [put_archive(SUB, created=NOW - timedelta(hours=h)) for h in (30, 2, 50, 1, 6)]
    put_archive(OTHER, created=NOW)
    calls.clear()

    archives = _list(clients, settings, page_size=2)

    newest_first = sorted(ids, key=lambda i: ArchiveId.parse(i).created, reverse=True)  # type: ignore[union-attr]
    assert [str(a.id) for a in archives] == newest_first
    assert calls == ["ListObjectsV2"] * 3  # 5 objects, 2 per page
    assert all(a.size == 22 for a in archives)


def test_list_hides_expired_and_foreign_keys(
    clients: Clients, settings: Settings, put_archive: Callable[..., str]
) -> None:
    live = put_archive(SUB, created=NOW - timedelta(days=7) + timedelta(seconds=1))
    put_archive(SUB, created=NOW - timedelta(days=7))  # expires exactly now
    put_archive(SUB, created=NOW - timedelta(days=30))
    # Not archives of ours: other names under the prefix, and a deeper key.
    for key in (f"exports/{SUB}/notes.txt", f"exports/{SUB}/x/{live}.zip", f"exports/{SUB}/"):
        clients.s3.put_object(Bucket=settings.export_bucket, Key=key, Body=b"x")

    archives = _list(clients, settings)

    assert [str(a.id) for a in archives] == [live]
    assert archives[0].expires == archives[0].created + timedelta(days=7)


def test_list_of_a_user_without_archives_is_empty(clients: Clients, settings: Settings) -> None:
    assert _list(clients, settings) == []


def test_find_returns_the_users_live_archive(
    clients: Clients, settings: Settings, put_archive: Callable[..., str]
) -> None:
    text = put_archive(SUB, created=NOW - timedelta(days=1), body=b"zipzip")
    found = _store(clients.s3, settings.export_bucket).find(SUB, text, now=NOW)
    assert found.key == f"exports/{SUB}/{text}.zip"
    assert found.size == 6


@pytest.mark.parametrize(
    "text",
    ["", "..", "../sub-bob", "a/b", "x" * 5000, "２0261124T120000Z_20250101_20251231_abcdefabcdef"],
)
def test_find_refuses_malformed_ids(clients: Clients, settings: Settings, text: str) -> None:
    with pytest.raises(store.ArchiveNotFound):
        _store(clients.s3, settings.export_bucket).find(SUB, text)


def test_find_refuses_missing_foreign_and_expired_archives(
    clients: Clients, settings: Settings, put_archive: Callable[..., str]
) -> None:
    foreign = put_archive(OTHER, created=NOW)
    expired = put_archive(SUB, created=NOW - timedelta(days=8))
    missing = str(ArchiveId.new(date(2025, 1, 1), date(2025, 1, 31), now=NOW))
    for text in (foreign, expired, missing):
        with pytest.raises(store.ArchiveNotFound, match="gone or never existed"):
            _store(clients.s3, settings.export_bucket).find(SUB, text, now=NOW)


def test_delete_removes_only_the_users_own_archive(
    clients: Clients, settings: Settings, put_archive: Callable[..., str]
) -> None:
    mine = put_archive(SUB, created=NOW)
    theirs = put_archive(OTHER, created=NOW)
    bucket = settings.export_bucket

    with pytest.raises(store.ArchiveNotFound):
        _store(clients.s3, bucket).delete(SUB, theirs, now=NOW)
    deleted = _store(clients.s3, bucket).delete(SUB, mine, now=NOW)

    assert str(deleted.id) == mine
    keys = [o["Key"] for o in clients.s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == [f"exports/{OTHER}/{theirs}.zip"]
    with pytest.raises(store.ArchiveNotFound):  # a second delete: already gone
        _store(clients.s3, bucket).delete(SUB, mine, now=NOW)


def test_presigned_url_is_sigv4_short_lived_and_saves_a_named_zip(
    clients: Clients, settings: Settings, put_archive: Callable[..., str]
) -> None:
    text = put_archive(SUB, start=date(2025, 4, 1), end=date(2026, 3, 31), created=NOW)
    archive = _store(clients.s3, settings.export_bucket).find(SUB, text, now=NOW)

    url = _store(clients.s3, settings.export_bucket).presign_download(archive, expires_in=45)

    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "45"
    assert query["X-Amz-Credential"].endswith(f"/{settings.region}/s3/aws4_request")
    assert query["response-content-type"] == "application/zip"
    # Without a name given: the period and the creation time to the second (UTC).
    assert query["response-content-disposition"] == (
        'attachment; filename="kakeibo_2025-04-01_2026-03-31_20261125-120000.zip"; '
        "filename*=UTF-8''kakeibo_2025-04-01_2026-03-31_20261125-120000.zip"
    )
    named = _store(clients.s3, settings.export_bucket).presign_download(
        archive, expires_in=45, filename="kakeibo_x_csv+json.zip"
    )
    assert parse_qs(urlsplit(named).query)["response-content-disposition"] == [
        "attachment; filename=\"kakeibo_x_csv+json.zip\"; filename*=UTF-8''kakeibo_x_csv%2Bjson.zip"
    ]
    assert urlsplit(url).path == f"/{settings.export_bucket}/exports/{SUB}/{text}.zip"


@pytest.mark.parametrize(
    ("tag", "zone", "everything", "name"),
    [
        ("csv+json", UTC, False, "kakeibo_2025-01-01_2025-12-31_csv+json_20261202-213105.zip"),
        ("xlsx", UTC, False, "kakeibo_2025-01-01_2025-12-31_xlsx_20261202-213105.zip"),
        # Tokyo is 9 hours ahead: the time the page shows, on the next day there.
        ("csv-sjis", TOKYO, False, "kakeibo_2025-01-01_2025-12-31_csv-sjis_20261203-063105.zip"),
        (None, UTC, False, "kakeibo_2025-01-01_2025-12-31_20261202-213105.zip"),
        ("csv+json", TOKYO, True, "kakeibo_backup_csv+json_20261203-063105.zip"),
    ],
)
def test_download_names_say_period_formats_and_creation(
    tag: str | None, zone: Any, everything: bool, name: str
) -> None:
    made = datetime(2026, 12, 2, 21, 31, 5, tzinfo=UTC)
    archive_id = ArchiveId.new(date(2025, 1, 1), date(2025, 12, 31), now=made)
    assert store.download_filename(archive_id, tag=tag, zone=zone, everything=everything) == name


def test_two_archives_of_one_period_made_in_one_minute_get_two_names() -> None:
    first = ArchiveId.new(
        date(2025, 1, 1), date(2025, 12, 31), now=datetime(2026, 12, 2, 21, 31, 5, tzinfo=UTC)
    )
    second = ArchiveId.new(
        date(2025, 1, 1), date(2025, 12, 31), now=datetime(2026, 12, 2, 21, 31, 48, tzinfo=UTC)
    )
    assert store.download_filename(first, tag="csv+json") != store.download_filename(
        second, tag="csv+json"
    )


def test_delete_all_empties_only_the_users_own_prefix(
    clients: Clients, settings: Settings, put_archive: Callable[..., str]
) -> None:
    bucket = settings.export_bucket
    for day in range(1, 4):
        put_archive(SUB, start=date(2025, 1, day), end=date(2025, 1, day), created=NOW)
    theirs = put_archive(OTHER, created=NOW)
    # A longer sub that starts with ours, and our own automatic backup: both untouched.
    clients.s3.put_object(Bucket=bucket, Key=f"exports/{SUB}x/{theirs}.zip", Body=b"x")
    clients.s3.put_object(Bucket=bucket, Key=f"backups/{SUB}/{theirs}.zip", Body=b"x")

    assert _store(clients.s3, bucket).delete_all(SUB) == 3

    keys = sorted(o["Key"] for o in clients.s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == sorted(
        [
            f"backups/{SUB}/{theirs}.zip",
            f"exports/{OTHER}/{theirs}.zip",
            f"exports/{SUB}x/{theirs}.zip",
        ]
    )
    assert _store(clients.s3, bucket).delete_all(SUB) == 0


def test_presigned_url_uses_the_regional_virtual_hosted_endpoint_on_aws(
    settings: Settings,
) -> None:
    # Without a custom endpoint (a real deployment) the URL must name the
    # bucket's own region; signing needs no network, so this never calls AWS.
    aws = Settings(**{**settings.__dict__, "endpoint_url": None, "jwks_url": None})
    archive_id = ArchiveId.new(date(2025, 1, 1), date(2025, 12, 31), now=NOW)
    archive = store.StoredArchive(
        id=archive_id, key=archive_key(SUB, archive_id), size=1, expires=NOW
    )

    url = _store(Clients(aws).s3, "my-bucket").presign_download(archive, expires_in=60)

    parts = urlsplit(url)
    assert parts.scheme == "https"
    assert parts.netloc == f"my-bucket.s3.{settings.region}.amazonaws.com"
    assert parts.path == f"/exports/{SUB}/{archive_id}.zip"


@pytest.mark.parametrize(
    ("name", "header"),
    [
        (
            "kakeibo_2025-01-01_2025-12-31.zip",
            'attachment; filename="kakeibo_2025-01-01_2025-12-31.zip"; '
            "filename*=UTF-8''kakeibo_2025-01-01_2025-12-31.zip",
        ),
        (
            "家計簿 2025.zip",
            'attachment; filename="___ 2025.zip"; '
            "filename*=UTF-8''%E5%AE%B6%E8%A8%88%E7%B0%BF%202025.zip",
        ),
        ('a"b\\c.zip', "attachment; filename=\"a_b_c.zip\"; filename*=UTF-8''a%22b%5Cc.zip"),
        ("日本.zip", "attachment; filename=\"__.zip\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.zip"),
        ("Café.zip", "attachment; filename=\"Cafe.zip\"; filename*=UTF-8''Caf%C3%A9.zip"),
    ],
)
def test_content_disposition_has_ascii_and_rfc5987_names(name: str, header: str) -> None:
    assert store.content_disposition(name) == header


def test_s3_faults_become_our_errors(clients: Clients, settings: Settings) -> None:
    text = str(ArchiveId.new(date(2025, 1, 1), date(2025, 1, 31), now=NOW))
    with Stubber(clients.s3) as stub:
        stub.add_client_error("head_object", "404", http_status_code=404)
        stub.add_client_error("head_object", "AccessDenied", http_status_code=403)
        stub.add_client_error("list_objects_v2", "InternalError", http_status_code=500)
        stub.add_client_error("head_object", "InternalError", http_status_code=500)
        with pytest.raises(store.ArchiveNotFound):
            _store(clients.s3, "b").find(SUB, text, now=NOW)
        with pytest.raises(store.StorageError) as denied:
            _store(clients.s3, "b").find(SUB, text, now=NOW)
        assert not isinstance(denied.value, store.ArchiveNotFound)
        with pytest.raises(store.StorageError, match="could not be listed"):
            _store(clients.s3, "b").list(SUB, now=NOW)
        with pytest.raises(store.StorageError, match="could not be deleted|checked"):
            _store(clients.s3, "b").delete(SUB, text, now=NOW)
        stub.assert_no_pending_responses()


def test_delete_all_says_when_s3_kept_some_or_failed(clients: Clients) -> None:
    key = archive_key(SUB, ArchiveId.new(date(2025, 1, 1), date(2025, 1, 31), now=NOW))
    with Stubber(clients.s3) as stub:
        stub.add_response("list_objects_v2", {"Contents": [{"Key": key, "Size": 22}]})
        stub.add_response(
            "delete_objects", {"Errors": [{"Key": key, "Code": "AccessDenied", "Message": "no"}]}
        )
        stub.add_client_error("list_objects_v2", "InternalError", http_status_code=500)
        with pytest.raises(store.StorageError, match="Some archives could not be deleted"):
            _store(clients.s3, "b").delete_all(SUB)
        with pytest.raises(store.StorageError, match="The archives could not be deleted"):
            _store(clients.s3, "b").delete_all(SUB)
        stub.assert_no_pending_responses()
