"""``manifest.json``, the archive's table of contents: one schema, written and read here.

The export builds a ``Manifest`` and writes it with ``to_json``; restore reads
one back with ``parse_manifest``, which refuses anything that is not exactly
this schema. Both sides share the dataclasses and the version constant, so the
format cannot drift between them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import N_
from ..model import ATTRIBUTE_DEFINITIONS, KEY_SCHEMA, TABLES, TableName
from .errors import NewerArchive, NotAnArchive
from .filters import FilterError, Filters

MANIFEST_NAME = "manifest.json"
README_NAME = "README.txt"
FORMAT_NAME = "kakeibo-export"
#: The version of the archive's layout this code writes. Version 2 lists every file of
#: the archive (README.txt too), so the signature covers each of them.
FORMAT_VERSION = 2
#: Archive layouts this code reads. Version 1 listed every file but README.txt.
SUPPORTED_VERSIONS = frozenset({1, FORMAT_VERSION})
#: A manifest larger than this is not one of ours.
MAX_MANIFEST_BYTES = 1024 * 1024

#: The manifest's name for each file format.
CSV = "csv"
DYNAMODB_JSON = "dynamodb-json"
XLSX = "xlsx"
#: README.txt: plain text for people.
TEXT = "text"

#: The formats an export can write: CSV to read, DynamoDB JSON to restore, a workbook.
Format = Literal["csv", "json", "xlsx"]
ALL_FORMATS: frozenset[Format] = frozenset({"csv", "json", "xlsx"})
#: What an export writes unless asked otherwise: CSV to read, DynamoDB JSON to restore.
DEFAULT_FORMATS: frozenset[Format] = frozenset({"csv", "json"})
#: What the manifest calls each format, in archive order: per table its CSV and
#: JSON files, then the one workbook with a sheet per table.
FILE_FORMATS: dict[Format, str] = {"csv": CSV, "json": DYNAMODB_JSON, "xlsx": XLSX}
#: The CSV's character encodings: UTF-8 with a byte order mark (Excel), or Shift_JIS
#: as Windows has it (accounting software such as freee).
CsvEncoding = Literal["utf-8-sig", "cp932"]
CSV_ENCODINGS: tuple[CsvEncoding, ...] = ("utf-8-sig", "cp932")
#: UTF-8 with a byte order mark, which Excel opens correctly: the CSV unless asked otherwise.
DEFAULT_ENCODING: CsvEncoding = "utf-8-sig"


class ManifestError(NotAnArchive):
    """The manifest is missing, foreign or malformed; ``str()`` says which."""


def data_file(table: TableName, extension: str) -> str:
    """Return the name of a table's file in the archive: ``slips.csv``, ``slips.json``."""
    return f"{table}.{extension}"


@dataclass(frozen=True)
class FileEntry:
    """One file of the archive as the manifest lists it."""

    name: str
    format: str
    bytes: int
    sha256: str
    #: A CSV file's character encoding ("utf-8-sig" or "cp932") ...
    encoding: str | None = None
    #: ... and how many characters it could not hold, written as ``?``.
    replaced: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the file's entry as the manifest writes it."""
        entry: dict[str, Any] = {"format": self.format, "bytes": self.bytes, "sha256": self.sha256}
        if self.encoding is not None:
            entry["encoding"] = self.encoding
        if self.replaced is not None:
            entry["replaced"] = self.replaced
        return entry


@dataclass(frozen=True)
class TableEntry:
    """One table of the archive as the manifest lists it."""

    table: TableName
    table_name: str
    item_count: int
    files: dict[str, FileEntry]

    @property
    def json_file(self) -> FileEntry | None:
        """Return the table's DynamoDB JSON file, or None for a CSV-only export."""
        found = [f for f in self.files.values() if f.format == DYNAMODB_JSON]
        return found[0] if found else None


@dataclass(frozen=True)
class Manifest:
    """What an archive holds: who, which period, and per table its files."""

    format_version: int
    created_at: str
    user_sub: str
    range_start: str
    range_end: str
    tables: dict[TableName, TableEntry]
    #: Files of no one table: the workbook, with a sheet per table.
    files: dict[str, FileEntry] = field(default_factory=dict)
    #: The export's filters (``Filters.to_dict``): empty for everything in the range.
    filters: dict[str, list[str]] = field(default_factory=dict)

    @property
    def filtered(self) -> bool:
        """Return whether the archive holds only some of its period's items."""
        return bool(self.filters)

    def to_json(self) -> bytes:
        """Return the manifest as written into the archive (UTF-8, indented)."""
        document = {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "created_at": self.created_at,
            "user_sub": self.user_sub,
            "range": {"start": self.range_start, "end": self.range_end},
            "tables": {
                table: {
                    "table_name": entry.table_name,
                    "key_schema": KEY_SCHEMA,
                    "attribute_definitions": ATTRIBUTE_DEFINITIONS,
                    "item_count": entry.item_count,
                    "files": {f.name: f.to_dict() for f in entry.files.values()},
                }
                for table, entry in self.tables.items()
            },
        }
        if self.files:
            document["files"] = {f.name: f.to_dict() for f in self.files.values()}
        if self.filters:
            document["filters"] = self.filters
        return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def parse_manifest(raw: bytes) -> Manifest:
    """Return the manifest in ``raw``; refuse a foreign, newer or malformed one."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(N_("%(file)s is too large to be a manifest"), file=MANIFEST_NAME)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ManifestError(N_("%(file)s is not valid JSON"), file=MANIFEST_NAME) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise ManifestError(N_("%(file)s is not a Kakeibo Export manifest"), file=MANIFEST_NAME)
    version = data.get("format_version")
    if type(version) is not int:
        raise _malformed("format_version")
    if version not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_VERSIONS))
        raise NewerArchive(
            N_("the archive has format version %(version)s; this restore reads version %(known)s"),
            version=str(version),
            known=supported,
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
            raise ManifestError(
                N_("%(file)s lists an unknown table %(table)s"),
                file=MANIFEST_NAME,
                table=repr(table),
            )
        entries[table] = _table_entry(table, raw_entry)
    shared = data.get("files", {})
    if not isinstance(shared, dict):
        raise _malformed("files")
    archive_files = _file_entries("files", shared)
    filters = _filters(data.get("filters", {}))
    names = [name for entry in entries.values() for name in entry.files] + list(archive_files)
    if len(names) != len(set(names)) or MANIFEST_NAME in names:
        raise _malformed("tables.*.files")
    return Manifest(
        format_version=version,
        created_at=str(data.get("created_at", "")),
        user_sub=user_sub,
        range_start=str(span.get("start", "")),
        range_end=str(span.get("end", "")),
        tables=entries,
        files=archive_files,
        filters=filters,
    )


def _filters(raw: object) -> dict[str, list[str]]:
    if not isinstance(raw, dict):
        raise _malformed("filters")
    try:
        return Filters.from_dict(raw).to_dict()
    except FilterError:
        raise _malformed("filters") from None


def _table_entry(table: TableName, raw: object) -> TableEntry:
    if not isinstance(raw, dict):
        raise _malformed(f"tables.{table}")
    table_name = raw.get("table_name")
    count = raw.get("item_count")
    files = raw.get("files")
    if not isinstance(table_name, str):
        raise _malformed(f"tables.{table}.table_name")
    if type(count) is not int or count < 0:
        raise _malformed(f"tables.{table}.item_count")
    if not isinstance(files, dict):
        raise _malformed(f"tables.{table}.files")
    if not same_keys(raw.get("key_schema"), KEY_SCHEMA) or not same_keys(
        raw.get("attribute_definitions"), ATTRIBUTE_DEFINITIONS
    ):
        raise ManifestError(
            N_(
                "%(file)s: the key schema of %(table)s is not Kakeibo's (user_id and sk, "
                "both strings)"
            ),
            file=MANIFEST_NAME,
            table=table,
        )
    entries = _file_entries(f"tables.{table}.files", files)
    if sum(f.format == DYNAMODB_JSON for f in entries.values()) > 1:
        raise _malformed(f"tables.{table}.files")
    return TableEntry(table=table, table_name=table_name, item_count=count, files=entries)


def _file_entries(where: str, files: dict[str, Any]) -> dict[str, FileEntry]:
    entries: dict[str, FileEntry] = {}
    for name, spec in files.items():
        if (
            not isinstance(spec, dict)
            or not isinstance(spec.get("format"), str)
            or type(spec.get("bytes")) is not int
            or not isinstance(spec.get("sha256"), str)
            or not isinstance(spec.get("encoding", ""), str)
            or type(spec.get("replaced", 0)) is not int
        ):
            raise _malformed(f"{where}.{name}")
        entries[name] = FileEntry(
            name=name,
            format=spec["format"],
            bytes=spec["bytes"],
            sha256=spec["sha256"].lower(),
            encoding=spec.get("encoding"),
            replaced=spec.get("replaced"),
        )
    return entries


def same_keys(value: object, expected: list[dict[str, str]]) -> bool:
    """Return whether ``value`` is the key schema (or definitions) ``expected``, in any order."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        return False
    return sorted(map(_pairs, value)) == sorted(map(_pairs, expected))


def _pairs(value: Mapping[str, Any]) -> list[tuple[str, str]]:
    return sorted((str(k), str(v)) for k, v in value.items())


def _malformed(what: str) -> ManifestError:
    return ManifestError(
        N_("%(file)s is malformed: %(what)s is missing or invalid"), file=MANIFEST_NAME, what=what
    )
