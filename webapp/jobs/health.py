"""How a user's automatic backup is doing: the last success, the next due, and any trouble.

Trouble is one of two things: the last backup failed, or none has succeeded for
longer than its period plus a day (the schedule did not run, a job was lost, a
failure went on for days). The page warns about either; the worker (a failure)
and the dispatcher (overdue) mail the user about it once per ``streak``: the
trouble since the last success, which a new success ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from .schedule import BackupPrefs, Frequency, following_run, next_run_at

Trouble = Literal["failed", "overdue"]
#: How much later than its period a backup may succeed before it counts as overdue.
GRACE = timedelta(days=1)


@dataclass(frozen=True)
class Health:
    """One user's automatic backup as the page and the mails describe it."""

    frequency: Frequency
    last_success: datetime | None = None
    next_due: datetime | None = None
    trouble: Trouble | None = None
    #: When the last backup failed (failed), or since when none succeeded (overdue).
    since: datetime | None = None
    #: The failure's message for the user (an English msgid) and its fields.
    error: str | None = None
    error_fields: dict[str, Any] = field(default_factory=dict)


def streak(prefs: BackupPrefs) -> str:
    """Return the name of the current streak of trouble: since the last success, or turning on."""
    at = prefs.last_success.get("at")
    return f"after {at}" if at else f"on since {prefs.since}"


def overdue_after(prefs: BackupPrefs, timezone: str) -> datetime | None:
    """Return the moment past which, without a success, the backup is overdue (None when off)."""
    if not prefs.on:
        return None
    zone = ZoneInfo(timezone)
    at = prefs.last_success.get("at")
    if at:
        start = datetime.fromisoformat(str(at))
    elif prefs.since is not None:
        start = datetime.combine(prefs.since, time(0), zone)
    else:
        return None  # turned on before this was recorded, and never succeeded since
    day = start.astimezone(zone).date()
    return start + (following_run(prefs.frequency, day, prefs.anchor_day) - day) + GRACE


def health(prefs: BackupPrefs, now: datetime, timezone: str) -> Health:
    """Return how the user's automatic backup is doing at ``now``."""
    success = prefs.last_success.get("at")
    known = Health(
        frequency=prefs.frequency,
        last_success=datetime.fromisoformat(str(success)) if success else None,
        next_due=next_run_at(prefs, now, timezone),
    )
    last = prefs.last
    if last.get("state") == "failed" and last.get("at"):
        return _with(
            known,
            trouble="failed",
            since=datetime.fromisoformat(str(last["at"])),
            error=str(last.get("error") or ""),
            error_fields=dict(last.get("error_fields") or {}),
        )
    limit = overdue_after(prefs, timezone)
    if limit is not None and now > limit:
        start = known.last_success or datetime.combine(
            prefs.since or now.date(), time(0), ZoneInfo(timezone)
        )
        return _with(known, trouble="overdue", since=start)
    return known


def _with(health: Health, **changes: Any) -> Health:
    from dataclasses import replace

    return replace(health, **changes)
