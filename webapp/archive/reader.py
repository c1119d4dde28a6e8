"""Read an archive back: open the zip, parse its manifest, check and decode its items.

Nothing is trusted before it is checked: every listed file's size and SHA-256,
each JSON file's item count, every item (see ``decode``), that every item
belongs to the archive's user, and that no key appears twice.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from ..model import PARTITION_KEY, SORT_KEY, TableName
from .decode import Item, check_size, decode_line
from .errors import RestoreError
from .manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    FileEntry,
    Manifest,
    ManifestError,
    TableEntry,
    parse_manifest,
)

# A line of DynamoDB JSON holds one item of at most 400 KB; base64 and JSON
# escapes can roughly triple that, and anything longer is not an item.
MAX_LINE_BYTES = 4 * 1024 * 1024
_CHUNK = 1024 * 1024

#: The zip methods Python's zipfile decompresses (ours are deflated).
_READABLE_COMPRESSION = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)


@dataclass
class _Scan:
    count: int = 0
    keys: set[tuple[str, str]] = field(default_factory=set)


class ArchiveReader:
    """An open archive whose manifest has been read; use ``verify`` before reading items."""

    def __init__(self, zf: zipfile.ZipFile, manifest: Manifest) -> None:
        self.zip = zf
        self.manifest = manifest

    def __enter__(self) -> ArchiveReader:
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
                    check_size(item, where)
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


def open_archive(source: str | Path | IO[bytes]) -> ArchiveReader:
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
    return ArchiveReader(zf, manifest)


def read_manifest(zf: zipfile.ZipFile) -> Manifest:
    """Return the manifest of an open zip; refuse a missing, foreign or newer one."""
    try:
        with zf.open(MANIFEST_NAME) as fh:
            raw = _read(fh, MAX_MANIFEST_BYTES + 1, MANIFEST_NAME)
    except KeyError:
        raise RestoreError(
            f"the zip has no {MANIFEST_NAME}: it is not a Kakeibo Export archive"
        ) from None
    try:
        return parse_manifest(raw)
    except ManifestError as exc:
        raise RestoreError(str(exc)) from None


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
