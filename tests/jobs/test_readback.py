"""Every archive a job makes is read back from S3 before the job counts as done."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient
from support import Spy, damage_exports, truncate

from webapp.archive.dynamo import put_items
from webapp.archive.export import Exporter
from webapp.archive.verify import ArchiveDamaged, verify_stored
from webapp.aws import Clients
from webapp.jobs import export
from webapp.jobs.backup import backup_job_id
from webapp.jobs.dispatcher import run_schedule
from webapp.jobs.job import Job, State
from webapp.jobs.queue import JobMessage
from webapp.jobs.readback import BACKUP_DAMAGED, EXPORT_DAMAGED
from webapp.local.worker import LocalWorker
from webapp.services import Services
from webapp.settings import Settings
from webapp.web.auth.session import User

TODAY = date(2026, 12, 3)
SUB = "0a1b2c3d-0000-4000-8000-0000000check"


def _seed(clients: Clients, settings: Settings, sub: str = SUB) -> None:
    slips = [
        {"user_id": {"S": sub}, "sk": {"S": f"2026-11-{n:02d}#{n:04d}"}, "amount": {"N": str(-n)}}
        for n in range(1, 21)
    ]
    put_items(clients.dynamodb, settings.slips_table, slips)
    balance = {"user_id": {"S": sub}, "sk": {"S": "2026-11-30#cash"}, "balance": {"N": "5"}}
    put_items(clients.dynamodb, settings.balances_table, [balance])


def flip_inside(name: str) -> Callable[[bytes], bytes]:
    """Return a damage that flips one byte of ``name``'s compressed data (sizes unchanged)."""

    def damage(body: bytes) -> bytes:
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            info = zf.getinfo(name)
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        spot = start + info.compress_size // 2
        return body[:spot] + bytes([body[spot] ^ 0xFF]) + body[spot + 1 :]

    return damage


def _objects(clients: Clients, settings: Settings, prefix: str) -> list[str]:
    listed = clients.s3.list_objects_v2(Bucket=settings.export_bucket, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


def _sent(clients: Clients) -> int:
    return int(clients.ses.get_send_quota()["SentLast24Hours"])


def test_a_backup_is_read_back_whole_and_the_proof_recorded(
    services: Services, clients: Clients, settings: Settings, worker: LocalWorker
) -> None:
    _seed(clients, settings)
    services.backup_prefs.choose(SUB, "weekly", today=TODAY, email=None)
    run_schedule(services, TODAY)
    worker.drain()

    job = services.jobs.get(SUB, backup_job_id(TODAY))
    assert job is not None and job.state is State.DONE, job and job.error
    assert job.result["verified"] == {
        "kid": "static",
        "counts": {"slips": 20, "balances": 1},
        "full": True,
    }


@pytest.mark.parametrize("damage", [flip_inside("slips.json"), truncate], ids=["flipped", "cut"])
def test_a_backup_damaged_after_upload_fails_is_deleted_and_mailed(
    damage: Callable[[bytes], bytes], clients: Clients, settings: Settings
) -> None:
    wired = Services(
        replace(settings, notify_from="backups@kakeibo.example", site_url="https://k.example/"),
        clients,
    )
    _seed(clients, settings)
    wired.backup_prefs.choose(SUB, "weekly", today=TODAY, email="alice@example.com")
    damage_exports(wired, damage)
    before = _sent(clients)

    run_schedule(wired, TODAY)
    LocalWorker(wired).drain()

    job = wired.jobs.get(SUB, backup_job_id(TODAY))
    assert job is not None and job.state is State.FAILED
    assert job.error == BACKUP_DAMAGED
    # Not listed as a backup: the damaged archive is gone.
    assert _objects(clients, settings, f"backups/{SUB}/") == []
    choice = wired.backup_prefs.get(SUB)
    assert choice.last["state"] == "failed" and choice.last["error"] == BACKUP_DAMAGED
    assert choice.next_run == TODAY  # still due: tomorrow's dispatch tries again
    assert _sent(clients) - before == 1


def _export_job(services: Services) -> Job:
    params = export.ExportParams(start=date(2026, 11, 1), end=date(2026, 11, 30))
    job = Job.queued(SUB, export.NAME, params.to_dict(), services.now())
    services.jobs.create(job)
    return job


def test_an_export_is_read_back_cheaply_with_ranged_reads(
    services: Services, clients: Clients, settings: Settings
) -> None:
    from webapp.jobs.worker import Worker

    _seed(clients, settings)
    job = _export_job(services)
    spy = Spy(clients.s3)
    services.clients.s3 = spy  # type: ignore[misc]
    services.exporter = Exporter(  # type: ignore[misc]
        clients.dynamodb,
        settings.data_tables,
        clients.s3,
        settings.export_bucket,
        signing_key=services.keyring.current(),
    )

    Worker(services).process(JobMessage(SUB, job.id).to_json())

    done = services.jobs.get(SUB, job.id)
    assert done is not None and done.state is State.DONE, done and done.error
    assert done.result["verified"]["full"] is False
    assert done.result["verified"]["counts"] == {"slips": 20, "balances": 1}
    reads = [call for name, call in spy.calls if name == "get_object"]
    # The zip's end and directory, then the manifest and signature: a few small reads.
    assert reads and all("Range" in call for call in reads)
    assert len(reads) <= 4


def test_an_export_damaged_after_upload_fails_and_is_deleted(
    services: Services, clients: Clients, settings: Settings
) -> None:
    from webapp.jobs.worker import Worker

    _seed(clients, settings)
    job = _export_job(services)
    damage_exports(services, truncate)

    Worker(services).process(JobMessage(SUB, job.id).to_json())

    failed = services.jobs.get(SUB, job.id)
    assert failed is not None and failed.state is State.FAILED
    assert failed.error == EXPORT_DAMAGED
    assert _objects(clients, settings, f"exports/{SUB}/") == []


@pytest.mark.parametrize("full", [False, True])
def test_reading_back_refuses_another_signature_and_other_counts(
    full: bool, services: Services, clients: Clients, settings: Settings
) -> None:
    from webapp.archive.dates import DateRange
    from webapp.archive.export import ExportRequest
    from webapp.archive.signing import SigningKey, StaticKeyring

    _seed(clients, settings)
    made = services.exporter.export(
        ExportRequest(SUB, DateRange(date(2026, 11, 1), date(2026, 11, 30)))
    )

    def check(**overrides: Any) -> None:
        arguments: dict[str, Any] = {
            "size": made.size,
            "counts": made.counts,
            "full": full,
            "keyring": services.keyring,
            **overrides,
        }
        keyring = arguments.pop("keyring")
        verify_stored(clients.s3, settings.export_bucket, made.key, keyring, **arguments)

    check()
    with pytest.raises(ArchiveDamaged, match="signature"):
        check(keyring=StaticKeyring(SigningKey("other", b"k" * 32)))
    with pytest.raises(ArchiveDamaged, match="counts"):
        check(counts={"slips": 21, "balances": 1})
    with pytest.raises(ArchiveDamaged, match="bytes stored"):
        check(size=made.size + 1)


def test_the_list_says_verified_only_on_rows_read_back(
    client: FlaskClient,
    user: User,
    login: Callable[[User], None],
    services: Services,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
    put_archive: Callable[..., str],
) -> None:
    _seed(clients, settings, user.sub)
    services.backup_prefs.choose(user.sub, "weekly", today=TODAY, email=None)
    run_schedule(services, TODAY)
    worker.drain()
    job = services.jobs.get(user.sub, backup_job_id(TODAY))
    assert job is not None and job.state is State.DONE
    unchecked = put_archive(user.sub)  # no job record: nothing says it was read back
    login(user)

    page = client.get("/").get_data(as_text=True)
    backup_row = page.split(f'id="backup-{job.result["archive_id"]}"')[1].split("</tr>")[0]
    export_row = page.split(f'id="archive-{unchecked}"')[1].split("</tr>")[0]
    assert "Verified" in backup_row
    assert "Verified" not in export_row
