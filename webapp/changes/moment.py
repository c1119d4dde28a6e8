"""Put a user's book back as it was at a moment, or rebuild it after a loss (Flask-free).

Backward, from the current table: the state of an item at moment T is the old
image of its first recorded change after T (absent if that change created it);
an item with no change after T is as it is now. Forward, from a backup: the
state is the backup's, with each item changed since then as its last recorded
change left it. Both need every change in between: ``Window`` says which moments
the log can answer for (from when both tables' logs are complete, after the
last gap, within the days the log is kept).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..archive.state import canonical
from ..errors import N_
from ..model import TABLES, TableName
from .record import Change, Item
from .store import ChangeLog, Gap, utc_ms

#: An item of a user's book: which table, which sort key.
Key = tuple[TableName, str]
Book = dict[Key, Item]

NO_LOG = N_(
    "Changes are not recorded completely yet, so your account book cannot be put back to a "
    "moment. Please try again after your next change."
)
OUTSIDE = N_(
    "Your account book can be put back to a moment between %(start)s and now. Choose a "
    "moment in that time."
)
BEHIND = N_("Your latest changes are still being recorded. Please try again in a minute.")


@dataclass(frozen=True)
class Window:
    """The moments the log can answer for: from ``start_ms`` (None: none) to now."""

    start_ms: int | None
    end_ms: int
    gaps: tuple[Gap, ...] = field(default=())

    def holds(self, at_ms: int) -> bool:
        """Return whether the book can be put back as it was at ``at_ms``."""
        return self.start_ms is not None and self.start_ms <= at_ms <= self.end_ms


def window(log: ChangeLog, now: datetime, retention_days: int) -> Window:
    """Return the moments a restore to a moment may choose from, now."""
    end = utc_ms(now)
    starts = [log.since(table) for table in TABLES]
    gaps = tuple(gap for table in TABLES for gap in log.gaps(table))
    if any(start is None for start in starts):
        return Window(None, end, gaps)
    kept = utc_ms(now - timedelta(days=retention_days))
    # A restore needs every change after the moment: none may be in a gap.
    after_gaps = [gap.last_ms + 1 for gap in gaps]
    start = max([kept, *(s for s in starts if s is not None), *after_gaps])
    return Window(start if start <= end else None, end, gaps)


def _by_item(changes: Iterable[Change]) -> dict[Key, list[Change]]:
    found: dict[Key, dict[int, Change]] = {}
    for change in changes:
        found.setdefault(change.key, {})[change.seq] = change  # once per sequence number
    return {key: [seen[seq] for seq in sorted(seen)] for key, seen in found.items()}


def state_at(current: Mapping[Key, Item], changes: Iterable[Change], at_ms: int) -> Book:
    """Return the book as it was at ``at_ms``: the current one with later changes undone."""
    book = dict(current)
    for key, history in _by_item(changes).items():
        later = [change for change in history if change.ms > at_ms]
        if not later:
            continue
        before = later[0].old
        if before is None:
            book.pop(key, None)
        else:
            book[key] = before
    return book


def rebuild(
    snapshot: Mapping[Key, Item],
    changes: Iterable[Change],
    *,
    after_ms: int,
    until_ms: int | None = None,
) -> Book:
    """Return the book from a snapshot taken no later than ``after_ms`` and the changes since.

    Each item changed after ``after_ms`` (and up to ``until_ms``) is as its last
    such change left it; so starting from a moment a little before the snapshot
    was taken is harmless (a change the snapshot already held is applied again).
    """
    book = dict(snapshot)
    for key, history in _by_item(changes).items():
        applied = [
            change
            for change in history
            if change.ms > after_ms and (until_ms is None or change.ms <= until_ms)
        ]
        if not applied:
            continue
        after = applied[-1].new
        if after is None:
            book.pop(key, None)
        else:
            book[key] = after
    return book


def behind(current: Mapping[Key, Item], changes: Iterable[Change]) -> list[Key]:
    """Return the items whose latest change is not recorded yet (the table is ahead).

    Each item the log knows must be now as its last recorded change left it; one
    that differs was changed again since, and that change is still on its way.
    """
    stale = []
    for key, history in _by_item(changes).items():
        last = history[-1].new
        now = current.get(key)
        if (last is None) != (now is None) or (
            last is not None and now is not None and canonical(last) != canonical(now)
        ):
            stale.append(key)
    return stale


def book_of(items: Mapping[TableName, Iterable[Item]]) -> Book:
    """Return a user's items, table by table, as a book keyed by table and sort key."""
    return {(table, item["sk"]["S"]): item for table, listed in items.items() for item in listed}


def items_of(book: Mapping[Key, Item], table: TableName) -> list[Item]:
    """Return one table's items of a book, in sort-key order (as a Query returns them)."""
    return [book[key] for key in sorted(k for k in book if k[0] == table)]
