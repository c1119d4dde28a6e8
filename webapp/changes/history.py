"""A user's recent changes, grouped as a person would tell them: "12 slips deleted at 14:05".

Changes of one table and one kind (added, changed, deleted) in the same minute
of the user's time zone make one group; the page offers to put the book back to
just before each group's first change.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from ..archive.bucket import StorageError
from ..errors import N_
from ..model import TableName
from .moment import Window, window
from .record import Change, Event
from .store import ChangeLog, from_ms, utc_ms


@dataclass
class Group:
    """Changes of one table and kind within one minute."""

    table: TableName
    event: Event
    #: The minute, in the user's time zone.
    minute: datetime
    first_ms: int
    count: int = 0
    #: The months (``YYYY-MM``) of the changed items' dates, from their sort keys.
    months: set[str] = field(default_factory=set)

    @property
    def day(self) -> date:
        """Return the day of the group, in the user's time zone."""
        return self.minute.date()

    @property
    def month(self) -> date | None:
        """Return the one month every changed item lies in, or None."""
        if len(self.months) != 1:
            return None
        (only,) = self.months
        try:
            return date.fromisoformat(f"{only}-01")
        except ValueError:
            return None


def group_changes(changes: Iterable[Change], timezone: str) -> list[Group]:
    """Return the changes grouped by minute, table and kind; the newest group first."""
    zone = zoneinfo.ZoneInfo(timezone)
    groups: dict[tuple[datetime, TableName, Event], Group] = {}
    for change in sorted(changes, key=lambda c: (c.ms, c.seq)):
        minute = from_ms(change.ms).astimezone(zone).replace(second=0, microsecond=0)
        group = groups.get((minute, change.table, change.event))
        if group is None:
            group = Group(change.table, change.event, minute, change.ms)
            groups[(minute, change.table, change.event)] = group
        group.count += 1
        group.months.add(change.sk[:7])
    return sorted(groups.values(), key=lambda g: (g.first_ms, g.table), reverse=True)


@dataclass(frozen=True)
class Overview:
    """What the page of moments shows: the moments on offer and the recent changes."""

    window: Window
    groups: list[Group]


UNREADABLE = N_("Your recorded changes could not be read just now. Please try again.")


def overview(
    log: ChangeLog, user: str, now: datetime, *, retention_days: int, timezone: str
) -> Overview:
    """Return the moments a user may choose from and their recent changes, grouped."""
    try:
        offered = window(log, now, retention_days)
        changes = log.recent(user, after_ms=utc_ms(now - timedelta(days=retention_days)))
    except (ClientError, BotoCoreError) as exc:
        raise StorageError(UNREADABLE) from exc
    return Overview(offered, group_changes(changes, timezone))
