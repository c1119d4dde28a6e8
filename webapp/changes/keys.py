"""Where the change log lives in the bucket: every key rule under ``changes/``.

- ``changes/<sub>/<table>/<first ms>-<last ms>_<tag>_<first seq>-<last seq>.jsonl.gz``:
  one user's changes of one table from one delivered batch. The key is made of
  what it holds alone (its first and last times and sequence numbers, and a tag
  digesting every change's item and sequence number), so a redelivered batch
  writes the same object again, and the times come first, so a listing is in
  time order and a reader can skip what ended before the moment it wants.
- ``changes/_gaps/<table>/<same shape>.json``: a batch that could not be recorded
  (the stream's dead-letter destination got it): no moment before its end can be
  restored from the log.
- ``changes/_log/<table>.json``: since when the table's log is complete.

Cognito subs are UUIDs, so no user's prefix is ``_gaps`` or ``_log``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..archive.ids import CHANGES_PREFIX
from ..model import TABLES, TableName

GAPS = "_gaps"
LOG = "_log"
_SEGMENT = re.compile(
    r"(?P<first>[0-9]{13})-(?P<last>[0-9]{13})_(?P<tag>[0-9a-f]{16})_"
    r"(?P<first_seq>[0-9]{1,64})-(?P<last_seq>[0-9]{1,64})\.(?P<ext>jsonl\.gz|json)"
)


@dataclass(frozen=True)
class Segment:
    """What a log object's name says: the span of times and sequence numbers it holds."""

    first_ms: int
    last_ms: int
    #: 16 hex digesting what the object holds (see ``tag_of``).
    tag: str
    first_seq: int
    last_seq: int

    def name(self, ext: str) -> str:
        """Return the object's file name (``jsonl.gz`` for changes, ``json`` for a gap)."""
        return (
            f"{self.first_ms:013d}-{self.last_ms:013d}_{self.tag}_"
            f"{self.first_seq}-{self.last_seq}.{ext}"
        )


def tag_of(*parts: object) -> str:
    """Return 16 hex digesting ``parts``: the same parts, the same tag."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(str(part).encode() + b"\0")
    return digest.hexdigest()[:16]


def user_changes_prefix(sub: str, table: TableName | None = None) -> str:
    """Return the prefix of one user's changes (of one table)."""
    if not sub or "/" in sub or sub.startswith("_"):
        raise ValueError("a user's sub must be a plain segment")
    prefix = f"{CHANGES_PREFIX}{sub}/"
    return prefix if table is None else f"{prefix}{table}/"


def changes_key(sub: str, table: TableName, segment: Segment) -> str:
    """Return the key of one user's changes of one table from one batch."""
    return user_changes_prefix(sub, table) + segment.name("jsonl.gz")


def gaps_prefix(table: TableName) -> str:
    """Return the prefix of a table's gaps."""
    return f"{CHANGES_PREFIX}{GAPS}/{table}/"


def gap_key(table: TableName, segment: Segment) -> str:
    """Return the key of one batch that could not be recorded."""
    return gaps_prefix(table) + segment.name("json")


def since_key(table: TableName) -> str:
    """Return the key that says since when a table's log is complete."""
    if table not in TABLES:
        raise ValueError(f"not a table: {table!r}")
    return f"{CHANGES_PREFIX}{LOG}/{table}.json"


def parse_segment(key: str) -> Segment | None:
    """Return what a log object's key says, or None if it is not one of ours."""
    match = _SEGMENT.fullmatch(key.rsplit("/", 1)[-1])
    if not match:
        return None
    return Segment(
        first_ms=int(match["first"]),
        last_ms=int(match["last"]),
        tag=match["tag"],
        first_seq=int(match["first_seq"]),
        last_seq=int(match["last_seq"]),
    )
