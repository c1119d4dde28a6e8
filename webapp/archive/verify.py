"""Read a stored archive back from S3 after writing it, as a restore would.

An archive counts as made only once it reads back: the object's size is what
was uploaded, the zip's directory and manifest open with the same checks a
restore makes (``reader``), the signature is this installation's, and the
manifest's item counts equal what the export queried. ``full`` also inflates
every file, checks each one's SHA-256 and counts every item of the JSON files
(what an automatic backup gets: nobody looks at it until it is needed). Without
it only the zip's end, its directory, the manifest and the signature are read,
with ranged GETs, so an ordinary export pays a few small requests.

The reader is used read-only, exactly as a restore uses it; nothing here
decides what a restore accepts.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import UserError
from ..model import TableName
from .errors import RestoreError
from .upload import SeekableReader

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from .signing import Keyring

_CHUNK = 1024 * 1024
#: What a ranged read fetches at least: the zip's end and directory in one or two GETs.
_RANGE_BUFFER = 64 * 1024


class ArchiveDamaged(Exception):
    """The stored archive did not read back as written; ``str()`` says what differed."""


@dataclass(frozen=True)
class Verified:
    """What reading an archive back proved: who signed it, what it holds, how deeply."""

    kid: str
    counts: dict[TableName, int]
    #: Every file inflated and hashed and every item counted (not just the directory).
    full: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the proof as a job's result records it."""
        return {"kid": self.kid, "counts": dict(self.counts), "full": self.full}


def verify_stored(
    s3: S3Client,
    bucket: str,
    key: str,
    keyring: Keyring,
    *,
    size: int,
    counts: Mapping[TableName, int],
    full: bool,
) -> Verified:
    """Read ``key`` back and check it against what was written; raise ArchiveDamaged if not."""
    try:
        stored = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
    except (ClientError, BotoCoreError) as exc:
        raise ArchiveDamaged(f"cannot read s3://{bucket}/{key}: {exc}") from exc
    if stored != size:
        raise ArchiveDamaged(f"{stored} bytes stored, {size} written")
    source: IO[bytes]
    if full:
        source = _download(s3, bucket, key)
    else:
        source = io.BufferedReader(_RangedObject(s3, bucket, key, size), _RANGE_BUFFER)
    with source:
        try:
            return _check(source, keyring, counts, full=full)
        except (RestoreError, UserError) as exc:
            raise ArchiveDamaged(str(exc)) from exc
        except (ClientError, BotoCoreError, OSError) as exc:
            raise ArchiveDamaged(f"cannot read s3://{bucket}/{key}: {exc}") from exc


def _check(
    source: IO[bytes], keyring: Keyring, expected: Mapping[TableName, int], *, full: bool
) -> Verified:
    from .reader import open_archive

    with open_archive(source) as reader:
        kid = reader.check_signature(keyring).kid
        manifest = reader.manifest
        listed = {table: entry.item_count for table, entry in manifest.tables.items()}
        if listed != dict(expected):
            raise ArchiveDamaged(f"the manifest counts {listed}, the export wrote {dict(expected)}")
        every = [f for entry in manifest.tables.values() for f in entry.files.values()]
        for file in [*every, *manifest.files.values()]:
            try:
                info = reader.zip.getinfo(file.name)
            except KeyError:
                raise ArchiveDamaged(f"{file.name} is listed but not in the zip") from None
            if info.file_size != file.bytes:
                raise ArchiveDamaged(f"{file.name}: {info.file_size} bytes, listed {file.bytes}")
        if not full:
            return Verified(kid=kid, counts=listed, full=False)
        exact = [table for table, entry in manifest.tables.items() if entry.json_file]
        counted = reader.verify(exact)
        for table in exact:
            if counted[table] != expected[table]:
                raise ArchiveDamaged(
                    f"{table}: {counted[table]} items read back, {expected[table]} written"
                )
        return Verified(kid=kid, counts=listed, full=True)


def _download(s3: S3Client, bucket: str, key: str) -> IO[bytes]:
    """Copy the object into a temporary file, at its start."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (returned open, closed by the caller)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        for chunk in body.iter_chunks(_CHUNK):
            spool.write(chunk)
    except (ClientError, BotoCoreError) as exc:
        spool.close()
        raise ArchiveDamaged(f"cannot read s3://{bucket}/{key}: {exc}") from exc
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


class _RangedObject(SeekableReader):
    """An S3 object as a seekable read-only file: each read is one ranged GET."""

    def __init__(self, s3: S3Client, bucket: str, key: str, size: int) -> None:
        self._s3, self._bucket, self._key, self._size = s3, bucket, key, size
        self._position = 0

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        end = min(self._position + len(view), self._size)
        if end <= self._position:
            return 0
        answer = self._s3.get_object(
            Bucket=self._bucket, Key=self._key, Range=f"bytes={self._position}-{end - 1}"
        )
        data = answer["Body"].read()
        view[: len(data)] = data
        self._position += len(data)
        return len(data)
