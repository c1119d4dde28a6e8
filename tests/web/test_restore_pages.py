"""Restore from the page: the upload policy, preview, merge and replace, undo, refusals.

Each test goes through the page (Flask's test client) and the real jobs (the
``worker`` fixture runs what the queue holds), against moto's S3, DynamoDB and
SQS. Archives are made by the real export engine, signed with this
installation's key, unless a test needs a broken one.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import re
import secrets
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from support import csrf_token, run_export
from werkzeug.test import TestResponse

from webapp.archive.dates import DateRange
from webapp.archive.dynamo import put_items
from webapp.archive.ids import ArchiveId, archive_key
from webapp.archive.signing import SIGNATURE_NAME, sign
from webapp.aws import Clients
from webapp.jobs.job import State
from webapp.jobs.store import JobStore
from webapp.local.worker import LocalWorker
from webapp.secret_key import archive_keyring
from webapp.services import Services
from webapp.settings import Settings
from webapp.web.auth.session import User

SignIn = Callable[[User], None]
Item = dict[str, Any]
PERIOD = DateRange(date(2025, 5, 1), date(2025, 5, 31))


# --- data and archives -------------------------------------------------------------------


def slip(sub: str, n: int, *, day: int | None = None, memo: str = "") -> Item:
    """Return a typed slip in May 2025 (or on ``day`` of another month via ``sk``)."""
    return {
        "user_id": {"S": sub},
        "sk": {"S": f"2025-05-{day or 1 + n % 28:02d}#{n:05d}"},
        "amount": {"N": str(-100 - n)},
        "memo": {"S": memo or f"slip {n}"},
    }


def balance(sub: str, account: str) -> Item:
    return {"user_id": {"S": sub}, "sk": {"S": f"2025-05-31#{account}"}, "balance": {"N": "500"}}


def seed(clients: Clients, settings: Settings, sub: str, slips: int = 10) -> None:
    """Give ``sub`` slips and two balances in May 2025."""
    put_items(clients.dynamodb, settings.slips_table, [slip(sub, n) for n in range(slips)])
    put_items(
        clients.dynamodb,
        settings.balances_table,
        [balance(sub, "cash"), balance(sub, "bank")],
    )


def export(clients: Clients, settings: Settings, sub: str, **options: Any) -> ArchiveId:
    """Export ``sub``'s May 2025 with the real engine, signed; return the archive id."""
    result = run_export(
        dynamodb=clients.dynamodb,
        s3=clients.s3,
        bucket=settings.export_bucket,
        tables=settings.data_tables,
        sub=sub,
        date_range=PERIOD,
        signing_key=archive_keyring(settings, clients).current(),
        **options,
    )
    return result.archive_id


def download(clients: Clients, settings: Settings, sub: str, archive_id: ArchiveId) -> bytes:
    key = archive_key(sub, archive_id)
    return clients.s3.get_object(Bucket=settings.export_bucket, Key=key)["Body"].read()


def items(clients: Clients, table: str, sub: str) -> list[Item]:
    """Return all of ``sub``'s items of a table, in key order."""
    answer = clients.dynamodb.query(
        TableName=table,
        KeyConditionExpression="user_id = :u",
        ExpressionAttributeValues={":u": {"S": sub}},
    )
    return answer["Items"]


def state(clients: Clients, settings: Settings, sub: str) -> dict[str, list[Item]]:
    return {
        "slips": items(clients, settings.slips_table, sub),
        "balances": items(clients, settings.balances_table, sub),
    }


def delete(clients: Clients, table: str, sub: str, sk: str) -> None:
    clients.dynamodb.delete_item(TableName=table, Key={"user_id": {"S": sub}, "sk": {"S": sk}})


def rezip(
    body: bytes,
    change: Callable[[dict[str, bytes]], None],
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """Return the archive with its entries changed by ``change`` (name -> bytes)."""
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    change(entries)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return out.getvalue()


# --- the page ----------------------------------------------------------------------------


def job_id(response: TestResponse) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)
    path = urlsplit(response.headers["Location"]).path
    match = re.fullmatch(r"/restore/jobs/([^/]+)", path)
    assert match, path
    return match.group(1)


def preview(client: FlaskClient, source: str) -> TestResponse:
    return client.post(
        "/restore/preview", data={"source": source, "csrf_token": csrf_token(client)}
    )


def confirm(client: FlaskClient, job: str, mode: str = "merge", typed: str = "") -> TestResponse:
    return client.post(
        f"/restore/jobs/{job}/confirm",
        data={
            "mode": mode,
            "confirm": typed,
            "csrf_token": csrf_token(client, f"/restore/jobs/{job}"),
        },
    )


@pytest.fixture
def store(services: Services) -> JobStore:
    return services.jobs


@pytest.fixture
def signed_in(client: FlaskClient, user: User, login: SignIn) -> User:
    login(user)
    return user


def run_preview(
    client: FlaskClient, worker: LocalWorker, store: JobStore, sub: str, source: str
) -> Any:
    """Ask for a preview of ``source`` and run it; return the finished job."""
    found = job_id(preview(client, source))
    worker.drain()
    job = store.get(sub, found)
    assert job is not None and job.state is not State.QUEUED
    return job


# --- the upload form ---------------------------------------------------------------------


def upload_form(client: FlaskClient) -> tuple[str, dict[str, str]]:
    """Return the upload form's action and hidden fields, as the page renders them."""
    page = client.get("/restore/upload").get_data(as_text=True)
    form = re.search(r'<form[^>]*action="([^"]+)"[^>]*enctype="multipart/form-data"', page)
    assert form, page
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    unescape = {k: v.replace("&amp;", "&").replace("&#34;", '"') for k, v in fields.items()}
    return form.group(1).replace("&amp;", "&"), unescape


def test_the_upload_policy_fixes_key_size_type_redirect_and_lives_minutes(
    client: FlaskClient, signed_in: User, settings: Settings
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)  # the policy says whole seconds
    action, fields = upload_form(client)
    after = datetime.now(UTC)
    policy = json.loads(base64.b64decode(fields["policy"]))

    expires = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    # Ten minutes from when the page was drawn, however long drawing it took.
    assert before + timedelta(minutes=10) <= expires <= after + timedelta(minutes=10)
    conditions = policy["conditions"]
    key = fields["key"]
    assert re.fullmatch(rf"uploads/{signed_in.sub}/[0-9a-f]{{32}}\.zip", key)
    assert {"bucket": settings.export_bucket} in conditions
    assert {"key": key} in conditions
    assert {"Content-Type": "application/zip"} in conditions
    assert ["content-length-range", 1, 100 * 1024 * 1024] in conditions
    assert {"success_action_redirect": "http://localhost/restore/uploaded"} in conditions
    # Nothing else in the policy: no starts-with that would let the browser choose a key.
    assert len(conditions) == 5 + sum(1 for c in conditions if "x-amz" in json.dumps(c).lower())
    # A fresh key each time: two tabs never overwrite each other's upload.
    assert upload_form(client)[1]["key"] != key
    assert action.startswith(str(settings.endpoint_url))


def test_the_upload_page_lets_the_form_post_to_s3_and_nowhere_else(
    client: FlaskClient, signed_in: User, settings: Settings
) -> None:
    response = client.get("/restore/upload")
    policy = response.headers["Content-Security-Policy"]
    form_action = next(p for p in policy.split(";") if p.strip().startswith("form-action"))
    assert form_action.split()[1:] == ["'self'", str(settings.endpoint_url).rstrip("/")]
    # Other pages keep form-action to the site itself.
    assert "form-action 'self';" in client.get("/").headers["Content-Security-Policy"] + ";"


def test_a_presigned_post_to_s3_lands_the_zip_and_comes_back_to_the_page(
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
) -> None:
    seed(clients, settings, signed_in.sub)
    body = download(clients, settings, signed_in.sub, export(clients, settings, signed_in.sub))
    action, fields = upload_form(client)

    answer = requests.post(
        action,
        data=fields,
        files={"file": ("backup.zip", body, "application/zip")},
        allow_redirects=False,
        timeout=30,
    )

    assert answer.status_code == 303, answer.text
    back = urlsplit(answer.headers["Location"])
    assert back.path == "/restore/uploaded"
    page = client.get(f"/restore/uploaded?{back.query}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    token_hex = fields["key"].split("/")[-1].removesuffix(".zip")
    assert f'value="upload:{token_hex}"' in text
    stored = clients.s3.head_object(Bucket=settings.export_bucket, Key=fields["key"])
    assert stored["ContentLength"] == len(body)


def test_a_post_with_another_content_type_or_too_large_is_refused_by_the_policy(
    client: FlaskClient, signed_in: User, clients: Clients, settings: Settings
) -> None:
    action, fields = upload_form(client)
    wrong_type = requests.post(
        action,
        data={**fields, "Content-Type": "text/html"},
        files={"file": ("x.zip", b"PK", "text/html")},
        allow_redirects=False,
        timeout=30,
    )
    # moto checks neither the signature nor the conditions (see FINDINGS.md); AWS does.
    # What we can prove is that the page never offers a form without them (above) and
    # that nothing but the exact key is ever read back (below).
    assert wrong_type.status_code in (303, 400, 403)
    other = f"uploads/{signed_in.sub}/{'0' * 32}.zip"
    assert client.get(f"/restore/uploaded?key={other}").status_code == 404


def test_the_uploaded_page_refuses_a_key_outside_the_users_folder(
    client: FlaskClient,
    signed_in: User,
    make_user: Callable[[str], User],
    clients: Clients,
    settings: Settings,
) -> None:
    bob = make_user("bob@example.com")
    key = f"uploads/{bob.sub}/{'a' * 32}.zip"
    clients.s3.put_object(Bucket=settings.export_bucket, Key=key, Body=b"PK")
    for candidate in (key, f"exports/{signed_in.sub}/x.zip", "uploads/../x.zip", ""):
        assert client.get("/restore/uploaded", query_string={"key": candidate}).status_code == 404


# --- preview ------------------------------------------------------------------------------


def test_preview_counts_new_changed_unchanged_and_extra_exactly_and_writes_nothing(
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    store: JobStore,
) -> None:
    sub = signed_in.sub
    seed(clients, settings, sub, slips=10)
    archive = export(clients, settings, sub)
    # After the backup: two slips deleted, one edited, one added in May, one in June;
    # one balance edited.
    delete(clients, settings.slips_table, sub, slip(sub, 1)["sk"]["S"])
    delete(clients, settings.slips_table, sub, slip(sub, 2)["sk"]["S"])
    put_items(
        clients.dynamodb,
        settings.slips_table,
        [
            slip(sub, 3, memo="edited"),
            slip(sub, 50),
            {**slip(sub, 51), "sk": {"S": "2025-06-02#x"}},
        ],
    )
    put_items(
        clients.dynamodb, settings.balances_table, [{**balance(sub, "cash"), "balance": {"N": "9"}}]
    )
    before = state(clients, settings, sub)

    job = run_preview(client, worker, store, sub, f"archive:{archive}")

    assert job.state is State.DONE, job.error
    tables = job.result["tables"]
    counts = {
        t: {k: v for k, v in c.items() if k not in ("samples", "state")} for t, c in tables.items()
    }
    assert counts == {
        "slips": {"archived": 10, "new": 2, "changed": 1, "unchanged": 7, "extra": 1},
        "balances": {"archived": 2, "new": 0, "changed": 1, "unchanged": 1, "extra": 0},
    }
    # As the household knows its slips: the day (never the key), the memo, the amount.
    assert tables["slips"]["samples"]["changed"] == [
        {
            "fields": {"date": "2025-05-04", "memo": "slip 3", "amount": "-103"},
            "changes": [["memo", "edited", "slip 3"]],
            "other": False,
        }
    ]
    assert [s["fields"]["memo"] for s in tables["slips"]["samples"]["new"]] == ["slip 1", "slip 2"]
    assert [s["fields"]["memo"] for s in tables["slips"]["samples"]["extra"]] == ["slip 50"]
    assert state(clients, settings, sub) == before
    page = html.unescape(client.get(f"/restore/jobs/{job.id}").get_data(as_text=True))
    assert "May 4, 2025 · slip 3 · -¥103" in page
    assert "now edited → in the archive slip 3" in page
    assert "Memo" in page and "2025-05-04#" not in page  # no key in sight
    assert 'name="mode"' in page and 'name="confirm"' in page


def test_preview_shows_at_most_five_examples(
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    store: JobStore,
) -> None:
    sub = signed_in.sub
    seed(clients, settings, sub, slips=12)
    archive = export(clients, settings, sub)
    put_items(clients.dynamodb, settings.slips_table, [slip(sub, n, memo="x") for n in range(12)])
    job = run_preview(client, worker, store, sub, f"archive:{archive}")
    assert job.result["tables"]["slips"]["changed"] == 12
    assert len(job.result["tables"]["slips"]["samples"]["changed"]) == 5
    page = html.unescape(client.get(f"/restore/jobs/{job.id}").get_data(as_text=True))
    assert "(the first 5 of 12)" in page


# --- merge, replace, undo -----------------------------------------------------------------


def _changed_after_backup(clients: Clients, settings: Settings, sub: str) -> ArchiveId:
    seed(clients, settings, sub, slips=10)
    archive = export(clients, settings, sub)
    delete(clients, settings.slips_table, sub, slip(sub, 4)["sk"]["S"])
    put_items(
        clients.dynamodb,
        settings.slips_table,
        [
            slip(sub, 5, memo="edited"),
            slip(sub, 60),
            {**slip(sub, 61), "sk": {"S": "2025-06-09#y"}},
        ],
    )
    return archive


def _restore(
    client: FlaskClient,
    worker: LocalWorker,
    store: JobStore,
    sub: str,
    source: str,
    mode: str,
    typed: str = "",
) -> Any:
    checked = run_preview(client, worker, store, sub, source)
    assert checked.state is State.DONE, checked.error
    restoring = job_id(confirm(client, checked.id, mode, typed))
    worker.drain()
    done = store.get(sub, restoring)
    assert done is not None and done.state is State.DONE, done and done.error
    return done


def test_merge_puts_back_the_archive_and_keeps_what_is_new_since(
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    store: JobStore,
) -> None:
    sub = signed_in.sub
    archive = _changed_after_backup(clients, settings, sub)
    done = _restore(client, worker, store, sub, f"archive:{archive}", "merge")

    expected = sorted(
        [slip(sub, n) for n in range(10)]
        + [slip(sub, 60), {**slip(sub, 61), "sk": {"S": "2025-06-09#y"}}],
        key=lambda i: i["sk"]["S"],
    )
    assert items(clients, settings.slips_table, sub) == expected
    assert done.result["mode"] == "merge"
    assert done.result["tables"]["slips"] == {
        "archived": 10,
        "written": 2,
        "deleted": 0,
        "unchanged": 8,
        "kept": 1,
    }
    assert done.result["elapsed_ms"] >= 0
    page = client.get(f"/restore/jobs/{done.id}").get_data(as_text=True)
    assert "Restored the archive of" in page and "Undo this restore" in page


def test_replace_makes_the_period_exactly_the_archive_and_twice_changes_nothing(
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    store: JobStore,
    make_user: Callable[[str], User],
) -> None:
    sub = signed_in.sub
    bob = make_user("bob@example.com")
    seed(clients, settings, bob.sub, slips=3)
    bobs = state(clients, settings, bob.sub)
    archive = _changed_after_backup(clients, settings, sub)

    done = _restore(client, worker, store, sub, f"archive:{archive}", "replace", "replace")

    june = {**slip(sub, 61), "sk": {"S": "2025-06-09#y"}}
    assert items(clients, settings.slips_table, sub) == [slip(sub, n) for n in range(10)] + [june]
    assert done.result["tables"]["slips"] == {
        "archived": 10,
        "written": 2,
        "deleted": 1,
        "unchanged": 8,
        "kept": 0,
    }
    # Nothing outside the user's partition moved.
    assert state(clients, settings, bob.sub) == bobs
    once = state(clients, settings, sub)
    again = _restore(client, worker, store, sub, f"archive:{archive}", "replace", "置き換え")
    assert state(clients, settings, sub) == once
    assert again.result["tables"]["slips"]["written"] == 0
    assert again.result["tables"]["slips"]["deleted"] == 0


def test_restoring_the_undo_archive_returns_the_table_to_before_the_restore(
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    store: JobStore,
) -> None:
    sub = signed_in.sub
    archive = _changed_after_backup(clients, settings, sub)
    before = state(clients, settings, sub)
    done = _restore(client, worker, store, sub, f"archive:{archive}", "replace", "replace")
    assert state(clients, settings, sub) != before

    undo = done.result["undo_archive_id"]
    listing = html.unescape(client.get("/").get_data(as_text=True))
    assert "Before the restore of" in listing and "from the archive of May 1, 2025" in listing
    # The before-restore archive's row offers the undo, not an ordinary restore.
    assert f"/restore/jobs/{done.id}/undo" in listing
    assert f"/restore/archives/{undo}" not in listing

    undone = _undo(client, worker, store, sub, done.id)
    assert undone.result["mode"] == "replace"
    after = state(clients, settings, sub)
    # The June slip lies outside the archive's period: untouched throughout.
    assert after == before


def _undo(client: FlaskClient, worker: LocalWorker, store: JobStore, sub: str, restore: str) -> Any:
    """Press "Undo this restore…", then "Undo the restore" on the check it shows."""
    started = client.post(
        f"/restore/jobs/{restore}/undo",
        data={"csrf_token": csrf_token(client, f"/restore/jobs/{restore}")},
    )
    checked = job_id(started)
    worker.drain()
    page = html.unescape(client.get(f"/restore/jobs/{checked}").get_data(as_text=True))
    assert "Undo the restore of" in page and 'name="mode"' not in page
    undoing = job_id(
        client.post(
            f"/restore/jobs/{checked}/confirm",
            data={"csrf_token": csrf_token(client, f"/restore/jobs/{checked}")},
        )
    )
    worker.drain()
    done = store.get(sub, undoing)
    assert done is not None and done.state is State.DONE, done and done.error
    return done


def test_a_restore_of_an_upload_deletes_the_upload_once_used(
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    store: JobStore,
) -> None:
    sub = signed_in.sub
    archive = _changed_after_backup(clients, settings, sub)
    token_hex = "b" * 32
    key = f"uploads/{sub}/{token_hex}.zip"
    body = download(clients, settings, sub, archive)
    clients.s3.put_object(Bucket=settings.export_bucket, Key=key, Body=body)

    _restore(client, worker, store, sub, f"upload:{token_hex}", "merge")

    restored = items(clients, settings.slips_table, sub)
    assert all(slip(sub, n) in restored for n in range(10))
    listed = clients.s3.list_objects_v2(Bucket=settings.export_bucket, Prefix="uploads/")
    assert listed.get("KeyCount", 0) == 0


def test_an_upload_replaced_after_the_preview_is_not_restored(
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    store: JobStore,
) -> None:
    sub = signed_in.sub
    archive = _changed_after_backup(clients, settings, sub)
    key = f"uploads/{sub}/{'c' * 32}.zip"
    body = download(clients, settings, sub, archive)
    clients.s3.put_object(Bucket=settings.export_bucket, Key=key, Body=body)
    checked = run_preview(client, worker, store, sub, f"upload:{'c' * 32}")
    before = state(clients, settings, sub)
    # Another tab uploads a different file under the same key after the check.
    clients.s3.put_object(Bucket=settings.export_bucket, Key=key, Body=body + b"")
    clients.s3.put_object(Bucket=settings.export_bucket, Key=key, Body=rezip(body, lambda e: None))
    restoring = job_id(confirm(client, checked.id, "merge"))
    worker.drain()
    failed = store.get(sub, restoring)
    assert failed is not None and failed.state is State.FAILED
    assert failed.error == "The file changed after it was checked. Please start the restore again."
    assert state(clients, settings, sub) == before


# --- the confirmation --------------------------------------------------------------------


def test_replace_needs_the_typed_word_and_queues_nothing_without_it(
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    store: JobStore,
) -> None:
    sub = signed_in.sub
    archive = _changed_after_backup(clients, settings, sub)
    checked = run_preview(client, worker, store, sub, f"archive:{archive}")
    jobs_before = len(store.list(sub))

    for typed in ("", "replac", "merge"):
        answer = confirm(client, checked.id, "replace", typed)
        assert answer.status_code == 400
        assert "type “replace” to confirm it" in answer.get_data(as_text=True)
    assert confirm(client, checked.id, "everything").status_code == 400
    assert len(store.list(sub)) == jobs_before
    # Typed in full-width or capitals, the word still counts.
    assert confirm(client, checked.id, "replace", " ＲＥＰＬＡＣＥ ").status_code == 303


def test_restore_posts_need_the_csrf_token(
    app: Flask,
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    store: JobStore,
) -> None:
    sub = signed_in.sub
    archive = _changed_after_backup(clients, settings, sub)
    checked = run_preview(client, worker, store, sub, f"archive:{archive}")
    count = len(store.list(sub))
    assert client.post("/restore/preview", data={"source": f"archive:{archive}"}).status_code == 400
    answer = client.post(f"/restore/jobs/{checked.id}/confirm", data={"mode": "merge"})
    assert answer.status_code == 400
    assert len(store.list(sub)) == count


def test_another_users_restore_jobs_and_archives_are_not_found(
    client: FlaskClient,
    user: User,
    login: SignIn,
    make_user: Callable[[str], User],
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    store: JobStore,
) -> None:
    login(user)
    archive = _changed_after_backup(clients, settings, user.sub)
    checked = run_preview(client, worker, store, user.sub, f"archive:{archive}")
    bob = make_user("bob@example.com")
    login(bob)
    assert client.get(f"/restore/jobs/{checked.id}").status_code == 404
    assert confirm(client, checked.id, "merge").status_code == 404
    assert client.get(f"/restore/archives/{archive}").status_code == 404
    assert preview(client, f"archive:{archive}").status_code == 404
    # An export job is not a restore job either.
    assert client.get("/restore/jobs/not-a-job").status_code == 404


# --- refusals -------------------------------------------------------------------------------


def _upload(clients: Clients, settings: Settings, sub: str, body: bytes, token_hex: str) -> str:
    clients.s3.put_object(
        Bucket=settings.export_bucket, Key=f"uploads/{sub}/{token_hex}.zip", Body=body
    )
    return f"upload:{token_hex}"


def _resign(settings: Settings, clients: Clients) -> Callable[[dict[str, bytes]], None]:
    key = archive_keyring(settings, clients).current()

    def resign(entries: dict[str, bytes]) -> None:
        entries[SIGNATURE_NAME] = sign(entries["manifest.json"], key)

    return resign


def _oversized(settings: Settings, clients: Clients) -> Callable[[dict[str, bytes]], None]:
    """Swap in a slips.json whose one item is over 400 KB, listed and signed correctly."""
    resign = _resign(settings, clients)

    def change(entries: dict[str, bytes]) -> None:
        manifest = json.loads(entries["manifest.json"])
        sub = manifest["user_sub"]
        # Random text: it does not compress, so only the item's size is wrong.
        memo = secrets.token_hex(205_000)
        big = {"user_id": {"S": sub}, "sk": {"S": "2025-05-01#big"}, "memo": {"S": memo}}
        body = (json.dumps({"Item": big}) + "\n").encode()
        entries["slips.json"] = body
        listed = manifest["tables"]["slips"]
        listed["item_count"] = 1
        listed["files"]["slips.json"].update(
            bytes=len(body), sha256=hashlib.sha256(body).hexdigest()
        )
        entries["manifest.json"] = json.dumps(manifest).encode()
        resign(entries)

    return change


def _nested(settings: Settings, clients: Clients) -> Callable[[dict[str, bytes]], None]:
    """Add a slip nested 100,000 lists deep (past Python's recursion limit), signed correctly."""
    resign = _resign(settings, clients)

    def change(entries: dict[str, bytes]) -> None:
        manifest = json.loads(entries["manifest.json"])
        body = entries["slips.json"] + b'{"Item": {"a": ' + b"[" * 100_000 + b"]" * 100_000
        body += b"}}\n"
        entries["slips.json"] = body
        manifest["tables"]["slips"]["files"]["slips.json"].update(
            bytes=len(body), sha256=hashlib.sha256(body).hexdigest()
        )
        entries["manifest.json"] = json.dumps(manifest).encode()
        resign(entries)

    return change


def _bomb() -> bytes:
    """Return a small zip that inflates to 60 MB of zeros (a thousand times its size)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("slips.json", "w", force_zip64=True) as fh:
            chunk = bytes(1 << 20)
            for _ in range(60):
                fh.write(chunk)
        zf.writestr("manifest.json", b"{}")
    return out.getvalue()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        ("other-user", "This archive belongs to another account."),
        ("tampered", "the archive's signature does not match"),
        # The outside tester's forgery: another user's archive, its owner edited to ours.
        ("forged-owner", "the archive's signature does not match"),
        ("unsigned", "the archive is not signed"),
        ("nested", "not a line of DynamoDB JSON"),
        ("csv-only", "the archive holds slips as CSV only, which cannot be restored exactly"),
        ("bomb", "looks like a zip bomb, so it is not opened"),
        ("oversized", "400 KB"),
        ("not-a-zip", "is not a zip archive"),
    ],
)
def test_a_bad_upload_is_refused_with_its_message_and_nothing_is_written(
    client: FlaskClient,
    signed_in: User,
    make_user: Callable[[str], User],
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    store: JobStore,
    make: str,
    message: str,
) -> None:
    sub = signed_in.sub
    seed(clients, settings, sub)
    own = download(clients, settings, sub, export(clients, settings, sub))
    if make == "other-user":
        bob = make_user("bob@example.com")
        seed(clients, settings, bob.sub)
        body = download(clients, settings, bob.sub, export(clients, settings, bob.sub))
    elif make == "tampered":

        def later(entries: dict[str, bytes]) -> None:
            manifest = json.loads(entries["manifest.json"])
            manifest["range"]["end"] = "2025-12-31"
            entries["manifest.json"] = json.dumps(manifest).encode()

        body = rezip(own, later)
    elif make == "forged-owner":
        bob = make_user("bob@example.com")
        seed(clients, settings, bob.sub)
        theirs = download(clients, settings, bob.sub, export(clients, settings, bob.sub))

        def owned(entries: dict[str, bytes]) -> None:
            manifest = json.loads(entries["manifest.json"])
            manifest["user_sub"] = sub
            entries["manifest.json"] = json.dumps(manifest).encode()

        body = rezip(theirs, owned)
    elif make == "nested":
        # Stored: deflated brackets would look like a zip bomb.
        body = rezip(own, _nested(settings, clients), zipfile.ZIP_STORED)
    elif make == "unsigned":
        body = rezip(own, lambda entries: entries.pop(SIGNATURE_NAME))
    elif make == "csv-only":
        body = download(clients, settings, sub, export(clients, settings, sub, formats={"csv"}))
    elif make == "bomb":
        body = _bomb()
    elif make == "oversized":
        body = rezip(own, _oversized(settings, clients))
    else:
        body = b"this is not a zip"
    delete(clients, settings.slips_table, sub, slip(sub, 0)["sk"]["S"])
    before = state(clients, settings, sub)

    job = run_preview(client, worker, store, sub, _upload(clients, settings, sub, body, "d" * 32))

    assert job.state is State.FAILED
    assert job.error
    assert state(clients, settings, sub) == before
    page = html.unescape(client.get(f"/restore/jobs/{job.id}").get_data(as_text=True))
    assert message.lower() in page.lower()
    assert 'name="confirm"' not in page


# --- a check is confirmed once, and only while it still shows the truth (issue 23) -------------


def _check(client: FlaskClient, worker: LocalWorker, store: JobStore, sub: str, source: str) -> Any:
    checked = run_preview(client, worker, store, sub, source)
    assert checked.state is State.DONE, checked.error
    return checked


def _restore_jobs(store: JobStore, sub: str) -> list[Any]:
    return [job for job in store.list(sub) if job.kind == "restore"]


def _archive_count(clients: Clients, settings: Settings, sub: str) -> int:
    listed = clients.s3.list_objects_v2(Bucket=settings.export_bucket, Prefix=f"exports/{sub}/")
    return int(listed.get("KeyCount", 0))


@pytest.mark.parametrize(("mode", "typed"), [("merge", ""), ("replace", "replace")])
def test_a_check_is_confirmed_once_and_a_second_confirm_writes_nothing(
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    store: JobStore,
    mode: str,
    typed: str,
) -> None:
    sub = signed_in.sub
    archive = _changed_after_backup(clients, settings, sub)
    checked = _check(client, worker, store, sub, f"archive:{archive}")

    first = job_id(confirm(client, checked.id, mode, typed))
    second = confirm(client, checked.id, mode, typed)  # a double click, before the worker ran
    assert second.status_code == 409
    page = html.unescape(second.get_data(as_text=True))
    assert "This check has already been used" in page
    assert f"/restore/jobs/{first}" in page  # the way to the restore it started
    assert len(_restore_jobs(store, sub)) == 1
    worker.drain()
    once = state(clients, settings, sub)
    archives = _archive_count(clients, settings, sub)

    third = confirm(client, checked.id, mode, typed)  # the reopened, already-applied page
    assert third.status_code == 409
    worker.drain()
    assert state(clients, settings, sub) == once
    assert _archive_count(clients, settings, sub) == archives  # no second before-archive
    page = html.unescape(client.get(f"/restore/jobs/{checked.id}").get_data(as_text=True))
    assert "This check has been used for a restore." in page and 'name="mode"' not in page


def _add(clients: Clients, settings: Settings, sub: str) -> None:
    put_items(clients.dynamodb, settings.slips_table, [slip(sub, 70)])


def _edit(clients: Clients, settings: Settings, sub: str) -> None:
    put_items(clients.dynamodb, settings.slips_table, [slip(sub, 6, memo="edited later")])


def _remove(clients: Clients, settings: Settings, sub: str) -> None:
    delete(clients, settings.slips_table, sub, slip(sub, 7)["sk"]["S"])


@pytest.mark.parametrize("change", [_add, _edit, _remove], ids=["added", "changed", "deleted"])
@pytest.mark.parametrize(("mode", "typed"), [("merge", ""), ("replace", "replace")])
def test_a_confirm_after_the_period_changed_writes_nothing_and_asks_for_a_new_check(
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    store: JobStore,
    change: Callable[[Clients, Settings, str], None],
    mode: str,
    typed: str,
) -> None:
    sub = signed_in.sub
    archive = _changed_after_backup(clients, settings, sub)
    checked = _check(client, worker, store, sub, f"archive:{archive}")
    change(clients, settings, sub)  # a slip of the period changes after the check
    before, archives = state(clients, settings, sub), _archive_count(clients, settings, sub)

    restoring = job_id(confirm(client, checked.id, mode, typed))
    worker.drain()

    refused = store.get(sub, restoring)
    assert refused is not None and refused.state is State.FAILED
    assert state(clients, settings, sub) == before
    assert _archive_count(clients, settings, sub) == archives
    page = html.unescape(client.get(f"/restore/jobs/{restoring}").get_data(as_text=True))
    assert "Your account book changed in this period after the check" in page
    assert f"/restore/jobs/{restoring}/again" in page  # "Check the archive again"
    again = client.post(
        f"/restore/jobs/{restoring}/again",
        data={"csrf_token": csrf_token(client, f"/restore/jobs/{restoring}")},
    )
    worker.drain()
    fresh = store.get(sub, job_id(again))
    assert fresh is not None and fresh.state is State.DONE and fresh.kind == "preview"


def test_an_old_check_asks_to_be_made_again_and_writes_nothing(
    app: Flask,
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    store: JobStore,
) -> None:
    sub = signed_in.sub
    archive = _changed_after_backup(clients, settings, sub)
    checked = _check(client, worker, store, sub, f"archive:{archive}")
    before = state(clients, settings, sub)
    # The page is opened (and confirmed) 31 minutes after the check was made.
    later = datetime.now(UTC) + timedelta(minutes=settings.restore_check_minutes + 1)
    app.extensions["kakeibo.services"].clock = lambda: later

    page = html.unescape(client.get(f"/restore/jobs/{checked.id}").get_data(as_text=True))
    assert "This check is more than 30 minutes old" in page and 'name="mode"' not in page
    refused = confirm(client, checked.id, "merge")
    assert refused.status_code == 409
    worker.drain()
    assert _restore_jobs(store, sub) == [] and state(clients, settings, sub) == before


def test_a_merge_that_writes_nothing_makes_no_archive_from_before(
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    store: JobStore,
) -> None:
    sub = signed_in.sub
    seed(clients, settings, sub)
    archive = export(clients, settings, sub)
    archives = _archive_count(clients, settings, sub)

    done = _restore(client, worker, store, sub, f"archive:{archive}", "merge")

    assert "undo_archive_id" not in done.result
    assert _archive_count(clients, settings, sub) == archives
    page = html.unescape(client.get(f"/restore/jobs/{done.id}").get_data(as_text=True))
    assert "Nothing needed to change" in page and "Undo this restore" not in page


def test_an_undo_can_be_undone_and_each_archive_from_before_is_named_apart(
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    store: JobStore,
) -> None:
    sub = signed_in.sub
    archive = _changed_after_backup(clients, settings, sub)
    changed = state(clients, settings, sub)
    done = _restore(client, worker, store, sub, f"archive:{archive}", "replace", "replace")
    restored = state(clients, settings, sub)

    undone = _undo(client, worker, store, sub, done.id)
    assert state(clients, settings, sub) == changed
    page = html.unescape(client.get(f"/restore/jobs/{undone.id}").get_data(as_text=True))
    assert "Undo this undo" in page

    _undo(client, worker, store, sub, undone.id)
    assert state(clients, settings, sub) == restored
    listing = html.unescape(client.get("/").get_data(as_text=True))
    labels = re.findall(r'class="archive__label">([^<]+)<', listing)
    assert len(labels) == 3 and len(set(labels)) == 3, labels
    assert sum("Before the undo of" in label for label in labels) == 2


def test_checks_stay_out_of_the_archive_list_and_can_be_put_away(
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    store: JobStore,
) -> None:
    sub = signed_in.sub
    failed = run_preview(
        client,
        worker,
        store,
        sub,
        _upload(clients, settings, sub, b"PK\x03\x04 not a zip", "e" * 32),
    )
    assert failed.state is State.FAILED
    page = html.unescape(client.get("/").get_data(as_text=True))
    table = page[page.index('id="archives-heading"') : page.index('id="checks-heading"')]
    assert f"job-{failed.id}" not in table  # the archive list holds archives
    checks = page[page.index('id="checks-heading"') : page.index('id="backups-heading"')]
    assert f"job-{failed.id}" in checks and "Check of" in checks

    put_away = client.post(
        f"/restore/jobs/{failed.id}/dismiss", data={"csrf_token": csrf_token(client)}
    )
    assert put_away.status_code == 303
    assert 'id="checks-heading"' not in client.get("/").get_data(as_text=True)


def test_no_restore_is_offered_for_an_archive_without_dynamodb_json(
    client: FlaskClient, signed_in: User, clients: Clients, settings: Settings, worker: LocalWorker
) -> None:
    sub = signed_in.sub
    seed(clients, settings, sub)
    answer = client.post(
        "/exports",
        data={
            "start": "2025-05-01",
            "end": "2025-05-31",
            "formats": "csv",
            "csrf_token": csrf_token(client),
        },
    )
    assert answer.status_code == 303
    worker.drain()
    page = html.unescape(client.get("/").get_data(as_text=True))
    assert "Cannot be restored (no DynamoDB JSON)" in page
    assert "/restore/archives/" not in page


def test_an_uploaded_file_that_is_not_a_zip_is_refused_at_once_and_removed(
    client: FlaskClient, signed_in: User, clients: Clients, settings: Settings, store: JobStore
) -> None:
    sub = signed_in.sub
    key = f"uploads/{sub}/{'f' * 32}.zip"
    clients.s3.put_object(
        Bucket=settings.export_bucket,
        Key=key,
        Body=b"25 bytes of plain text..\n",
        Metadata={"filename": "notes%20(%E5%AE%B6%E8%A8%88%E7%B0%BF).txt"},
    )
    answer = client.get("/restore/uploaded", query_string={"key": key})
    assert answer.status_code == 400
    page = html.unescape(answer.get_data(as_text=True))
    alert = re.search(r'role="alert">([^<]+)<', page)
    assert alert and alert.group(1).startswith("notes (家計簿).txt is not a zip file")
    assert clients.s3.list_objects_v2(Bucket=settings.export_bucket).get("KeyCount") == 0
    assert store.list(sub) == []


def test_an_upload_is_named_and_sized_when_it_arrives(
    client: FlaskClient, signed_in: User, clients: Clients, settings: Settings
) -> None:
    sub = signed_in.sub
    seed(clients, settings, sub)
    body = download(clients, settings, sub, export(clients, settings, sub))
    key = f"uploads/{sub}/{'a' * 32}.zip"
    clients.s3.put_object(
        Bucket=settings.export_bucket,
        Key=key,
        Body=body,
        Metadata={"filename": "kakeibo_2025-05-01_2025-05-31.zip"},
    )
    page = html.unescape(
        client.get("/restore/uploaded", query_string={"key": key}).get_data(as_text=True)
    )
    assert "kakeibo_2025-05-01_2025-05-31.zip" in page
    assert re.search(r"<dd>\d+(\.\d)? KB</dd>", page)
