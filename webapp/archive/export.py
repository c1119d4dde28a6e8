"""The export engine: one user's slips and balances for a date range, as a zip in S3.

One paginated Query per table feeds both of that table's files, page by page:
encode (column by column, see ``encode``), deflate, checksum, upload. A page
is the unit of work, so memory stays at a few S3 parts whatever the range
holds: no temporary files, no whole-archive buffer.

The archive appears under its key only when complete. On any failure the
multipart upload is aborted and ``ExportError`` is raised; if even the abort
fails, the bucket's lifecycle rule drops the parts within a day, and an
unfinished upload is never listed in the meantime.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from ..model import SPECS, TABLES, TableName
from . import encode
from .dates import DateRange
from .dynamo import BUSY, iter_pages, throttled
from .errors import N_, ExportError, Stopped
from .ids import EXPORT_PREFIX, ArchiveId, archive_key
from .manifest import (
    CSV,
    DYNAMODB_JSON,
    FORMAT_VERSION,
    MANIFEST_NAME,
    README_NAME,
    FileEntry,
    Manifest,
    TableEntry,
    data_file,
)
from .readme import render_readme
from .signing import SIGNATURE_NAME, SigningKey, sign
from .upload import TooLarge, Upload
from .zipstream import ZipEntry, ZipStream

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

Format = Literal["csv", "json"]
ALL_FORMATS: frozenset[Format] = frozenset({"csv", "json"})
#: Files per table, in archive order, and what the manifest calls their format.
FILE_FORMATS: dict[Format, str] = {"csv": CSV, "json": DYNAMODB_JSON}

#: Called after each page: which table, how many of its items so far.
Progress = Callable[[TableName, int], None]

DEFAULT_PART_SIZE = 8 * 1024 * 1024
#: zlib's level: zipfile's default, so archives are as small as the usual tools make.
LEVEL = 6


@dataclass(frozen=True)
class ExportResult:
    """What an export made: the archive's id and key, its size and item counts."""

    archive_id: ArchiveId
    key: str
    size: int
    counts: dict[TableName, int]


def export_archive(
    *,
    dynamodb: DynamoDBClient,
    s3: S3Client,
    bucket: str,
    tables: Mapping[TableName, str],
    sub: str,
    date_range: DateRange,
    formats: frozenset[Format] = ALL_FORMATS,
    now: datetime | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    page_limit: int | None = None,
    progress: Progress | None = None,
    before_finish: Callable[[], None] | None = None,
    signing_key: SigningKey | None = None,
    prefix: str = EXPORT_PREFIX,
) -> ExportResult:
    """Export a user's items in a date range to a new archive in S3; return what was made.

    ``progress(table, items so far)`` is called after every page; ``before_finish``
    just before the archive would appear. Either may raise ``Stopped`` to end the
    export: the upload is aborted and ``Stopped`` propagates as it is. With a
    ``signing_key`` the manifest is signed (``manifest.sig``), so a restore can tell
    the archive is ours and unchanged.
    """
    chosen = _check_formats(formats)
    missing = [table for table in TABLES if not tables.get(table)]
    if missing:
        raise ValueError(f"no table name for {', '.join(missing)}")
    if page_limit is not None and page_limit < 1:
        raise ValueError("page_limit must be at least 1")
    archive_id = ArchiveId.new(date_range.start, date_range.end, now)
    key = archive_key(sub, archive_id, prefix)
    upload = Upload(s3, bucket, key, part_size=part_size, content_type="application/zip")
    try:
        archive = ZipStream(upload, modified=archive_id.created, level=LEVEL)
        counts: dict[TableName, int] = {}
        files: dict[TableName, dict[Format, ZipEntry]] = {}
        for table in TABLES:
            pages = iter_pages(dynamodb, tables[table], sub, date_range, limit=page_limit)
            counts[table], files[table] = _write_table(
                archive, table, chosen, pages, progress=progress
            )
        manifest = _manifest(archive_id, sub, tables, counts, files).to_json()
        archive.add(MANIFEST_NAME, manifest)
        if signing_key is not None:
            archive.add(SIGNATURE_NAME, sign(manifest, signing_key))
        readme = render_readme(archive_id, csv="csv" in chosen, json="json" in chosen)
        archive.add(README_NAME, readme.encode("utf-8"))
        archive.close()
        if before_finish is not None:
            before_finish()
        size = upload.finish()
    except BaseException as exc:
        _abort(upload)
        if isinstance(exc, ExportError | Stopped) or not isinstance(exc, Exception):
            raise
        logger.warning("export to s3://%s/%s failed", bucket, key, exc_info=True)
        raise _failure(exc) from exc
    return ExportResult(archive_id=archive_id, key=key, size=size, counts=counts)


def _check_formats(formats: frozenset[Format]) -> tuple[Format, ...]:
    if not formats or not ALL_FORMATS.issuperset(formats):
        raise ExportError(N_("Choose CSV, DynamoDB JSON, or both."))
    return tuple(fmt for fmt in FILE_FORMATS if fmt in formats)


def _write_table(
    archive: ZipStream,
    table: TableName,
    formats: tuple[Format, ...],
    pages: Iterator[list[dict[str, Any]]],
    *,
    progress: Progress | None = None,
) -> tuple[int, dict[Format, ZipEntry]]:
    """Write one table's files from its pages; return its item count and entries."""
    spec = SPECS[table]
    entries = {fmt: archive.open(data_file(table, fmt)) for fmt in formats}
    csv, lines = entries.get("csv"), entries.get("json")
    if csv:
        csv.write(encode.csv_header(spec).encode("utf-8"))
    count = 0
    for items in pages:
        count += len(items)
        if csv:
            csv.write(encode.csv_rows(items, spec).encode("utf-8"))
        if lines:
            lines.write(encode.json_lines(items, spec).encode("utf-8"))
        if progress is not None:
            progress(table, count)
    for entry in entries.values():
        entry.close()
    return count, entries


def _abort(upload: Upload) -> None:
    try:
        upload.abort()
    except Exception:
        logger.warning(
            "could not abort the upload of %s; the lifecycle rule drops it within a day",
            upload.key,
            exc_info=True,
        )


def _failure(exc: Exception) -> ExportError:
    """Return the user-safe error for a failure while writing the archive."""
    if isinstance(exc, TooLarge):
        return ExportError(N_("That range makes an archive too large for one export. Choose less."))
    if throttled(exc):
        return ExportError(BUSY)
    if isinstance(exc, ClientError | BotoCoreError):
        return ExportError(
            N_("The archive could not be stored, so none was made. Please try again.")
        )
    return ExportError(N_("The export failed, so no archive was made. Please try again."))


def _manifest(
    archive_id: ArchiveId,
    sub: str,
    tables: Mapping[TableName, str],
    counts: Mapping[TableName, int],
    files: Mapping[TableName, Mapping[Format, ZipEntry]],
) -> Manifest:
    """Return the manifest: what the archive holds, with each file's size and SHA-256."""
    return Manifest(
        format_version=FORMAT_VERSION,
        created_at=f"{archive_id.created:%Y-%m-%dT%H:%M:%SZ}",
        user_sub=sub,
        range_start=archive_id.start.isoformat(),
        range_end=archive_id.end.isoformat(),
        tables={
            table: TableEntry(
                table=table,
                table_name=tables[table],
                item_count=counts[table],
                files={
                    entry.name: FileEntry(
                        name=entry.name,
                        format=FILE_FORMATS[fmt],
                        bytes=entry.size,
                        sha256=entry.sha256,
                    )
                    for fmt, entry in files[table].items()
                },
            )
            for table in TABLES
        },
    )
