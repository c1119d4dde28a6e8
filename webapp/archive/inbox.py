"""The upload inbox: files a user sends from their PC to restore from, under ``uploads/<sub>/``.

The browser sends the file straight to S3 with a presigned POST (API Gateway
could not carry it); the policy fixes the key, the content type, the size and
where S3 sends the browser back. The app then looks at what arrived (its size,
its name on the PC, whether it begins as a zip does) before anything reads it,
deletes an upload once restored or refused, and the bucket's lifecycle rule
drops any other after a day.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError

from ..aws import error_code
from ..errors import N_
from .bucket import ZIP_CONTENT_TYPE, ArchiveNotFound, StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: Seconds an upload form's policy is valid: long enough to pick a file and send it.
UPLOAD_EXPIRY = 600
#: The form field that carries the file's name on the user's PC, as S3 object metadata.
_META = "x-amz-meta-"
FILENAME_FIELD = f"{_META}filename"
#: How a zip file begins: a local file header, or (empty) the end of its directory.
_ZIP_STARTS = (b"PK\x03\x04", b"PK\x05\x06")
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


@dataclass(frozen=True)
class PresignedPost:
    """A presigned POST: where the form goes and the fields it must carry."""

    url: str
    fields: dict[str, str]


@dataclass(frozen=True)
class UploadedFile:
    """A file a user sent from their PC, as it arrived."""

    key: str
    size: int
    #: Its name on the PC (empty when the page's script did not send it).
    filename: str
    #: Whether it begins as a zip file does.
    zip: bool


class Inbox:
    """The bucket's ``uploads/`` prefix: presign a user's upload, look at it, discard it."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def presign(
        self, key: str, *, max_bytes: int, redirect: str, expires_in: int = UPLOAD_EXPIRY
    ) -> PresignedPost:
        """Return a presigned POST that lets the browser send one zip straight to ``key``.

        The policy fixes the key, the content type and the redirect, bounds the
        size, and lives ``expires_in`` seconds (AWS enforces it; moto does not,
        so tests assert what we sign). The one free field is the file's name on the
        user's PC (``x-amz-meta-filename``, percent-encoded), which the page's script
        fills in, so the page can name the file again once it has arrived.
        """
        try:
            answer = self.s3.generate_presigned_post(
                Bucket=self.bucket,
                Key=key,
                Fields={
                    "Content-Type": ZIP_CONTENT_TYPE,
                    "success_action_redirect": redirect,
                    FILENAME_FIELD: "",
                },
                Conditions=[
                    {"Content-Type": ZIP_CONTENT_TYPE},
                    ["content-length-range", 1, max_bytes],
                    {"success_action_redirect": redirect},
                    ["starts-with", f"${FILENAME_FIELD}", ""],
                ],
                ExpiresIn=expires_in,
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(
                N_("The upload form could not be prepared just now. Try again.")
            ) from exc
        return PresignedPost(url=answer["url"], fields=dict(answer["fields"]))

    def arrived(self, key: str) -> UploadedFile:
        """Return what arrived at an upload key (size, name, first bytes); or ArchiveNotFound."""
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
            start = b""
            if head["ContentLength"]:
                answer = self.s3.get_object(Bucket=self.bucket, Key=key, Range="bytes=0-3")
                start = answer["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) in _NOT_FOUND:
                raise ArchiveNotFound() from exc
            raise StorageError(N_("The archive could not be checked just now. Try again.")) from exc
        name = unquote(head.get("Metadata", {}).get(FILENAME_FIELD.removeprefix(_META), ""))
        return UploadedFile(
            key=key, size=int(head["ContentLength"]), filename=name[:200], zip=start in _ZIP_STARTS
        )

    def discard(self, key: str) -> None:
        """Delete an upload that will not be restored (best effort: a rule expires it anyway)."""
        with suppress(ClientError, BotoCoreError):
            self.s3.delete_object(Bucket=self.bucket, Key=key)
