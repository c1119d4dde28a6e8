"""Restore an archive into the tables: verify everything first, then write.

Pure Python over boto3's low-level DynamoDB client, no Flask. Nothing is
written until the whole archive has been checked: the zip, the manifest, every
file's size and SHA-256, every item of the tables to restore (type descriptors,
keys, owner, size) and the target tables themselves. Writing is PutRequest of
the archived items, so running a restore twice leaves the same data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import re
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .archive import FORMAT_NAME, FORMAT_VERSION, MANIFEST_NAME, user_prefix
from .model import ATTRIBUTE_DEFINITIONS, KEY_SCHEMA, PARTITION_KEY, SORT_KEY, TABLES, TableName

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: Archive layouts this restore reads.
SUPPORTED_VERSIONS = frozenset({FORMAT_VERSION})
#: The manifest's name for a file of DynamoDB JSON lines.
DYNAMODB_JSON = "dynamodb-json"

# DynamoDB's own limits (Developer Guide, "Service quotas"): item size, key
# sizes, nesting depth, number precision and range, BatchWriteItem batch size.
MAX_ITEM_BYTES = 400 * 1024
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
MAX_DEPTH = 32
MAX_DIGITS = 38
MIN_EXPONENT, MAX_EXPONENT = -130, 125
BATCH_SIZE = 25
# A line of DynamoDB JSON holds one item of at most 400 KB; base64 and JSON
# escapes can roughly triple that, and anything longer is not an item.
MAX_LINE_BYTES = 4 * 1024 * 1024
_CHUNK = 1024 * 1024
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

Item = dict[str, Any]
Progress = Callable[[int], None]


#: The zip methods Python's zipfile decompresses (ours are deflated).
_READABLE_COMPRESSION = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)


class RestoreError(Exception):
    """The archive cannot be restored; ``str()`` says why, for the user."""


class WriteError(RestoreError):
    """DynamoDB stopped a restore part-way; ``str()`` says how far it got."""


@dataclass(frozen=True)
class FileEntry:
    """One file of the archive as the manifest lists it."""

    name: str
    format: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class TableEntry:
    """One table of the archive as the manifest lists it."""

    table: TableName
    table_name: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    item_count: int
    files: dict[str, FileEntry]

    @property
    def json_file(self) -> FileEntry | None:
        """Return the table's DynamoDB JSON file, or None for a CSV-only export."""
        found = [f for f in self.files.values() if f.format == DYNAMODB_JSON]
        return found[0] if found else None


@dataclass(frozen=True)
class Manifest:
    """The archive's table of contents (``manifest.json``)."""

    format_version: int
    created_at: str
    user_sub: str
    range_start: str
    range_end: str
    tables: dict[TableName, TableEntry]


@dataclass
class _Scan:
    count: int = 0
    keys: set[tuple[str, str]] = field(default_factory=set)


class Archive:
    """An open archive whose manifest has been read; use ``verify`` before reading items."""

    def __init__(self, zf: zipfile.ZipFile, manifest: Manifest) -> None:
        self.zip = zf
        self.manifest = manifest

    def __enter__(self) -> Archive:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the zip file."""
        self.zip.close()

    def entry(self, table: TableName) -> TableEntry:
        """Return the manifest entry of a table that must be restored exactly."""
        entry = self.manifest.tables.get(table)
        if entry is None:
            raise RestoreError(f"the archive has no {table} table")
        if entry.json_file is None:
            raise RestoreError(
                f"the archive holds {table} as CSV only, which cannot be restored exactly "
                "(CSV loses DynamoDB's types); export again with the JSON format"
            )
        return entry

    def verify(
        self, tables: Sequence[TableName], *, as_user: str | None = None
    ) -> dict[TableName, int]:
        """Check every file and every item of ``tables``; return items per table."""
        entries = {table: self.entry(table) for table in tables}
        scanned: dict[str, tuple[TableName, TableEntry]] = {}
        for table, entry in entries.items():
            json_file = entry.json_file
            assert json_file is not None  # entry() refuses CSV-only tables
            scanned[json_file.name] = (table, entry)
        for entry in self.manifest.tables.values():
            for listed in entry.files.values():
                if listed.name not in scanned:
                    self._check_file(listed)
        counts: dict[TableName, int] = {}
        for table, entry in scanned.values():
            scan = _Scan()
            for _ in self._items(table, entry, as_user=as_user, scan=scan):
                pass
            counts[table] = scan.count
        return counts

    def iter_items(self, table: TableName, *, as_user: str | None = None) -> Iterator[Item]:
        """Yield a table's items, decoded for the low-level client (B as bytes)."""
        yield from self._items(table, self.entry(table), as_user=as_user, scan=None)

    def _info(self, listed: FileEntry) -> zipfile.ZipInfo:
        try:
            info = self.zip.getinfo(listed.name)
        except KeyError:
            raise RestoreError(
                f"{listed.name} is listed in the manifest but missing from the archive"
            ) from None
        if info.file_size != listed.bytes:
            raise RestoreError(
                f"{listed.name} has {info.file_size} bytes, the manifest says {listed.bytes}: "
                "the archive is damaged"
            )
        return info

    def _check_file(self, listed: FileEntry) -> None:
        info = self._info(listed)
        digest = hashlib.sha256()
        size = 0
        with self._open(info) as fh:
            while chunk := _read(fh, _CHUNK, listed.name):
                digest.update(chunk)
                size += len(chunk)
        _check_digest(listed, size, digest.hexdigest())

    def _items(
        self, table: TableName, entry: TableEntry, *, as_user: str | None, scan: _Scan | None
    ) -> Iterator[Item]:
        listed = entry.json_file
        assert listed is not None
        info = self._info(listed)
        owner = self.manifest.user_sub
        digest = hashlib.sha256()
        size = 0
        with self._open(info) as fh:
            number = 0
            while line := _readline(fh, listed.name):
                number += 1
                digest.update(line)
                size += len(line)
                where = f"{listed.name} line {number}"
                item = decode_line(line, where)
                if item[PARTITION_KEY]["S"] != owner:
                    raise RestoreError(
                        f"{where}: the item belongs to another user than the archive's "
                        f"({owner}); a restore never writes other users' data"
                    )
                if as_user is not None:
                    item[PARTITION_KEY] = {"S": as_user}
                    _check_size(item, where)
                if scan is not None:
                    key = (item[PARTITION_KEY]["S"], item[SORT_KEY]["S"])
                    if key in scan.keys:
                        raise RestoreError(f"{where}: the item with sk {key[1]!r} appears twice")
                    scan.keys.add(key)
                    scan.count = number
                yield item
        if scan is not None:
            _check_digest(listed, size, digest.hexdigest())
            if number != entry.item_count:
                raise RestoreError(
                    f"{listed.name} holds {number} items, the manifest says {entry.item_count}: "
                    "the archive is damaged"
                )

    def _open(self, info: zipfile.ZipInfo) -> IO[bytes]:
        # A re-packed archive may use a method zipfile lacks (Windows' Deflate64,
        # AES): say so plainly rather than fail inside zipfile.
        if info.compress_type not in _READABLE_COMPRESSION:
            raise RestoreError(
                f"{info.filename} is compressed in a way this command cannot read "
                f"(zip method {info.compress_type}); use the archive as downloaded"
            )
        try:
            return self.zip.open(info)
        # RuntimeError: an encrypted member, which our archives never have.
        except (zipfile.BadZipFile, RuntimeError, OSError) as exc:
            raise RestoreError(f"{info.filename} cannot be read: {exc}") from exc


def open_archive(source: str | Path | IO[bytes]) -> Archive:
    """Open a zip and read its manifest; refuse what is not a supported archive."""
    name = str(source) if isinstance(source, str | Path) else "the archive"
    try:
        zf = zipfile.ZipFile(source)
    except zipfile.BadZipFile:
        raise RestoreError(f"{name} is not a zip archive (or it is damaged)") from None
    except OSError as exc:
        raise RestoreError(f"{name} cannot be read: {exc.strerror or exc}") from None
    try:
        names = zf.namelist()
        if len(names) != len(set(names)):
            raise RestoreError(f"{name} holds the same file twice: the archive is damaged")
        manifest = read_manifest(zf)
    except BaseException:
        zf.close()
        raise
    return Archive(zf, manifest)


def read_manifest(zf: zipfile.ZipFile) -> Manifest:
    """Return the manifest of an open zip; refuse a missing, foreign or newer one."""
    try:
        with zf.open(MANIFEST_NAME) as fh:
            raw = _read(fh, _CHUNK + 1, MANIFEST_NAME)
    except KeyError:
        raise RestoreError(
            f"the zip has no {MANIFEST_NAME}: it is not a Kakeibo Export archive"
        ) from None
    if len(raw) > _CHUNK:
        raise RestoreError(f"{MANIFEST_NAME} is too large to be a manifest")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise RestoreError(f"{MANIFEST_NAME} is not valid JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise RestoreError(f"{MANIFEST_NAME} is not a Kakeibo Export manifest")
    version = data.get("format_version")
    if type(version) is not int:
        raise _malformed("format_version")
    if version not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_VERSIONS))
        raise RestoreError(
            f"the archive has format version {version}; this restore reads version {supported}"
        )
    user_sub = data.get("user_sub")
    if not isinstance(user_sub, str) or not user_sub:
        raise _malformed("user_sub")
    span = data.get("range")
    if not isinstance(span, dict):
        raise _malformed("range")
    tables = data.get("tables")
    if not isinstance(tables, dict) or not tables:
        raise _malformed("tables")
    entries: dict[TableName, TableEntry] = {}
    for table, raw_entry in tables.items():
        if table not in TABLES:
            raise RestoreError(f"{MANIFEST_NAME} lists an unknown table {table!r}")
        entries[table] = _table_entry(table, raw_entry)
    names = [name for entry in entries.values() for name in entry.files]
    if len(names) != len(set(names)) or MANIFEST_NAME in names:
        raise _malformed("tables.*.files")
    return Manifest(
        format_version=version,
        created_at=str(data.get("created_at", "")),
        user_sub=user_sub,
        range_start=str(span.get("start", "")),
        range_end=str(span.get("end", "")),
        tables=entries,
    )


def _table_entry(table: TableName, raw: object) -> TableEntry:
    if not isinstance(raw, dict):
        raise _malformed(f"tables.{table}")
    table_name = raw.get("table_name")
    count = raw.get("item_count")
    files = raw.get("files")
    key_schema = raw.get("key_schema")
    definitions = raw.get("attribute_definitions")
    if not isinstance(table_name, str):
        raise _malformed(f"tables.{table}.table_name")
    if type(count) is not int or count < 0:
        raise _malformed(f"tables.{table}.item_count")
    if not isinstance(files, dict):
        raise _malformed(f"tables.{table}.files")
    if not _same_keys(key_schema, KEY_SCHEMA) or not _same_keys(definitions, ATTRIBUTE_DEFINITIONS):
        raise RestoreError(
            f"{MANIFEST_NAME}: the key schema of {table} is not Kakeibo's "
            f"({PARTITION_KEY} and {SORT_KEY}, both strings)"
        )
    entries: dict[str, FileEntry] = {}
    for name, spec in files.items():
        if (
            not isinstance(spec, dict)
            or not isinstance(spec.get("format"), str)
            or type(spec.get("bytes")) is not int
            or not isinstance(spec.get("sha256"), str)
        ):
            raise _malformed(f"tables.{table}.files.{name}")
        entries[name] = FileEntry(
            name=name, format=spec["format"], bytes=spec["bytes"], sha256=spec["sha256"].lower()
        )
    if sum(f.format == DYNAMODB_JSON for f in entries.values()) > 1:
        raise _malformed(f"tables.{table}.files")
    return TableEntry(
        table=table,
        table_name=table_name,
        key_schema=list(KEY_SCHEMA),
        attribute_definitions=list(ATTRIBUTE_DEFINITIONS),
        item_count=count,
        files=entries,
    )


def _same_keys(value: object, expected: list[dict[str, str]]) -> bool:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        return False
    return sorted(map(_pairs, value)) == sorted(map(_pairs, expected))


def _pairs(value: Mapping[str, object]) -> list[tuple[str, str]]:
    return sorted((str(k), str(v)) for k, v in value.items())


def _malformed(what: str) -> RestoreError:
    return RestoreError(f"{MANIFEST_NAME} is malformed: {what} is missing or invalid")


def _read(fh: IO[bytes], size: int, name: str) -> bytes:
    # zipfile checks each member's CRC-32 as it reads, and raises at the end.
    try:
        return fh.read(size)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise RestoreError(f"{name} is damaged: {exc}") from exc


def _readline(fh: IO[bytes], name: str) -> bytes:
    try:
        line = fh.readline(MAX_LINE_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise RestoreError(f"{name} is damaged: {exc}") from exc
    if len(line) > MAX_LINE_BYTES:
        raise RestoreError(f"{name} has a line longer than any DynamoDB item")
    return line


def _check_digest(listed: FileEntry, size: int, digest: str) -> None:
    if size != listed.bytes:
        raise RestoreError(
            f"{listed.name} has {size} bytes, the manifest says {listed.bytes}: "
            "the archive is damaged"
        )
    if digest != listed.sha256:
        raise RestoreError(
            f"{listed.name} does not match its SHA-256 in the manifest: the archive is damaged "
            "or was changed"
        )


def decode_line(line: bytes, where: str) -> Item:
    """Return the item of one ``{"Item": {...}}`` line, ready for the low-level client."""
    try:
        data = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise RestoreError(f"{where}: not a line of DynamoDB JSON") from None
    if not isinstance(data, dict) or set(data) != {"Item"} or not isinstance(data["Item"], dict):
        raise RestoreError(f'{where}: expected one {{"Item": {{...}}}} object')
    item = {name: decode_value(value, f"{where}: {name}") for name, value in data["Item"].items()}
    for key, limit in ((PARTITION_KEY, MAX_PARTITION_KEY_BYTES), (SORT_KEY, MAX_SORT_KEY_BYTES)):
        value = item.get(key)
        if value is None or "S" not in value or not value["S"]:
            raise RestoreError(f"{where}: the key {key} must be a non-empty string")
        if len(value["S"].encode("utf-8")) > limit:
            raise RestoreError(f"{where}: the key {key} is longer than {limit} bytes")
    _check_size(item, where)
    return item


def decode_value(value: object, where: str, depth: int = 1) -> dict[str, Any]:
    """Check one typed attribute value; turn base64 text into bytes for B and BS."""
    if not isinstance(value, dict) or len(value) != 1:
        raise RestoreError(f"{where}: expected one type descriptor such as {{'S': ...}}")
    if depth > MAX_DEPTH:
        raise RestoreError(f"{where}: nested deeper than DynamoDB's {MAX_DEPTH} levels")
    (kind, raw), *_ = value.items()
    if kind == "S" and isinstance(raw, str):
        return {"S": raw}
    if kind == "N" and isinstance(raw, str):
        _check_number(raw, where)
        return {"N": raw}
    if kind == "B" and isinstance(raw, str):
        return {"B": _binary(raw, where)}
    if kind == "BOOL" and isinstance(raw, bool):
        return {"BOOL": raw}
    if kind == "NULL" and raw is True:
        return {"NULL": True}
    if kind == "M" and isinstance(raw, dict):
        return {"M": {str(k): decode_value(v, f"{where}.{k}", depth + 1) for k, v in raw.items()}}
    if kind == "L" and isinstance(raw, list):
        return {"L": [decode_value(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(raw)]}
    if kind in ("SS", "NS", "BS") and isinstance(raw, list) and raw:
        if not all(isinstance(v, str) for v in raw):
            raise RestoreError(f"{where}: a {kind} set holds something other than text")
        if kind == "SS":
            members: list[Any] = list(raw)
            unique: set[Any] = set(raw)
        elif kind == "NS":
            members = list(raw)
            unique = {_check_number(v, where) for v in raw}
        else:
            members = [_binary(v, where) for v in raw]
            unique = set(members)
        if len(unique) != len(members):
            raise RestoreError(f"{where}: a {kind} set holds the same value twice")
        return {kind: members}
    raise RestoreError(f"{where}: {kind!r} with this value is not a DynamoDB type")


def _check_number(text: str, where: str) -> Decimal:
    # Decimal() alone would also take " 1", "1_000", "Infinity" and non-ASCII digits.
    if not _NUMBER.fullmatch(text):
        raise RestoreError(f"{where}: {text[:50]!r} is not a number")
    number = Decimal(text)
    # Zero has no exponent worth checking ("0E-200" is just 0).
    in_range = MIN_EXPONENT <= number.adjusted() <= MAX_EXPONENT
    if number and (_digits(number) > MAX_DIGITS or not in_range):
        raise RestoreError(f"{where}: {text[:50]!r} is beyond DynamoDB's number range")
    return number


def _digits(number: Decimal) -> int:
    # Significant digits, as DynamoDB counts them (leading and trailing zeros
    # trimmed); Decimal.normalize() would round to the context's 28 digits.
    digits = "".join(map(str, number.as_tuple().digits)).strip("0")
    return len(digits)


def _binary(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RestoreError(f"{where}: binary value is not base64") from None


def _check_size(item: Item, where: str) -> None:
    size = sum(len(name.encode("utf-8")) + _size(value) for name, value in item.items())
    if size > MAX_ITEM_BYTES:
        raise RestoreError(f"{where}: the item is larger than DynamoDB's 400 KB")


def _size(value: dict[str, Any]) -> int:
    # DynamoDB's documented sizing: text as UTF-8, about one byte per two digits
    # of a number, raw bytes of binaries, 3 bytes plus one per element of a
    # list or map.
    (kind, raw), *_ = value.items()
    if kind == "S":
        return len(raw.encode("utf-8"))
    if kind == "N":
        return (_digits(Decimal(raw)) + 1) // 2 + 1
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode("utf-8")) for v in raw)
    if kind == "NS":
        return sum(_size({"N": v}) for v in raw)
    if kind == "BS":
        return sum(len(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + _size(v) for k, v in raw.items())
    return 3 + sum(1 + _size(v) for v in raw)


def check_as_user(sub: str) -> str:
    """Return ``sub`` if it can be a partition key and an S3 folder, else refuse."""
    try:
        user_prefix(sub)
    except ValueError as exc:
        raise RestoreError(f"--as-user: {exc}") from None
    if sub.strip() != sub or len(sub.encode("utf-8")) > MAX_PARTITION_KEY_BYTES:
        raise RestoreError("--as-user: not a usable user id (surrounding spaces or too long)")
    return sub


def check_tables(dynamodb: DynamoDBClient, targets: Mapping[TableName, str]) -> None:
    """Refuse unless every target table exists with Kakeibo's key schema."""
    for table, name in targets.items():
        try:
            described = dynamodb.describe_table(TableName=name)["Table"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise RestoreError(
                    f"the DynamoDB table {name} ({table}) does not exist; create it first "
                    "(or check SLIPS_TABLE / BALANCES_TABLE)"
                ) from None
            raise RestoreError(f"cannot read the DynamoDB table {name}: {_reason(exc)}") from None
        except BotoCoreError as exc:
            raise RestoreError(f"cannot reach DynamoDB: {exc}") from None
        key_schema = [dict(k) for k in described.get("KeySchema", [])]
        if not _same_keys(key_schema, KEY_SCHEMA):
            raise RestoreError(
                f"the DynamoDB table {name} ({table}) is not keyed by {PARTITION_KEY} and "
                f"{SORT_KEY}"
            )


def put_items(
    dynamodb: DynamoDBClient,
    table_name: str,
    items: Iterator[Item] | Sequence[Item],
    *,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    max_retries: int = 10,
    base_delay: float = 0.05,
    max_delay: float = 5.0,
) -> int:
    """Write items with BatchWriteItem, retrying UnprocessedItems with backoff; return the count.

    ``max_retries`` bounds consecutive answers that made no progress at all.
    """
    written = 0
    batch: list[Item] = []

    def flush() -> None:
        nonlocal written
        pending: list[Any] = [{"PutRequest": {"Item": item}} for item in batch]
        stalled = 0
        attempt = 0
        while pending:
            if attempt:
                # Exponential backoff with jitter, as AWS advises for UnprocessedItems.
                delay = min(max_delay, base_delay * 2 ** (attempt - 1))
                sleep(delay / 2 + random.uniform(0, delay / 2))
            try:
                answer = dynamodb.batch_write_item(RequestItems={table_name: pending})
            except (ClientError, BotoCoreError) as exc:
                raise WriteError(
                    f"DynamoDB refused a write to {table_name} after {written} items: "
                    f"{_reason(exc)}. Running the restore again is safe."
                ) from None
            left: list[Any] = list((answer.get("UnprocessedItems") or {}).get(table_name, []))
            done = len(pending) - len(left)
            written += done
            if progress is not None and done:
                progress(done)
            stalled = 0 if done else stalled + 1
            if stalled > max_retries:
                raise WriteError(
                    f"DynamoDB kept throttling writes to {table_name} after {written} items. "
                    "Running the restore again later is safe."
                )
            pending = left
            attempt += 1
        batch.clear()

    for item in items:
        batch.append(item)
        if len(batch) == BATCH_SIZE:
            flush()
    if batch:
        flush()
    return written


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)


@dataclass(frozen=True)
class TablePlan:
    """One verified table, ready to write: where to, how many items, as whom."""

    table: TableName
    target: str
    items: int
    as_user: str | None = None


def plan_restore(
    *,
    dynamodb: DynamoDBClient,
    archive: Archive,
    tables: Mapping[TableName, str],
    only: Sequence[TableName] | None = None,
    as_user: str | None = None,
) -> list[TablePlan]:
    """Check the archive, its items and the target tables; write nothing.

    ``tables`` maps "slips"/"balances" to DynamoDB table names; ``only`` limits
    the restore to some tables; ``as_user`` moves the items to another user.
    """
    chosen: list[TableName] = list(dict.fromkeys(only or TABLES))
    if as_user is not None:
        as_user = check_as_user(as_user)
    counts = archive.verify(chosen, as_user=as_user)
    targets = {table: tables[table] for table in chosen}
    check_tables(dynamodb, targets)
    return [
        TablePlan(table=table, target=targets[table], items=counts[table], as_user=as_user)
        for table in chosen
    ]


def write_table(
    dynamodb: DynamoDBClient,
    archive: Archive,
    plan: TablePlan,
    *,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Write one planned table's items; return how many were written."""
    items = archive.iter_items(plan.table, as_user=plan.as_user)
    return put_items(dynamodb, plan.target, items, progress=progress, sleep=sleep)


def restore_archive(
    *,
    dynamodb: DynamoDBClient,
    archive: Archive,
    tables: Mapping[TableName, str],
    only: Sequence[TableName] | None = None,
    as_user: str | None = None,
) -> dict[TableName, int]:
    """Verify everything, then write every planned table; return items written per table."""
    plans = plan_restore(
        dynamodb=dynamodb, archive=archive, tables=tables, only=only, as_user=as_user
    )
    return {plan.table: write_table(dynamodb, archive, plan) for plan in plans}
