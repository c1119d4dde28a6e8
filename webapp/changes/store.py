"""The change log in S3: write a batch's changes, gaps and the log's start; read them back.

Every write is of an object whose key the batch alone decides (see ``keys``), so
writing the same batch twice leaves the same objects; readers drop the
duplicates that a batch delivered again with other bounds brings (one change is
one sequence number of one item).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..aws import error_code
from ..model import TABLES, TableName
from .keys import (
    Segment,
    changes_key,
    gap_key,
    gaps_prefix,
    parse_segment,
    since_key,
    user_changes_prefix,
)
from .record import Change, decode, encode

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

#: Rewrite the log's start marker when it is older than this, so the bucket's
#: lifecycle rule on ``changes/`` never expires it.
REFRESH_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Gap:
    """A span of a table's changes that was not recorded (ms since the epoch, inclusive)."""

    table: TableName
    first_ms: int
    last_ms: int


class ChangeLog:
    """One bucket's ``changes/``: the recorder writes it, restores to a moment read it."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    # --- writing (the recorder) -------------------------------------------------------------

    def put_changes(self, segment: Segment, changes: list[Change]) -> str:
        """Write one user's changes of one table from one batch; return the key."""
        first = changes[0]
        key = changes_key(first.user, first.table, segment)
        self.s3.put_object(
            Bucket=self.bucket, Key=key, Body=encode(changes), ContentType="application/gzip"
        )
        return key

    def put_gap(self, table: TableName, segment: Segment, detail: dict[str, Any]) -> str:
        """Record that a batch of ``table``'s changes was lost; return the key."""
        key = gap_key(table, segment)
        body = json.dumps({"table": table, **detail}, sort_keys=True).encode()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        return key

    def mark_since(self, table: TableName, ms: int, now: datetime) -> None:
        """Note that the table's log is complete from ``ms``, unless it already says so.

        An existing marker is kept (its time is the earlier), but written again once
        a day so that the lifecycle rule on ``changes/`` never deletes it.
        """
        key = since_key(table)
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) not in {"404", "NoSuchKey", "NotFound"}:
                raise
            body = json.dumps({"table": table, "since_ms": ms}).encode()
        else:
            if now - head["LastModified"] < REFRESH_AFTER:
                return
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    # --- reading (restores, the page, the rebuild command) -----------------------------------

    def since(self, table: TableName) -> int | None:
        """Return since when (ms) the table's log is complete, or None if nothing says so."""
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=since_key(table))["Body"].read()
            return int(json.loads(body)["since_ms"])
        except ClientError as exc:
            if error_code(exc) in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        except (ValueError, KeyError, TypeError):
            logger.error("the change log's start marker of %s is unreadable", table)
            return None

    def gaps(self, table: TableName) -> list[Gap]:
        """Return the spans of the table's changes that were not recorded, oldest first."""
        found = []
        for key in self._keys(gaps_prefix(table)):
            segment = parse_segment(key)
            if segment is not None:
                found.append(Gap(table, segment.first_ms, segment.last_ms))
        return sorted(found, key=lambda gap: (gap.first_ms, gap.last_ms))

    def changes(
        self, user: str, tables: Iterable[TableName] = TABLES, *, after_ms: int = 0
    ) -> list[Change]:
        """Return the user's recorded changes ending after ``after_ms``, once each, in order.

        A change is one sequence number of one item; the same change read twice
        (a batch recorded twice with other bounds) counts once. The order is each
        item's own (sequence numbers), then time.
        """
        seen: dict[tuple[TableName, str, int], Change] = {}
        for table in tables:
            for key in self._keys(user_changes_prefix(user, table)):
                segment = parse_segment(key)
                if segment is None or segment.last_ms <= after_ms:
                    continue
                body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                for change in decode(body):
                    if change.user == user and change.table == table:
                        seen.setdefault((table, change.sk, change.seq), change)
        return sorted(seen.values(), key=lambda c: (c.ms, c.table, c.sk, c.seq))

    def recent(self, user: str, *, limit: int = 500, after_ms: int = 0) -> list[Change]:
        """Return about the ``limit`` newest of the user's changes after ``after_ms``, newest last.

        Only the newest objects are read: enough of them to hold ``limit`` changes.
        """
        listed = []
        for table in TABLES:
            for key in self._keys(user_changes_prefix(user, table)):
                segment = parse_segment(key)
                if segment is not None and segment.last_ms > after_ms:
                    listed.append((segment.last_ms, table, key))
        seen: dict[tuple[TableName, str, int], Change] = {}
        for _, table, key in sorted(listed, reverse=True):
            if len(seen) >= limit:
                break
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            for change in decode(body):
                if change.user == user and change.table == table and change.ms > after_ms:
                    seen.setdefault((table, change.sk, change.seq), change)
        return sorted(seen.values(), key=lambda c: (c.ms, c.table, c.sk, c.seq))

    def users(self) -> list[str]:
        """Return every user the log holds changes of (the rebuild command's list)."""
        from ..archive.ids import CHANGES_PREFIX

        found = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=CHANGES_PREFIX, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                name = common["Prefix"][len(CHANGES_PREFIX) :].rstrip("/")
                if name and not name.startswith("_"):
                    found.append(name)
        return found

    def _keys(self, prefix: str) -> Iterator[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                yield entry["Key"]


def utc_ms(moment: datetime) -> int:
    """Return a moment as milliseconds since the epoch."""
    return round(moment.astimezone(UTC).timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """Return milliseconds since the epoch as an aware UTC moment."""
    return datetime.fromtimestamp(ms / 1000, UTC)
