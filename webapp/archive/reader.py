"""Read an archive back: open the zip, parse its manifest, check and decode its items.

Nothing is trusted before it is checked: every listed file's size and SHA-256,
each JSON file's item count, every item (see ``decode``), that every item
belongs to the archive's user, and that no key appears twice. An upload from
a stranger's PC is hostile until proved otherwise, so the zip's shape (entry
count, names, sizes, compression ratio) is checked before anything is inflated.

Why this long: the order of those checks is the security argument, and it
reads best in one place; splitting the zip checks from the item checks would
spread one archive's validation over two modules.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from ..errors import N_
from ..model import PARTITION_KEY, SORT_KEY, TableName
from .decode import Item, check_size, decode_line
from .errors import DamagedArchive, NotAnArchive, NotRestorable
from .manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    README_NAME,
    FileEntry,
    Manifest,
    TableEntry,
    parse_manifest,
)
from .signing import SIGNATURE_NAME, Keyring, SigningKey
from .signing import verify as verify_signature

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
    #: The previous item's sort key: keys must rise strictly, which (in one user's
    #: partition) also rules out duplicates, in constant memory.
    last_sk: str | None = None

    def take(self, sk: str, where: str, file: str) -> None:
        """Count one more item; refuse a sort key that repeats or comes out of order."""
        if self.last_sk is not None and sk <= self.last_sk:
            if sk == self.last_sk:
                raise DamagedArchive(
                    N_("%(where)s: the item with sk %(sk)s appears twice"),
                    where=where,
                    sk=repr(sk),
                    file=file,
                )
            raise DamagedArchive(
                N_(
                    "%(where)s: the item with sk %(sk)s is out of sort-key order "
                    "(an export writes them in order): the archive is damaged"
                ),
                where=where,
                sk=repr(sk),
                file=file,
            )
        self.last_sk = sk
        self.count += 1


@dataclass(frozen=True)
class ZipLimits:
    """What an archive may be, checked from the zip's directory before anything is inflated.

    Our archives hold a handful of files that deflate 5 to 15 times; a zip bomb
    declares (or hides) sizes far beyond what its own bytes could honestly hold.
    """

    max_entries: int = 32
    max_total_bytes: int = 4 * 1024**3
    max_ratio: int = 100


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)


class ArchiveReader:
    """An open archive whose manifest has been read; use ``verify`` before reading items."""

    def __init__(self, zf: zipfile.ZipFile, manifest: Manifest, raw_manifest: bytes = b"") -> None:
        self.zip = zf
        self.manifest = manifest
        self.raw_manifest = raw_manifest

    def check_signature(self, keyring: Keyring) -> SigningKey:
        """Return the key that signed this archive; raise SignatureError if none did."""
        try:
            info = self.zip.getinfo(SIGNATURE_NAME)
        except KeyError:
            signature = None
        else:
            with self._open(info) as fh:
                signature = _read(fh, 4097, SIGNATURE_NAME)
        return verify_signature(self.raw_manifest, signature, keyring)

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
            raise NotAnArchive(N_("the archive has no %(table)s table"), table=table)
        if entry.json_file is None:
            raise NotRestorable(
                N_(
                    "the archive holds %(table)s as CSV only, which cannot be restored exactly "
                    "(CSV loses DynamoDB's types); export again with the JSON format"
                ),
                table=table,
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
        for listed in self.manifest.files.values():  # the workbook: no one table's
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
            raise DamagedArchive(
                N_("%(file)s is listed in the manifest but missing from the archive"),
                file=listed.name,
            ) from None
        if info.file_size != listed.bytes:
            raise _size_mismatch(listed, info.file_size)
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
                where = f"{listed.name}:{number}"
                item = decode_line(line, where)
                if item[PARTITION_KEY]["S"] != owner:
                    raise DamagedArchive(
                        N_(
                            "%(where)s: the item belongs to another user than the archive's "
                            "(%(owner)s); a restore never writes other users' data"
                        ),
                        where=where,
                        owner=owner,
                        file=listed.name,
                    )
                if as_user is not None:
                    item[PARTITION_KEY] = {"S": as_user}
                    check_size(item, where)
                if scan is not None:
                    scan.take(item[SORT_KEY]["S"], where, listed.name)
                yield item
        if scan is not None:
            _check_digest(listed, size, digest.hexdigest())
            if number != entry.item_count:
                raise DamagedArchive(
                    N_(
                        "%(file)s holds %(count)s items, the manifest says %(listed)s: "
                        "the archive is damaged"
                    ),
                    file=listed.name,
                    count=number,
                    listed=entry.item_count,
                )

    def _open(self, info: zipfile.ZipInfo) -> IO[bytes]:
        # A re-packed archive may use a method zipfile lacks (Windows' Deflate64,
        # AES): say so plainly rather than fail inside zipfile.
        if info.compress_type not in _READABLE_COMPRESSION:
            raise DamagedArchive(
                N_(
                    "%(file)s is compressed in a way that cannot be read here "
                    "(zip method %(method)s); use the archive as downloaded"
                ),
                file=info.filename,
                method=str(info.compress_type),
            )
        try:
            return self.zip.open(info)
        # RuntimeError: an encrypted member, which our archives never have.
        except (zipfile.BadZipFile, RuntimeError, OSError) as exc:
            raise DamagedArchive(N_("%(file)s cannot be read"), file=info.filename) from exc


def open_archive(source: str | Path | IO[bytes], limits: ZipLimits = ZipLimits()) -> ArchiveReader:
    """Open a zip and read its manifest; refuse what is not a supported archive.

    The zip's directory is checked against ``limits`` first (entry count, file
    names, declared sizes and compression ratios), so a hostile upload is refused
    before a single byte is inflated.
    """
    name = str(source) if isinstance(source, str | Path) else "the archive"
    try:
        zf = zipfile.ZipFile(source)
    except zipfile.BadZipFile:
        raise NotAnArchive(
            N_("%(file)s is not a zip archive (or it is damaged)"), file=name
        ) from None
    except OSError:
        raise NotAnArchive(N_("%(file)s cannot be read"), file=name) from None
    try:
        check_shape(zf, limits, name)
        raw = read_manifest_bytes(zf)
        manifest = parse_manifest(raw)
        check_listed(zf, manifest)
    except BaseException:
        zf.close()
        raise
    return ArchiveReader(zf, manifest, raw)


def check_shape(zf: zipfile.ZipFile, limits: ZipLimits, name: str = "the archive") -> None:
    """Refuse a zip whose directory no archive of ours could have."""
    infos = zf.infolist()
    names = [info.filename for info in infos]
    if len(names) != len(set(names)):
        raise NotAnArchive(
            N_("%(file)s holds the same file twice: the archive is damaged"), file=name
        )
    if len(infos) > limits.max_entries:
        raise NotAnArchive(
            N_("%(file)s holds %(count)s files; an archive holds at most %(most)s"),
            file=name,
            count=len(infos),
            most=limits.max_entries,
        )
    for info in infos:
        if not _SAFE_NAME.fullmatch(info.filename) or ".." in info.filename:
            raise NotAnArchive(
                N_("%(file)s holds a file named %(entry)s, which no archive of ours has"),
                file=name,
                entry=repr(info.filename[:80]),
            )
        if info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise NotAnArchive(
                N_(
                    "%(entry)s would inflate %(ratio)s times its size: the file looks like a "
                    "zip bomb, so it is not opened"
                ),
                entry=info.filename,
                ratio=info.file_size // max(info.compress_size, 1),
            )
    total = sum(info.file_size for info in infos)
    if total > limits.max_total_bytes:
        raise NotAnArchive(
            N_("%(file)s would inflate to %(size)s bytes, more than an archive may hold"),
            file=name,
            size=total,
        )


def check_listed(zf: zipfile.ZipFile, manifest: Manifest) -> None:
    """Refuse a file the manifest does not list: its signature would not cover it.

    Archives of format version 1 listed every file but README.txt; theirs is let
    through unchecked (and never read), so they still restore.
    """
    listed = {name for entry in manifest.tables.values() for name in entry.files}
    listed |= set(manifest.files) | {MANIFEST_NAME, SIGNATURE_NAME}
    if manifest.format_version == 1:
        listed.add(README_NAME)
    for name in zf.namelist():
        if name not in listed:
            raise DamagedArchive(
                N_("the archive holds %(file)s, which its manifest does not list"), file=name
            )


def read_manifest(zf: zipfile.ZipFile) -> Manifest:
    """Return the manifest of an open zip; refuse a missing, foreign or newer one."""
    return parse_manifest(read_manifest_bytes(zf))


def read_manifest_bytes(zf: zipfile.ZipFile) -> bytes:
    """Return the exact bytes of the zip's manifest (what its signature covers)."""
    try:
        with zf.open(MANIFEST_NAME) as fh:
            raw = _read(fh, MAX_MANIFEST_BYTES + 1, MANIFEST_NAME)
    except KeyError:
        raise NotAnArchive(
            N_("the zip has no %(file)s: it is not a Kakeibo Export archive"),
            file=MANIFEST_NAME,
        ) from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise NotAnArchive(N_("%(file)s is too large to be a manifest"), file=MANIFEST_NAME)
    return raw


def _read(fh: IO[bytes], size: int, name: str) -> bytes:
    # zipfile checks each member's CRC-32 as it reads, and raises at the end.
    try:
        return fh.read(size)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise DamagedArchive(N_("%(file)s is damaged"), file=name) from exc


def _readline(fh: IO[bytes], name: str) -> bytes:
    try:
        line = fh.readline(MAX_LINE_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise DamagedArchive(N_("%(file)s is damaged"), file=name) from exc
    if len(line) > MAX_LINE_BYTES:
        raise DamagedArchive(N_("%(file)s has a line longer than any DynamoDB item"), file=name)
    return line


def _check_digest(listed: FileEntry, size: int, digest: str) -> None:
    if size != listed.bytes:
        raise _size_mismatch(listed, size)
    if digest != listed.sha256:
        raise DamagedArchive(
            N_(
                "%(file)s does not match its SHA-256 in the manifest: the archive is damaged "
                "or was changed"
            ),
            file=listed.name,
        )


def _size_mismatch(listed: FileEntry, size: int) -> DamagedArchive:
    return DamagedArchive(
        N_("%(file)s has %(size)s bytes, the manifest says %(listed)s: the archive is damaged"),
        file=listed.name,
        size=size,
        listed=listed.bytes,
    )
