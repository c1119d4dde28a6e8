"""An archive a job made counts only once it reads back from S3 (see ``archive.verify``).

Exports and backups both call ``read_back`` after the upload: a backup reads
everything back (every file hashed, every item counted), an export only its
directory, manifest and signature. An archive that does not read back is deleted
at once, so it is never listed as good, and the job fails with a message for the
user; the technical difference goes to the log.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..archive.errors import ExportError
from ..errors import N_

if TYPE_CHECKING:
    from ..archive.export import ExportResult
    from .kind import JobServices

logger = logging.getLogger(__name__)

BACKUP_DAMAGED = N_(
    "The backup was saved but did not read back intact, so it was deleted and does not count."
)
EXPORT_DAMAGED = N_(
    "The archive was saved but did not read back intact, so it was deleted. Please export again."
)


class ArchiveUnverified(ExportError):
    """The archive a job made did not read back as written; it was deleted."""


def read_back(
    services: JobServices, made: ExportResult, *, full: bool, damaged: str
) -> dict[str, Any]:
    """Check the stored archive against what was written; return the proof for the result.

    Raise ArchiveUnverified with the ``damaged`` message (after deleting the archive)
    if it does not read back.
    """
    from ..archive.verify import ArchiveDamaged, verify_stored

    bucket = services.settings.export_bucket
    try:
        verified = verify_stored(
            services.clients.s3,
            bucket,
            made.key,
            services.keyring,
            size=made.size,
            counts=made.counts,
            full=full,
        )
    except ArchiveDamaged as exc:
        logger.error("s3://%s/%s did not read back: %s", bucket, made.key, exc)
        try:
            services.clients.s3.delete_object(Bucket=bucket, Key=made.key)
        except (ClientError, BotoCoreError):
            logger.exception("could not delete the unverified s3://%s/%s", bucket, made.key)
        raise ArchiveUnverified(damaged) from exc
    return verified.to_dict()
