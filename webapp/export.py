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

import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from . import encode
from .archive import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST_NAME,
    README_NAME,
    ArchiveId,
    archive_key,
    data_file,
)
from .model import (
    ATTRIBUTE_DEFINITIONS,
    KEY_SCHEMA,
    PARTITION_KEY,
    SORT_KEY,
    SPECS,
    TABLES,
    TableName,
)
from .upload import TooLarge, Upload
from .zipstream import ZipEntry, ZipStream

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

Format = Literal["csv", "json"]
ALL_FORMATS: frozenset[Format] = frozenset({"csv", "json"})
#: Files per table, in archive order, and what the manifest calls their format.
FILE_FORMATS: dict[Format, str] = {"csv": "csv", "json": "dynamodb-json"}

DEFAULT_PART_SIZE = 8 * 1024 * 1024
#: zlib's level: zipfile's default, so archives are as small as the usual tools make.
LEVEL = 6

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
# Every sort key of a day sorts between "YYYY-MM-DD" and "YYYY-MM-DD~": DynamoDB
# compares UTF-8 bytes, "~" is the last printable ASCII character and "#" joins
# the date to the rest.
_DAY_END = "~"
_THROTTLED = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "SlowDown",
        "Throttling",
    }
)


class ExportError(Exception):
    """An export failed and left nothing behind; ``str()`` is fit to show the user."""


class InvalidRange(ExportError):
    """The dates are not ISO dates, start after they end, or span too many days."""


@dataclass(frozen=True)
class DateRange:
    """The days of an export, both ends included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise InvalidRange("The start date must not be after the end date.")

    @property
    def days(self) -> int:
        """Return how many days the range covers."""
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class ExportResult:
    """What an export made: the archive's id and key, its size and item counts."""

    archive_id: ArchiveId
    key: str
    size: int
    counts: dict[TableName, int]


def parse_range(start: str, end: str, *, max_span_days: int) -> DateRange:
    """Return the range between two ISO dates; raise InvalidRange saying what is wrong."""
    if max_span_days < 1:
        raise ValueError("max_span_days must be at least 1")
    date_range = DateRange(_parse_date(start, "start"), _parse_date(end, "end"))
    if date_range.days > max_span_days:
        raise InvalidRange(
            f"A range may cover at most {max_span_days:,} days; this one covers "
            f"{date_range.days:,}."
        )
    return date_range


def _parse_date(text: str, which: str) -> date:
    text = text.strip()
    if _ISO_DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:  # 2025-02-30
            pass
    raise InvalidRange(f"The {which} date must be a real date written like 2025-01-31.")


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
) -> ExportResult:
    """Export a user's items in a date range to a new archive in S3; return what was made."""
    chosen = _check_formats(formats)
    missing = [table for table in TABLES if not tables.get(table)]
    if missing:
        raise ValueError(f"no table name for {', '.join(missing)}")
    if page_limit is not None and page_limit < 1:
        raise ValueError("page_limit must be at least 1")
    archive_id = ArchiveId.new(date_range.start, date_range.end, now)
    key = archive_key(sub, archive_id)
    upload = Upload(s3, bucket, key, part_size=part_size, content_type="application/zip")
    try:
        archive = ZipStream(upload, modified=archive_id.created, level=LEVEL)
        counts: dict[TableName, int] = {}
        files: dict[TableName, dict[Format, ZipEntry]] = {}
        for table in TABLES:
            pages = iter_pages(dynamodb, tables[table], sub, date_range, limit=page_limit)
            counts[table], files[table] = _write_table(archive, table, chosen, pages)
        archive.add(MANIFEST_NAME, _manifest(archive_id, sub, tables, counts, files))
        archive.add(README_NAME, _readme(archive_id, chosen).encode("utf-8"))
        archive.close()
        size = upload.finish()
    except BaseException as exc:
        _abort(upload)
        if isinstance(exc, ExportError) or not isinstance(exc, Exception):
            raise
        logger.warning("export to s3://%s/%s failed", bucket, key, exc_info=True)
        raise _failure(exc) from exc
    return ExportResult(archive_id=archive_id, key=key, size=size, counts=counts)


def iter_pages(
    dynamodb: DynamoDBClient,
    table_name: str,
    sub: str,
    date_range: DateRange,
    *,
    limit: int | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Yield pages of one user's items in a date range, as typed attribute values."""
    request: dict[str, Any] = {
        "TableName": table_name,
        "KeyConditionExpression": "#pk = :sub AND #sk BETWEEN :start AND :end",
        "ExpressionAttributeNames": {"#pk": PARTITION_KEY, "#sk": SORT_KEY},
        "ExpressionAttributeValues": {
            ":sub": {"S": sub},
            ":start": {"S": date_range.start.isoformat()},
            ":end": {"S": date_range.end.isoformat() + _DAY_END},
        },
        "ConsistentRead": True,
    }
    if limit is not None:
        request["Limit"] = limit
    while True:
        try:
            page = dynamodb.query(**request)
        except (ClientError, BotoCoreError) as exc:
            logger.warning("query of %s failed", table_name, exc_info=True)
            if _throttled(exc):
                raise ExportError(_BUSY) from exc
            raise ExportError(
                "Your account book could not be read, so no archive was made. Please try again."
            ) from exc
        yield page.get("Items", [])
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        request["ExclusiveStartKey"] = last


def _check_formats(formats: frozenset[Format]) -> tuple[Format, ...]:
    if not formats or not ALL_FORMATS.issuperset(formats):
        raise ExportError("Choose CSV, DynamoDB JSON, or both.")
    return tuple(fmt for fmt in FILE_FORMATS if fmt in formats)


def _write_table(
    archive: ZipStream,
    table: TableName,
    formats: tuple[Format, ...],
    pages: Iterator[list[dict[str, Any]]],
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


_BUSY = "The service is busy right now, so no archive was made. Please try again in a minute."


def _throttled(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in _THROTTLED


def _failure(exc: Exception) -> ExportError:
    """Return the user-safe error for a failure while writing the archive."""
    if isinstance(exc, TooLarge):
        return ExportError("That range makes an archive too large for one export. Choose less.")
    if _throttled(exc):
        return ExportError(_BUSY)
    if isinstance(exc, ClientError | BotoCoreError):
        return ExportError("The archive could not be stored, so none was made. Please try again.")
    return ExportError("The export failed, so no archive was made. Please try again.")


def _manifest(
    archive_id: ArchiveId,
    sub: str,
    tables: Mapping[TableName, str],
    counts: Mapping[TableName, int],
    files: Mapping[TableName, Mapping[Format, ZipEntry]],
) -> bytes:
    """Return manifest.json: what the archive holds, with each file's size and SHA-256."""
    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created_at": f"{archive_id.created:%Y-%m-%dT%H:%M:%SZ}",
        "user_sub": sub,
        "range": {"start": archive_id.start.isoformat(), "end": archive_id.end.isoformat()},
        "tables": {
            table: {
                "table_name": tables[table],
                "key_schema": KEY_SCHEMA,
                "attribute_definitions": ATTRIBUTE_DEFINITIONS,
                "item_count": counts[table],
                "files": {
                    entry.name: {
                        "format": FILE_FORMATS[fmt],
                        "bytes": entry.size,
                        "sha256": entry.sha256,
                    }
                    for fmt, entry in files[table].items()
                },
            }
            for table in TABLES
        },
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _readme(archive_id: ArchiveId, formats: tuple[Format, ...]) -> str:
    """Return README.txt: what each file is and how to restore, in English and Japanese."""
    period = f"{archive_id.start.isoformat()} – {archive_id.end.isoformat()}"
    created = f"{archive_id.created:%Y-%m-%d %H:%M:%S} UTC"
    english = [
        "Kakeibo Export: a backup of your household account book",
        "",
        f"Period: {period}    Created: {created}",
        "",
    ]
    japanese = [
        "家計簿エクスポート: 家計簿のバックアップ",
        "",
        f"期間: {period}    作成日時: {created}",
        "",
    ]
    if "csv" in formats:
        english += [
            "slips.csv, balances.csv",
            "  For Excel and other spreadsheets (UTF-8 with BOM, one row per item).",
            '  The "other" column holds any further attributes as DynamoDB JSON.',
            "  Text starting with = + - @ gets a leading ' so it is never run as a formula.",
            "",
        ]
        japanese += [
            "slips.csv, balances.csv",
            "  Excel などの表計算ソフト用 (BOM 付き UTF-8、1 行に 1 件)。",
            "  「other」列には、その他の属性が DynamoDB JSON で入っています。",
            "  = + - @ で始まる文字列は、数式として実行されないよう先頭に ' を付けています。",
            "",
        ]
    if "json" in formats:
        english += [
            "slips.json, balances.json",
            '  The exact data, for restoring: DynamoDB JSON Lines, one {"Item": ...} per line,',
            "  as DynamoDB's Export to S3 writes them.",
            "",
        ]
        japanese += [
            "slips.json, balances.json",
            '  復元用の正確なデータ: DynamoDB JSON Lines (1 行に 1 件の {"Item": ...})。',
            "  DynamoDB の「S3 へのエクスポート」と同じ形式です。",
            "",
        ]
    english += [
        "manifest.json",
        "  The period, item counts, and each file's size and SHA-256.",
        "",
    ]
    japanese += [
        "manifest.json",
        "  期間、件数、各ファイルのサイズと SHA-256。",
        "",
    ]
    if "json" in formats:
        english += [
            "To restore: run `flask --app webapp restore <this zip>`, or upload the .json",
            "files to S3 and use DynamoDB's Import from S3 (format DynamoDB JSON, no",
            "compression) into a new table with the key schema in manifest.json.",
            "",
        ]
        japanese += [
            "復元するには `flask --app webapp restore <この zip>` を実行するか、.json ファイルを",
            "S3 にアップロードし、DynamoDB の「S3 からのインポート」(形式 DynamoDB JSON、",
            "圧縮なし) で manifest.json のキースキーマを持つ新しいテーブルに読み込みます。",
            "",
        ]
    else:
        english += [
            "This archive has no .json files, so it cannot bring your data back exactly:",
            "export again with DynamoDB JSON for a backup you can restore.",
            "",
        ]
        japanese += [
            "この zip には .json ファイルがないため、データを正確に復元できません。",
            "復元できるバックアップには、DynamoDB JSON を選んでもう一度エクスポートしてください。",
            "",
        ]
    return "\r\n".join(english + ["-" * 40, ""] + japanese)
