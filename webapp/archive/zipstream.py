"""Write a zip archive front to back, never seeking, with entries written side by side.

Each entry streams through deflate into its own segment of an ``Upload``; its CRC
and sizes follow its data in a data descriptor (general-purpose flag bit 3), as
zip allows when the sizes are unknown up front. Each entry's SHA-256 is taken on
the way, for the manifest. No ZIP64: an entry or the archive past 4 GiB raises
``TooLarge`` rather than writing a zip some tools cannot read.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from datetime import datetime

from .upload import Segment, TooLarge, Upload

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_DESCRIPTOR = struct.Struct("<IIII")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_LIMIT = 0xFFFFFFFF
_MAX_ENTRIES = 0xFFFF

_VERSION = 20  # 2.0: deflate and data descriptors
_MADE_BY = (3 << 8) | _VERSION  # Unix, so unzip keeps the permissions below
_FLAGS = 0x08  # sizes and CRC in a data descriptor after the data
_FLAGS_UTF8 = 0x800
_DEFLATED = 8
_PERMISSIONS = 0o100644 << 16


class ZipStream:
    """A zip archive written into an upload; ``open`` entries, then ``close``."""

    def __init__(self, upload: Upload, *, modified: datetime, level: int = 6) -> None:
        self.upload = upload
        self.level = level
        self.entries: list[ZipEntry] = []
        self._dos_time, self._dos_date = _dos_datetime(modified)

    def open(self, name: str) -> ZipEntry:
        """Start an entry; it follows every entry opened before it."""
        entry = ZipEntry(self, name, self.upload.open())
        self.entries.append(entry)
        return entry

    def add(self, name: str, data: bytes) -> ZipEntry:
        """Write a whole entry at once."""
        entry = self.open(name)
        entry.write(data)
        entry.close()
        return entry

    def close(self) -> None:
        """Write the central directory; every entry must be closed."""
        if len(self.entries) > _MAX_ENTRIES:
            raise TooLarge("too many entries for a zip without ZIP64")
        directory = self.upload.open()
        records = []
        for entry in self.entries:
            offset = entry.segment.offset
            if not entry.closed or offset is None:
                raise RuntimeError(f"entry {entry.name} is still open")
            if offset >= _LIMIT:
                raise TooLarge("the archive is larger than a zip without ZIP64 may be")
            records.append(entry.central_record(offset))
        body = b"".join(records)
        start = directory.offset
        if start is None:
            raise RuntimeError("the central directory must come last")
        if start >= _LIMIT:
            raise TooLarge("the archive is larger than a zip without ZIP64 may be")
        count = len(self.entries)
        end = _END.pack(0x06054B50, 0, 0, count, count, len(body), start, 0)
        directory.write(body + end)
        directory.close()


class ZipEntry:
    """One file in the archive: deflated, with its CRC-32, sizes and SHA-256."""

    def __init__(self, archive: ZipStream, name: str, segment: Segment) -> None:
        self.archive = archive
        self.name = name
        self.segment = segment
        self.size = 0
        self.compressed_size = 0
        self.crc = 0
        self.closed = False
        self._name = name.encode("utf-8")
        self._flags = _FLAGS if name.isascii() else _FLAGS | _FLAGS_UTF8
        self._sha256 = hashlib.sha256()
        self._deflate = zlib.compressobj(archive.level, zlib.DEFLATED, -zlib.MAX_WBITS)
        header = _LOCAL.pack(
            0x04034B50,
            _VERSION,
            self._flags,
            _DEFLATED,
            archive._dos_time,
            archive._dos_date,
            0,  # CRC and sizes: in the data descriptor
            0,
            0,
            len(self._name),
            0,
        )
        segment.write(header + self._name)

    @property
    def sha256(self) -> str:
        """Return the hex SHA-256 of the uncompressed data so far."""
        return self._sha256.hexdigest()

    def write(self, data: bytes) -> None:
        """Add uncompressed data to the entry."""
        if self.closed:
            raise RuntimeError(f"entry {self.name} is closed")
        self.size += len(data)
        if self.size >= _LIMIT:
            raise TooLarge(f"{self.name} is larger than a zip without ZIP64 may hold")
        self._sha256.update(data)
        self.crc = zlib.crc32(data, self.crc)
        self._emit(self._deflate.compress(data))

    def close(self) -> None:
        """Finish the entry with its data descriptor."""
        if self.closed:
            return
        self._emit(self._deflate.flush())
        if self.compressed_size >= _LIMIT:
            raise TooLarge(f"{self.name} is larger than a zip without ZIP64 may hold")
        self.segment.write(_DESCRIPTOR.pack(0x08074B50, self.crc, self.compressed_size, self.size))
        self.closed = True
        self.segment.close()

    def central_record(self, offset: int) -> bytes:
        """Return the entry's central directory record, its header at ``offset``."""
        return (
            _CENTRAL.pack(
                0x02014B50,
                _MADE_BY,
                _VERSION,
                self._flags,
                _DEFLATED,
                self.archive._dos_time,
                self.archive._dos_date,
                self.crc,
                self.compressed_size,
                self.size,
                len(self._name),
                0,  # extra field
                0,  # comment
                0,  # disk number
                0,  # internal attributes
                _PERMISSIONS,
                offset,
            )
            + self._name
        )

    def _emit(self, data: bytes) -> None:
        if data:
            self.compressed_size += len(data)
            self.segment.write(data)


def _dos_datetime(moment: datetime) -> tuple[int, int]:
    """Return zip's (time, date) fields: two-second steps, years 1980 to 2107."""
    year = min(max(moment.year, 1980), 2107)
    time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    day = ((year - 1980) << 9) | (moment.month << 5) | moment.day
    return time, day
