"""Where a restore reads its archive: one of the user's archives or backups, an upload, a moment.

Preview and restore both read the archive from S3 into a temporary file: the key
is built from the job's verified user and never taken from a message or a form.
Before anything is compared the archive must be signed by this installation and
be the user's own; the core then verifies every file and item.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Literal

from botocore.exceptions import BotoCoreError, ClientError

from ..archive.errors import RestoreError
from ..archive.ids import BACKUP_PREFIX, EXPORT_PREFIX, ArchiveId, archive_key, upload_key
from ..aws import error_code
from ..errors import N_

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from ..archive.reader import ArchiveReader
    from ..archive.signing import Keyring
    from .kind import JobServices

_CHUNK = 1024 * 1024

NOT_YOURS = N_(
    "This archive belongs to another account. You can restore only archives of your own "
    "account from this page."
)
GONE = N_("The archive or uploaded file is no longer there. Please start again.")
CHANGED = N_("The file changed after it was checked. Please start the restore again.")
TOO_BIG = N_("The file is larger than %(limit)s bytes, the most a restore takes.")
UNREADABLE = N_("The file could not be read just now. Please try again.")

#: Where the file comes from: the user's own exports, their automatic backups, their PC, or
#: their book as it was at a moment (an archive the check makes, in the upload inbox).
Origin = Literal["archive", "backup", "upload", "moment"]
ORIGINS: tuple[Origin, ...] = ("archive", "backup", "upload", "moment")


@dataclass(frozen=True)
class RestoreSource:
    """Which file to restore from: an archive or backup (by id), or an upload (by token)."""

    origin: Origin
    #: The archive id, or the upload's token.
    name: str
    #: An upload's file name on the user's PC, as their browser gave it (shown, never used).
    filename: str = ""
    #: A moment's time (ISO 8601, UTC, to the millisecond).
    at: str = ""

    def key(self, user_id: str) -> str:
        """Return the S3 key to read: always under ``user_id``'s own prefix."""
        if self.inbox:
            return upload_key(user_id, self.name)
        parsed = ArchiveId.parse(self.name)
        if parsed is None:
            raise RestoreError(GONE)
        return archive_key(user_id, parsed, self.prefix)

    @property
    def prefix(self) -> str:
        """Return where in the bucket an archive or backup lives (not for an upload)."""
        return BACKUP_PREFIX if self.origin == "backup" else EXPORT_PREFIX

    @property
    def uploaded(self) -> bool:
        """Return whether the file is an upload from the user's PC."""
        return self.origin == "upload"

    @property
    def inbox(self) -> bool:
        """Return whether the file waits in the upload inbox (deleted once restored)."""
        return self.origin in ("upload", "moment")

    def to_dict(self) -> dict[str, str]:
        """Return the source as a job record stores it."""
        if self.origin == "moment":
            return {"kind": self.origin, "token": self.name, "at": self.at}
        if self.uploaded:
            stored = {"kind": self.origin, "token": self.name}
            if self.filename:
                stored["filename"] = self.filename
            return stored
        return {"kind": self.origin, "archive_id": self.name}

    @classmethod
    def from_dict(cls, raw: object) -> RestoreSource:
        """Return the source a record stores; refuse (as gone) anything else."""
        if not isinstance(raw, Mapping) or raw.get("kind") not in ORIGINS:
            raise RestoreError(GONE)
        origin: Origin = raw["kind"]
        name = raw.get("token" if origin in ("upload", "moment") else "archive_id")
        if not isinstance(name, str) or not name:
            raise RestoreError(GONE)
        filename, at = raw.get("filename"), raw.get("at")
        if origin == "moment" and not isinstance(at, str):
            raise RestoreError(GONE)
        return cls(
            origin,
            name,
            filename if isinstance(filename, str) else "",
            at if isinstance(at, str) else "",
        )


@contextmanager
def opened(
    services: JobServices, user_id: str, source: RestoreSource, *, etag: str | None = None
) -> Iterator[tuple[ArchiveReader, str]]:
    """Download the source and open it as the user's signed archive; yield it and its ETag.

    With ``etag`` the file must be exactly the one a preview checked.
    """
    try:
        key = source.key(user_id)
    except ValueError:
        raise RestoreError(GONE) from None
    settings = services.settings
    spool, found = _download(
        services.clients.s3,
        settings.export_bucket,
        key,
        limit=settings.max_upload_bytes,
        etag=etag,
    )
    with spool, _open_own(spool, user_id, services.keyring) as reader:
        yield reader, found


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


def _open_own(spool: IO[bytes], user_id: str, keyring: Keyring) -> ArchiveReader:
    """Open the archive and refuse it unless it is signed by us and the user's own."""
    from ..archive.reader import open_archive

    reader = open_archive(spool)
    try:
        reader.check_signature(keyring)
        if reader.manifest.user_sub != user_id:
            raise RestoreError(NOT_YOURS)
    except BaseException:
        reader.close()
        raise
    return reader
