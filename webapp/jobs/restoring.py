"""Restore jobs: preview what an archive would change, then restore it, with an undo archive.

Both read the archive from S3 into a temporary file (an upload from the user's
PC under ``uploads/<sub>/``, or one of their archives under ``exports/<sub>/``):
the key is built from the job's verified user and never taken from a message or
a form. Before anything is compared the archive must be signed by this
installation and be the user's own; then the core verifies every file and item.
The restore itself writes only in the user's partition and the archive's period,
and makes an ordinary archive of that period first, so the restore can be undone.

Why this long: preview and restore are one procedure in two halves (the second
must read exactly what the first checked), and reading them side by side is how
one sees that they do.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import IO, TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..archive.dates import DateRange
from ..archive.errors import RestoreError
from ..archive.export import Exporter, ExportRequest, ExportResult
from ..archive.ids import (
    BACKUP_PREFIX,
    EXPORT_PREFIX,
    UPLOAD_PREFIX,
    ArchiveId,
    archive_key,
    upload_key,
)
from ..archive.reader import ArchiveReader, open_archive
from ..archive.restore import (
    RestoreRequest,
    TablePlan,
    TableRestore,
    archive_period,
    preview,
    restore_archive,
)
from ..archive.signing import Keyring
from ..aws import error_code
from ..errors import N_, Stopped, UserError
from ..model import TableName
from .records import Job, JobStopped
from .runner import Reporter, fail_job
from .store import JobStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

PREVIEW = "preview"
RESTORE = "restore"
MERGE, REPLACE = "merge", "replace"
_CHUNK = 1024 * 1024

NOT_YOURS = N_(
    "This archive belongs to another account. You can restore only archives of your own "
    "account from this page."
)
GONE = N_("The archive or uploaded file is no longer there. Please start again.")
CHANGED = N_("The file changed after it was checked. Please start the restore again.")
TOO_BIG = N_("The file is larger than %(limit)s bytes, the most a restore takes.")
UNREADABLE = N_("The file could not be read just now. Please try again.")


def source_key(job: Job) -> str:
    """Return the S3 key a restore job reads: always under the job owner's own prefix."""
    source = job.params["source"]
    if source.get("kind") == "upload":
        return upload_key(job.user_id, str(source["token"]))
    parsed = ArchiveId.parse(str(source.get("archive_id", "")))
    if parsed is None:
        raise ValueError("not an archive id")
    prefix = BACKUP_PREFIX if source.get("kind") == "backup" else EXPORT_PREFIX
    return archive_key(job.user_id, parsed, prefix)


def _download(
    s3: S3Client, bucket: str, key: str, *, limit: int, etag: str | None = None
) -> tuple[IO[bytes], str]:
    """Copy the object into a temporary file; return it (at its start) and its ETag."""
    try:
        if etag:
            head = s3.head_object(Bucket=bucket, Key=key, IfMatch=etag)
        else:
            head = s3.head_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        if error_code(exc) in {"404", "NoSuchKey", "NotFound"}:
            raise RestoreError(GONE) from exc
        if error_code(exc) in {"412", "PreconditionFailed"}:
            raise RestoreError(CHANGED) from exc
        raise RestoreError(UNREADABLE) from exc
    if head["ContentLength"] > limit:
        raise RestoreError(TOO_BIG, limit=limit)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (returned open, closed by the caller)
    try:
        # The very object the size was checked on (IfMatch), streamed to disk in chunks.
        body = s3.get_object(Bucket=bucket, Key=key, IfMatch=head["ETag"])["Body"]
        copied = 0
        for chunk in body.iter_chunks(_CHUNK):
            copied += len(chunk)
            if copied > limit:
                raise RestoreError(TOO_BIG, limit=limit)
            spool.write(chunk)
    except (ClientError, BotoCoreError) as exc:
        spool.close()
        if error_code(exc) in {"412", "PreconditionFailed"}:
            raise RestoreError(CHANGED) from exc
        raise RestoreError(UNREADABLE) from exc
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, head["ETag"]


def _open_own(spool: IO[bytes], job: Job, keyring: Keyring) -> ArchiveReader:
    """Open the archive and refuse it unless it is signed by us and the user's own."""
    reader = open_archive(spool)
    try:
        reader.check_signature(keyring)
        if reader.manifest.user_sub != job.user_id:
            raise RestoreError(NOT_YOURS)
    except BaseException:
        reader.close()
        raise
    return reader


@contextmanager
def _opened(
    job: Job,
    key: str,
    *,
    s3: S3Client,
    bucket: str,
    keyring: Keyring,
    limit: int,
    etag: str | None = None,
) -> Iterator[tuple[ArchiveReader, str]]:
    """Download ``key`` and open it as the job owner's signed archive; yield it and its ETag."""
    spool, found = _download(s3, bucket, key, limit=limit, etag=etag)
    with spool, _open_own(spool, job, keyring) as reader:
        yield reader, found


def run_preview(
    job: Job,
    *,
    store: JobStore,
    dynamodb: DynamoDBClient,
    s3: S3Client,
    bucket: str,
    tables: Mapping[TableName, str],
    keyring: Keyring,
    max_upload_bytes: int,
    reporter: Reporter,
) -> None:
    """Check an archive and count what restoring it would change; write nothing."""
    try:
        try:
            key = source_key(job)
        except (KeyError, ValueError, TypeError):
            raise RestoreError(GONE) from None
        with _opened(job, key, s3=s3, bucket=bucket, keyring=keyring, limit=max_upload_bytes) as (
            reader,
            etag,
        ):
            reporter.write()
            previews = {}
            compared = preview(reader, RestoreRequest(), dynamodb=dynamodb, tables=tables)
            for plan, diff in compared:
                previews[plan.table] = diff.to_dict()
                reporter(plan.table, plan.items)
            result = {
                "etag": etag,
                "period": _period(archive_period(reader)),
                "created_at": reader.manifest.created_at,
                "tables": previews,
                "filters": reader.manifest.filters,
            }
        store.finish(job, result, reporter.counts, reporter.now())
    except Stopped:
        logger.info("preview %s stopped (cancelled)", job.id)
    except UserError as exc:
        fail_job(store, job, exc, reporter)


def run_restore(
    job: Job,
    *,
    store: JobStore,
    dynamodb: DynamoDBClient,
    s3: S3Client,
    bucket: str,
    tables: Mapping[TableName, str],
    keyring: Keyring,
    max_upload_bytes: int,
    reporter: Reporter,
    display_timezone: str = "UTC",
) -> None:
    """Restore the archive a finished preview checked: undo archive first, then write."""
    started = time.monotonic()
    try:
        preview = store.get(job.user_id, str(job.params.get("preview", "")))
        if preview is None or preview.kind != PREVIEW or "etag" not in preview.result:
            raise RestoreError(GONE)
        replace = job.params.get("mode") == REPLACE
        key = source_key(preview)
        exporter = Exporter(dynamodb, tables, s3, bucket, signing_key=keyring.current())

        def snapshot(period: DateRange) -> ExportResult:
            # The way back: an ordinary archive of the period as it is now.
            request = ExportRequest(job.user_id, period, display_timezone=display_timezone)
            return exporter.export(request, before_finish=reporter.write)

        @contextmanager
        def writing(plan: TablePlan, done: TableRestore) -> Iterator[Callable[[int], None]]:
            yield _counter(reporter, plan.table)

        with _opened(
            job,
            key,
            s3=s3,
            bucket=bucket,
            keyring=keyring,
            limit=max_upload_bytes,
            etag=str(preview.result["etag"]),
        ) as (reader, _etag):
            reporter.write()
            restored = restore_archive(
                reader,
                RestoreRequest(replace=replace),
                dynamodb=dynamodb,
                tables=tables,
                snapshot=snapshot,
                writing=writing,
            )
            undo = restored.snapshot
            assert undo is not None
            outcome: dict[str, Any] = {
                "undo_archive_id": str(undo.archive_id),
                "undo_counts": dict(undo.counts),
                "mode": REPLACE if replace else MERGE,
                "period": _period(restored.period),
                "tables": {
                    table: {
                        "archived": done.archived,
                        "written": done.written,
                        "deleted": done.deleted,
                        "unchanged": done.unchanged,
                        "kept": 0 if replace else done.extra,
                    }
                    for table, done in restored.tables.items()
                },
            }
        outcome["elapsed_ms"] = int((time.monotonic() - started) * 1000)
        store.finish(job, outcome, reporter.counts, reporter.now())
        if key.startswith(UPLOAD_PREFIX):
            # The upload has done its work: it goes (the lifecycle rule would in a day).
            with suppress(ClientError, BotoCoreError):
                s3.delete_object(Bucket=bucket, Key=key)
    except JobStopped:
        logger.info("restore %s stopped (cancelled)", job.id)
    except Stopped:
        logger.info("restore %s stopped", job.id)
    except UserError as exc:
        fail_job(store, job, exc, reporter)


def _period(period: DateRange) -> dict[str, str]:
    return {"start": period.start.isoformat(), "end": period.end.isoformat()}


def _counter(reporter: Reporter, table: TableName) -> Callable[[int], None]:
    """Return a progress callback that adds up one table's requests sent for the reporter."""
    sent = 0

    def advance(count: int) -> None:
        nonlocal sent
        sent += count
        reporter(table, sent)

    return advance
