"""The export engine: one user's slips and balances for a date range, as a zip in S3.

One paginated Query per table feeds both of that table's files, page by page:
encode (column by column, see ``encode``), deflate, checksum, upload. A page
is the unit of work, so memory stays at a few S3 parts whatever the range
holds: no temporary files, no whole-archive buffer.

The archive appears under its key only when complete. On any failure the
multipart upload is aborted and ``ExportError`` is raised; if even the abort
fails, the bucket's lifecycle rule drops the parts within a day, and an
unfinished upload is never listed in the meantime.

Why this long: an export is one sequence (query with the filters, encode,
zip, sign, upload, and abort on any failure), and the failure handling reads
right only beside the steps it undoes; the encoders, the workbook, the zip
and the upload already live in modules of their own.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import N_, Stopped
from ..model import SPECS, TABLES, TableName
from . import encode
from .dates import DateRange
from .dynamo import BUSY, iter_pages, throttled
from .errors import ExportError
from .filters import Filters, collect
from .ids import EXPORT_PREFIX, ArchiveId, archive_key
from .manifest import (
    ALL_FORMATS,
    CSV_ENCODINGS,
    DEFAULT_ENCODING,
    DEFAULT_FORMATS,
    FILE_FORMATS,
    FORMAT_VERSION,
    MANIFEST_NAME,
    README_NAME,
    TEXT,
    CsvEncoding,
    FileEntry,
    Format,
    Manifest,
    TableEntry,
    data_file,
)
from .readme import render_readme
from .signing import SIGNATURE_NAME, SigningKey, sign
from .upload import TooLarge, Upload
from .workbook import WORKBOOK_NAME, Workbook
from .zipstream import ZipEntry, ZipStream

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

#: Bytes read at a time from the finished workbook into the zip.
_CHUNK = 1024 * 1024

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
    #: Characters of each table's CSV that its encoding could not hold (written as ``?``).
    replaced: dict[TableName, int] = field(default_factory=dict)
    #: The accounts, categories and kinds seen in the items: the form's filter choices.
    seen: dict[str, set[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportRequest:
    """One export: whose items, which period, which files and filters, and where it goes."""

    sub: str
    period: DateRange
    formats: frozenset[Format] = DEFAULT_FORMATS
    #: "cp932" writes the CSV in Shift_JIS, each character it cannot hold as ``?``.
    csv_encoding: CsvEncoding = DEFAULT_ENCODING
    #: Only some accounts, categories or kinds (see ``filters``), recorded in the manifest.
    filters: Filters = field(default_factory=Filters)
    #: ``exports/`` for the user's own exports, ``backups/`` for the automatic ones.
    prefix: str = EXPORT_PREFIX
    #: The zone README.txt shows the creation time in (the one the page shows).
    display_timezone: str = "UTC"


@dataclass(frozen=True)
class Exporter:
    """Where exports read and write: the data tables, the bucket and the signing key.

    With a ``signing_key`` the manifest is signed (``manifest.sig``), so a restore can
    tell the archive is ours and unchanged. ``part_size`` and ``page_limit`` tune the
    multipart upload and the Query (tests and benchmarks).
    """

    dynamodb: DynamoDBClient
    tables: Mapping[TableName, str]
    s3: S3Client
    bucket: str
    signing_key: SigningKey | None = None
    part_size: int = DEFAULT_PART_SIZE
    page_limit: int | None = None

    def export(
        self,
        request: ExportRequest,
        *,
        progress: Progress | None = None,
        before_finish: Callable[[], None] | None = None,
        now: datetime | None = None,
        pages: Callable[[TableName], Iterator[list[dict[str, Any]]]] | None = None,
        key: str | None = None,
    ) -> ExportResult:
        """Export the request's items to a new archive in S3; return what was made.

        ``progress(table, items so far)`` is called after every page; ``before_finish``
        just before the archive would appear. Either may raise ``Stopped`` to end the
        export: the upload is aborted and ``Stopped`` propagates as it is.
        ``pages(table)``, when given, yields the items instead of the table (a book put
        back to a moment), and ``key`` says where the archive goes instead of the
        request's prefix.
        """
        chosen = self._check(request)
        archive_id = ArchiveId.new(request.period.start, request.period.end, now)
        key = key or archive_key(request.sub, archive_id, request.prefix)
        upload = Upload(
            self.s3, self.bucket, key, part_size=self.part_size, content_type="application/zip"
        )
        scratch = tempfile.TemporaryDirectory(prefix="kakeibo-xlsx-") if "xlsx" in chosen else None
        try:
            written = self._write(request, chosen, archive_id, upload, scratch, progress, pages)
            if before_finish is not None:
                before_finish()
            size = upload.finish()
        except BaseException as exc:
            _abort(upload)
            if isinstance(exc, ExportError | Stopped) or not isinstance(exc, Exception):
                raise
            logger.warning("export to s3://%s/%s failed", self.bucket, key, exc_info=True)
            raise _failure(exc) from exc
        finally:
            if scratch is not None:
                scratch.cleanup()
        counts, replaced, seen = written
        return ExportResult(
            archive_id=archive_id,
            key=key,
            size=size,
            counts=counts,
            replaced=replaced if "csv" in chosen else {},
            seen=seen,
        )

    def _pages(self, request: ExportRequest, table: TableName) -> Iterator[list[dict[str, Any]]]:
        """Return the request's items of one table, page by page (one Query)."""
        return iter_pages(
            self.dynamodb,
            self.tables[table],
            request.sub,
            request.period,
            limit=self.page_limit,
            filter_expression=request.filters.expression(table),
        )

    def _check(self, request: ExportRequest) -> tuple[Format, ...]:
        """Refuse a request the engine cannot carry out; return its formats in order."""
        chosen = _check_formats(request.formats)
        if request.csv_encoding not in CSV_ENCODINGS:
            raise ExportError(N_("Choose UTF-8 or Shift_JIS for the CSV files."))
        missing = [table for table in TABLES if not self.tables.get(table)]
        if missing:
            raise ValueError(f"no table name for {', '.join(missing)}")
        if self.page_limit is not None and self.page_limit < 1:
            raise ValueError("page_limit must be at least 1")
        return chosen

    def _write(
        self,
        request: ExportRequest,
        chosen: tuple[Format, ...],
        archive_id: ArchiveId,
        upload: Upload,
        scratch: tempfile.TemporaryDirectory[str] | None,
        progress: Progress | None,
        source: Callable[[TableName], Iterator[list[dict[str, Any]]]] | None = None,
    ) -> tuple[dict[TableName, int], dict[TableName, int], dict[str, set[str]]]:
        """Write every file of the archive into the upload; return counts, replaced, seen."""
        zipped = ZipStream(upload, modified=archive_id.created, level=LEVEL)
        book = None
        if scratch is not None:
            book = Workbook(Path(scratch.name) / WORKBOOK_NAME, Path(scratch.name))
        counts: dict[TableName, int] = {}
        replaced: dict[TableName, int] = {}
        files: dict[TableName, dict[Format, ZipEntry]] = {}
        seen: dict[str, set[str]] = {}
        for table in TABLES:
            pages = source(table) if source is not None else self._pages(request, table)
            written = _write_table(
                zipped,
                table,
                chosen,
                _noting(pages, seen),
                request.csv_encoding,
                book,
                progress=progress,
            )
            counts[table], files[table], replaced[table] = written
        workbook = _add_workbook(zipped, book) if book is not None else None
        readme = render_readme(
            archive_id,
            csv="csv" in chosen,
            json="json" in chosen,
            xlsx="xlsx" in chosen,
            cp932=request.csv_encoding == "cp932",
            timezone=request.display_timezone,
            filters=request.filters.to_dict(),
        )
        # Before the manifest, so the manifest (and its signature) covers it too.
        text = zipped.add(README_NAME, readme.encode("utf-8"))
        manifest = _manifest(
            archive_id, request, self.tables, counts, files, [workbook, text], replaced
        ).to_json()
        zipped.add(MANIFEST_NAME, manifest)
        if self.signing_key is not None:
            zipped.add(SIGNATURE_NAME, sign(manifest, self.signing_key))
        zipped.close()
        return counts, replaced, seen


def _noting(pages: Iterator[list[dict[str, Any]]], seen: dict[str, set[str]]) -> Iterator[Any]:
    """Pass the pages on, noting the accounts, categories and kinds they hold."""
    for items in pages:
        collect(seen, items)
        yield items


def _check_formats(formats: frozenset[Format]) -> tuple[Format, ...]:
    if not formats or not ALL_FORMATS.issuperset(formats):
        raise ExportError(N_("Choose CSV, an Excel workbook or DynamoDB JSON, or several."))
    return tuple(fmt for fmt in FILE_FORMATS if fmt in formats)


def _write_table(
    archive: ZipStream,
    table: TableName,
    formats: tuple[Format, ...],
    pages: Iterator[list[dict[str, Any]]],
    csv_encoding: CsvEncoding,
    book: Workbook | None,
    *,
    progress: Progress | None = None,
) -> tuple[int, dict[Format, ZipEntry], int]:
    """Write one table's files (and sheet) from its pages; return count, entries, replaced."""
    spec = SPECS[table]
    entries: dict[Format, ZipEntry] = {
        fmt: archive.open(data_file(table, fmt)) for fmt in formats if fmt != "xlsx"
    }
    csv, lines = entries.get("csv"), entries.get("json")
    replaced = 0
    if csv:
        csv.write(encode.encode_text(encode.csv_header(spec, csv_encoding), csv_encoding)[0])
    count = 0
    for items in pages:
        count += len(items)
        if book is not None:
            book.add(table, items)  # first, so a sheet too long fails before writing more
        if csv:
            data, missing = encode.encode_text(encode.csv_rows(items, spec), csv_encoding)
            csv.write(data)
            replaced += missing
        if lines:
            lines.write(encode.json_lines(items, spec).encode("utf-8"))
        if progress is not None:
            progress(table, count)
    for entry in entries.values():
        entry.close()
    return count, entries, replaced


def _add_workbook(archive: ZipStream, book: Workbook) -> ZipEntry:
    """Finish the workbook on disk and stream it into the zip as one entry."""
    book.close()
    entry = archive.open(WORKBOOK_NAME)
    with book.path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            entry.write(chunk)
    entry.close()
    return entry


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
    request: ExportRequest,
    tables: Mapping[TableName, str],
    counts: Mapping[TableName, int],
    files: Mapping[TableName, Mapping[Format, ZipEntry]],
    shared: Sequence[ZipEntry | None],
    replaced: Mapping[TableName, int],
) -> Manifest:
    """Return the manifest: what the archive holds, with each file's size and SHA-256."""

    def listed(fmt: Format, entry: ZipEntry, table: TableName | None = None) -> FileEntry:
        # Only Shift_JIS is recorded: a CSV listed without an encoding is UTF-8 with a
        # BOM, as every archive before the choice was.
        csv_encoding = request.csv_encoding
        shift_jis = fmt == "csv" and table is not None and csv_encoding != DEFAULT_ENCODING
        return FileEntry(
            name=entry.name,
            format=FILE_FORMATS[fmt],
            bytes=entry.size,
            sha256=entry.sha256,
            encoding=csv_encoding if shift_jis else None,
            replaced=replaced.get(table, 0) if shift_jis and table is not None else None,
        )

    def text(entry: ZipEntry) -> FileEntry:
        return FileEntry(name=entry.name, format=TEXT, bytes=entry.size, sha256=entry.sha256)

    return Manifest(
        format_version=FORMAT_VERSION,
        created_at=f"{archive_id.created:%Y-%m-%dT%H:%M:%SZ}",
        user_sub=request.sub,
        range_start=archive_id.start.isoformat(),
        range_end=archive_id.end.isoformat(),
        tables={
            table: TableEntry(
                table=table,
                table_name=tables[table],
                item_count=counts[table],
                files={
                    entry.name: listed(fmt, entry, table) for fmt, entry in files[table].items()
                },
            )
            for table in TABLES
        },
        files={
            entry.name: listed("xlsx", entry) if entry.name == WORKBOOK_NAME else text(entry)
            for entry in shared
            if entry is not None
        },
        filters=request.filters.to_dict(),
    )
