"""One recorded change: what a stream record says, as one JSON line of the log.

A DynamoDB Streams record (as Lambda delivers it) names the table in its
``eventSourceARN``, the item by ``Keys``, the change by ``eventName`` and carries
the images before and after (``NEW_AND_OLD_IMAGES``), a ``SequenceNumber`` that
orders the changes of one item, and ``ApproximateCreationDateTime`` (seconds
since the epoch). The log keeps exactly that, per user, as one compact JSON
line each, with the images as DynamoDB JSON so every type survives.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..model import PARTITION_KEY, SORT_KEY, TABLES, TableName

Item = dict[str, Any]
Event = Literal["INSERT", "MODIFY", "REMOVE"]
EVENTS: tuple[Event, ...] = ("INSERT", "MODIFY", "REMOVE")


class NotAChange(ValueError):
    """A stream record the log cannot hold (no keys, no images, not a number, ...)."""


@dataclass(frozen=True)
class Change:
    """One change of one item: before (``old``) and after (``new``); None where absent."""

    table: TableName
    user: str
    sk: str
    seq: int
    #: When DynamoDB made the change, in milliseconds since the epoch (UTC).
    ms: int
    event: Event
    old: Item | None
    new: Item | None

    @property
    def key(self) -> tuple[TableName, str]:
        """Return which item of the user changed."""
        return self.table, self.sk

    def to_json(self) -> str:
        """Return the change as one compact JSON line (no newline)."""
        return json.dumps(
            {
                "table": self.table,
                "user": self.user,
                "sk": self.sk,
                "seq": str(self.seq),
                "ms": self.ms,
                "event": self.event,
                "old": self.old,
                "new": self.new,
            },
            separators=(",", ":"),
            ensure_ascii=False,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, line: str | bytes) -> Change:
        """Return the change one line of the log holds; refuse anything else."""
        try:
            raw = json.loads(line)
            change = cls(
                table=raw["table"],
                user=raw["user"],
                sk=raw["sk"],
                seq=int(raw["seq"]),
                ms=int(raw["ms"]),
                event=raw["event"],
                old=raw["old"],
                new=raw["new"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise NotAChange(f"not a line of the change log: {exc}") from exc
        _check(change)
        return change


def _check(change: Change) -> None:
    if change.table not in TABLES or change.event not in EVENTS:
        raise NotAChange(f"unknown table or event: {change.table!r}, {change.event!r}")
    for image in (change.old, change.new):
        if image is not None and not isinstance(image, dict):
            raise NotAChange("an image is not a DynamoDB item")
    if (change.new is None) != (change.event == "REMOVE"):
        raise NotAChange(f"a {change.event} without its new image, or a REMOVE with one")
    if (change.old is None) != (change.event == "INSERT"):
        raise NotAChange(f"a {change.event} without its old image, or an INSERT with one")


def table_name_of(arn: str) -> str:
    """Return the DynamoDB table a stream (or table) ARN names, or "" if it names none."""
    # arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>
    resource = arn.split(":", 5)[-1] if arn.count(":") >= 5 else ""
    parts = resource.split("/")
    return parts[1] if len(parts) >= 2 and parts[0] == "table" else ""


def from_stream_record(record: Mapping[str, Any], tables: Mapping[str, TableName]) -> Change:
    """Return the change a Lambda stream record describes; ``tables`` maps names to ours."""
    try:
        table = tables.get(table_name_of(str(record.get("eventSourceARN", ""))))
        if table is None:
            raise NotAChange(f"a record of no table we record: {record.get('eventSourceARN')!r}")
        body = record["dynamodb"]
        keys = body["Keys"]
        change = Change(
            table=table,
            user=keys[PARTITION_KEY]["S"],
            sk=keys[SORT_KEY]["S"],
            seq=int(body["SequenceNumber"]),
            ms=round(float(body["ApproximateCreationDateTime"]) * 1000),
            event=record["eventName"],
            old=body.get("OldImage"),
            new=body.get("NewImage"),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, NotAChange):
            raise
        raise NotAChange(f"not a stream record of a kakeibo item: {exc!r}") from exc
    if not isinstance(change.user, str) or not change.user or "/" in change.user:
        raise NotAChange("a record whose user is not a plain segment")
    _check(change)
    return change


def encode(changes: Iterable[Change]) -> bytes:
    """Return changes as gzip-compressed JSON lines; the same changes give the same bytes."""
    text = "".join(change.to_json() + "\n" for change in changes)
    # mtime=0: a redelivered batch writes byte for byte the same object.
    return gzip.compress(text.encode("utf-8"), mtime=0)


def decode(body: bytes) -> Iterator[Change]:
    """Return the changes one log object holds."""
    for line in gzip.decompress(body).splitlines():
        if line.strip():
            yield Change.from_json(line)
