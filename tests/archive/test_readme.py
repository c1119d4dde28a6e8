"""An archive's README.txt: the restore tool's origin and needs, times as on the page."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from datetime import UTC, date, datetime

from webapp.archive.ids import ArchiveId
from webapp.archive.readme import SEPARATOR, render_readme
from webapp.aws import Clients
from webapp.jobs import export
from webapp.jobs.job import Job, State, new_job_id
from webapp.jobs.queue import JobMessage, JobQueue
from webapp.local.worker import LocalWorker
from webapp.services import Services
from webapp.settings import Settings

ARCHIVE = ArchiveId(
    created=datetime(2026, 12, 2, 21, 31, 5, tzinfo=UTC),
    start=date(2025, 1, 1),
    end=date(2025, 12, 31),
    token="0123456789ab",
)


def _halves(readme: str) -> tuple[str, str]:
    english, japanese = readme.split(SEPARATOR)
    return english, japanese


def test_the_creation_time_is_in_the_display_time_zone_with_utc_beside_it() -> None:
    readme = render_readme(ARCHIVE, csv=True, json=True, timezone="Asia/Tokyo")
    # 21:31 UTC on the 2nd is 06:31 on the 3rd in Tokyo: the day the page shows.
    shown = "2026-12-03 06:31:05 JST (Asia/Tokyo) = 2026-12-02 21:31:05 UTC"
    for half in _halves(readme):
        assert shown in half


def test_another_time_zone_and_utc_itself() -> None:
    paris = render_readme(ARCHIVE, csv=True, json=True, timezone="Europe/Paris")
    assert "2026-12-02 22:31:05 CET (Europe/Paris) = 2026-12-02 21:31:05 UTC" in paris
    utc = render_readme(ARCHIVE, csv=True, json=True, timezone="UTC")
    english, _ = _halves(utc)
    assert "Created: 2026-12-02 21:31:05 UTC\r\n" in english


def test_the_restore_section_names_the_tool_its_origin_and_its_needs() -> None:
    english, japanese = _halves(render_readme(ARCHIVE, csv=False, json=True))
    for needed in (
        "Kakeibo Export, the project that made this",
        "flask --app webapp restore <this zip> --dry-run",
        "Python 3.11",
        "requirements.txt",
        "AWS credentials",
        "manifest.sig",
        'Restore from a file\r\n  on your PC..."',
        "Import from S3",
    ):
        assert needed in english, needed
    for needed in (
        "プロジェクト Kakeibo Export",
        "flask --app webapp restore <この zip> --dry-run",
        "requirements.txt",
        "AWS 認証情報",
        "「PC のファイルから復元…」",
    ):
        assert needed in japanese, needed


def test_an_archive_without_json_offers_no_restore_tool() -> None:
    readme = render_readme(ARCHIVE, csv=True, json=False)
    assert "flask --app webapp restore" not in readme
    assert "cannot bring your data back exactly" in readme


def test_the_worker_writes_readme_times_in_the_display_time_zone(
    clients: Clients, settings: Settings
) -> None:
    paris = replace(settings, display_timezone="Europe/Paris")
    store = Services(paris, clients).jobs
    sub = "readme-zone-user"
    created = datetime.now(UTC)
    job = store.create(
        Job(
            user_id=sub,
            id=new_job_id(created),
            kind=export.NAME,
            state=State.QUEUED,
            created_at=created,
            params={"start": "2025-01-01", "end": "2025-12-31", "formats": ["json"]},
            progress={"slips": 0, "balances": 0},
        )
    )
    JobQueue(clients.sqs, paris.jobs_queue_url).send(JobMessage(sub, job.id))
    assert LocalWorker(Services(paris, clients)).drain() == 1
    done = store.get(sub, job.id)
    assert done is not None and done.state is State.DONE, done
    listed = clients.s3.list_objects_v2(Bucket=paris.export_bucket, Prefix=f"exports/{sub}/")
    (entry,) = listed["Contents"]
    body = clients.s3.get_object(Bucket=paris.export_bucket, Key=entry["Key"])["Body"].read()
    readme = zipfile.ZipFile(io.BytesIO(body)).read("README.txt").decode("utf-8")
    assert "(Europe/Paris) = " in readme and " UTC" in readme
