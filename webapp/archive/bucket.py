"""The archives in S3: list, find, presign, delete and prune one user's archives.

``ArchiveBucket`` holds the S3 client, the bucket and the retention; it never
builds them, and speaks only in our own types and errors, so the views never
see boto3 or ``ClientError``. Every method takes the verified ``sub`` of the
signed-in user and touches only keys under that user's prefix.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from ..aws import error_code
from ..errors import N_, UserError
from .ids import EXPORT_PREFIX, ArchiveId, archive_key, parse_key, user_prefix

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import PaginatorConfigTypeDef

ZIP_CONTENT_TYPE = "application/zip"


_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
#: DeleteObjects takes at most this many keys per call.
_DELETE_BATCH = 1000


class StorageError(UserError):
    """S3 could not do what was asked."""


class ArchiveNotFound(StorageError):
    """The archive is missing, expired, malformed or someone else's."""

    def __init__(self) -> None:
        super().__init__(N_("The archive is gone or never existed."))


@dataclass(frozen=True)
class StoredArchive:
    """One stored archive of a user, as the page shows it."""

    id: ArchiveId
    key: str
    size: int
    expires: datetime

    @property
    def created(self) -> datetime:
        """Return when the export was made (UTC)."""
        return self.id.created

    def expired(self, now: datetime) -> bool:
        """Return whether the archive is past its expiry at ``now``."""
        return now >= self.expires


def expiry(archive_id: ArchiveId, retention_days: int) -> datetime:
    """Return when an archive stops being offered: created + the lifecycle's days.

    S3's lifecycle counts from the upload (a little after the id's time) and
    rounds up to the next midnight UTC, then deletes within about a day; so the
    page stops offering an archive before S3 could have removed it.
    """
    return archive_id.created + timedelta(days=retention_days)


def download_filename(
    archive_id: ArchiveId, *, tag: str | None = None, zone: tzinfo = UTC, everything: bool = False
) -> str:
    """Return the name a downloaded archive is saved under, distinct per format and creation.

    ``kakeibo_2025-01-01_2025-12-31_csv+json_20261202-213105.zip``: the period (or
    ``backup`` for an automatic backup of everything), the formats' ``tag`` when
    known, and the creation time to the second in ``zone`` (the zone the page shows
    times in): two archives of one period made in the same minute do not overwrite
    each other in the downloads folder.
    """
    period = (
        "backup" if everything else f"{archive_id.start.isoformat()}_{archive_id.end.isoformat()}"
    )
    made = archive_id.created.astimezone(zone).strftime("%Y%m%d-%H%M%S")
    return "_".join(part for part in ("kakeibo", period, tag, made) if part) + ".zip"


def content_disposition(filename: str) -> str:
    """Return an ``attachment`` header value with an ASCII and an RFC 5987 name."""
    # Accents fold to their base letter; anything else outside printable ASCII
    # (and the quotes and backslashes a quoted-string cannot hold) becomes "_".
    ascii_name = "".join(
        c if " " <= c <= "~" and c not in '"\\' else "_"
        for c in unicodedata.normalize("NFKD", filename)
        if not unicodedata.combining(c)
    )
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


class ArchiveBucket:
    """One bucket's archives, kept ``retention_days`` days."""

    def __init__(
        self, s3: S3Client, bucket: str, *, retention_days: int, prefix: str = EXPORT_PREFIX
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.retention_days = retention_days
        #: ``exports/`` (the user's own exports) or ``backups/`` (the automatic ones).
        self.prefix = prefix

    def list(
        self, sub: str, *, now: datetime | None = None, page_size: int | None = None
    ) -> list[StoredArchive]:
        """Return a user's live archives, newest first, from ListObjectsV2 alone."""
        now = now or datetime.now(UTC)
        config: PaginatorConfigTypeDef = {"PageSize": page_size} if page_size else {}
        archives: list[StoredArchive] = []
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=user_prefix(sub, self.prefix), PaginationConfig=config
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    archive_id = parse_key(obj["Key"], sub, self.prefix)
                    if archive_id is None:  # not one of ours (e.g. a stray upload)
                        continue
                    archive = StoredArchive(
                        id=archive_id,
                        key=obj["Key"],
                        size=obj["Size"],
                        expires=expiry(archive_id, self.retention_days),
                    )
                    if not archive.expired(now):
                        archives.append(archive)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(
                N_("Your archives could not be listed just now. Try again.")
            ) from exc
        archives.sort(key=lambda a: (a.created, a.id.token), reverse=True)
        return archives

    def find(self, sub: str, archive_id: str, *, now: datetime | None = None) -> StoredArchive:
        """Return a user's live archive by its id text, or raise ArchiveNotFound."""
        parsed = ArchiveId.parse(archive_id)
        if parsed is None:
            raise ArchiveNotFound()
        key = archive_key(sub, parsed, self.prefix)
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) in _NOT_FOUND:
                raise ArchiveNotFound() from exc
            raise StorageError(N_("The archive could not be checked just now. Try again.")) from exc
        archive = StoredArchive(
            id=parsed,
            key=key,
            size=head["ContentLength"],
            expires=expiry(parsed, self.retention_days),
        )
        if archive.expired(now or datetime.now(UTC)):
            raise ArchiveNotFound()
        return archive

    def presign_download(
        self, archive: StoredArchive, *, expires_in: int, filename: str | None = None
    ) -> str:
        """Return a fresh presigned GetObject URL that saves the archive as ``filename``."""
        try:
            return self.s3.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": archive.key,
                    "ResponseContentDisposition": content_disposition(
                        filename or download_filename(archive.id)
                    ),
                    "ResponseContentType": ZIP_CONTENT_TYPE,
                },
                ExpiresIn=expires_in,
            )
        except (ClientError, BotoCoreError) as exc:  # e.g. no credentials to sign with
            raise StorageError(
                N_("A download link could not be made just now. Try again.")
            ) from exc

    def delete(self, sub: str, archive_id: str, *, now: datetime | None = None) -> StoredArchive:
        """Delete a user's live archive and return it, or raise ArchiveNotFound."""
        # DeleteObject succeeds for missing keys too, so look first to answer 404.
        archive = self.find(sub, archive_id, now=now)
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=archive.key)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(N_("The archive could not be deleted just now. Try again.")) from exc
        return archive

    def delete_all(self, sub: str) -> int:
        """Delete every archive of one user under this bucket's prefix; return how many.

        Only keys that ``parse_key`` accepts as the user's are touched: the listing
        is of the user's own prefix, and each key is checked again before deleting.
        """
        try:
            keys = [key for _, key in self._owned(sub)]
            self._delete(keys)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(
                N_("The archives could not be deleted just now. Try again.")
            ) from exc
        return len(keys)

    def prune(self, sub: str, *, keep: int) -> Sequence[str]:
        """Delete the user's archives beyond the newest ``keep``; return the keys deleted."""
        try:
            found = sorted(self._owned(sub), reverse=True)
            old = [key for _, key in found[keep:]]
            self._delete(old)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(
                N_("The archives could not be deleted just now. Try again.")
            ) from exc
        return old

    def _owned(self, sub: str) -> Iterator[tuple[ArchiveId, str]]:
        """Yield the id and key of every archive of the user under this prefix, expired too."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=user_prefix(sub, self.prefix)
        )
        for page in pages:
            for obj in page.get("Contents", []):
                archive_id = parse_key(obj["Key"], sub, self.prefix)
                if archive_id is not None:
                    yield archive_id, obj["Key"]

    def _delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            answer = self.s3.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            if answer.get("Errors"):
                raise StorageError(N_("Some archives could not be deleted just now. Try again."))


#: One bucket's listing: the archives, or None and why they could not be listed.
Listing = tuple[list[StoredArchive] | None, StorageError | None]


def list_together(
    buckets: Sequence[ArchiveBucket], sub: str, *, now: datetime | None = None
) -> list[Listing]:
    """List the user's archives in each bucket side by side (threads): one wait for all."""

    def listing(bucket: ArchiveBucket) -> Listing:
        try:
            return bucket.list(sub, now=now), None
        except StorageError as exc:
            return None, exc  # the caller says it, in its own words and language

    with ThreadPoolExecutor(max_workers=len(buckets)) as pool:
        return list(pool.map(listing, buckets))
