"""What an archive is called and where it lives: every S3 key rule of the bucket.

An archive lives at ``exports/<sub>/<archive id>.zip`` (an automatic backup at
``backups/<sub>/…``). The id carries the creation time (UTC), the date range and
a random part, so the list page reads everything it shows from one
ListObjectsV2 call, and two exports of the same range never overwrite each
other. A file a user uploads to restore from lives at
``uploads/<sub>/<32 hex>.zip``, a key the presigned POST fixes.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime

#: Where every user's archives live in the bucket (its lifecycle rule's prefix too).
EXPORT_PREFIX = "exports/"
#: Where the automatic backups live: a lifecycle rule of their own, kept longer.
BACKUP_PREFIX = "backups/"
PREFIXES = (EXPORT_PREFIX, BACKUP_PREFIX)
#: Where files uploaded to restore from wait (a lifecycle rule drops them after a day).
UPLOAD_PREFIX = "uploads/"
#: Where the change log lives (``changes/keys.py`` has its key rules; kept 30 days).
CHANGES_PREFIX = "changes/"

_ID = re.compile(r"([0-9]{8}T[0-9]{6}Z)_([0-9]{8})_([0-9]{8})_([0-9a-f]{12})", re.ASCII)
_KEY = re.compile(r"(?P<prefix>exports/|backups/)(?P<sub>[^/]+)/(?P<id>[^/]+)\.zip")
_UPLOAD_KEY = re.compile(r"uploads/(?P<sub>[^/]+)/(?P<token>[0-9a-f]{32})\.zip")


@dataclass(frozen=True, order=True)
class ArchiveId:
    """The parts of an archive id: ``20261125T193442Z_20250101_20251231_<12 hex>``."""

    created: datetime
    start: date
    end: date
    token: str

    @classmethod
    def new(cls, start: date, end: date, now: datetime | None = None) -> ArchiveId:
        """Return a fresh id for a range, created now (UTC, whole seconds)."""
        created = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        return cls(created=created, start=start, end=end, token=secrets.token_hex(6))

    @classmethod
    def parse(cls, text: str) -> ArchiveId | None:
        """Return the id ``text`` spells, or None if it is not exactly one."""
        match = _ID.fullmatch(text)
        if not match:
            return None
        created, start, end, token = match.groups()
        try:
            return cls(
                created=datetime.strptime(created, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC),
                start=datetime.strptime(start, "%Y%m%d").date(),
                end=datetime.strptime(end, "%Y%m%d").date(),
                token=token,
            )
        except ValueError:  # e.g. month 13
            return None

    def __str__(self) -> str:
        return f"{self.created:%Y%m%dT%H%M%SZ}_{self.start:%Y%m%d}_{self.end:%Y%m%d}_{self.token}"


def user_prefix(sub: str, prefix: str = EXPORT_PREFIX) -> str:
    """Return the S3 prefix that holds one user's archives (or automatic backups)."""
    if not sub or "/" in sub:
        raise ValueError("a user's sub must be a non-empty string without '/'")
    if prefix not in PREFIXES:
        raise ValueError(f"not an archive prefix: {prefix!r}")
    return f"{prefix}{sub}/"


def archive_key(sub: str, archive_id: ArchiveId, prefix: str = EXPORT_PREFIX) -> str:
    """Return the S3 key of one user's archive (or automatic backup)."""
    return f"{user_prefix(sub, prefix)}{archive_id}.zip"


def parse_key(key: str, sub: str, prefix: str = EXPORT_PREFIX) -> ArchiveId | None:
    """Return the id of ``key`` if it is an archive of ``sub`` under ``prefix``, else None."""
    match = _KEY.fullmatch(key)
    if not match or match["sub"] != sub or match["prefix"] != prefix:
        return None
    return ArchiveId.parse(match["id"])


def upload_key(sub: str, token: str) -> str:
    """Return where a user's upload from their PC lives."""
    if not sub or "/" in sub or not token.isalnum():
        raise ValueError("a user's sub and an upload token are plain segments")
    return f"{UPLOAD_PREFIX}{sub}/{token}.zip"


def parse_upload_key(key: str, sub: str) -> str | None:
    """Return the token of ``key`` if it is an upload of ``sub``, else None."""
    match = _UPLOAD_KEY.fullmatch(key)
    if not match or match["sub"] != sub:
        return None
    return match["token"]
