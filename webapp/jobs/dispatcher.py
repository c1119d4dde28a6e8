"""The daily dispatch of automatic backups: queue one backup job per due user.

The dispatcher function (``dispatcher_handler.py``) runs it once a day
(EventBridge Scheduler); ``flask --app webapp run-schedule`` runs it by hand.

It reads the sparse index of the app table (who is due, see ``schedule``),
writes one job record per due user (conditional: one per user and day) and
sends its message. The day is the display time zone's, taken from the
schedule's invocation time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from . import backup
from .health import health, streak
from .job import Job, JobExists
from .queue import JobMessage
from .schedule import local_day

if TYPE_CHECKING:
    from .kind import JobServices
    from .schedule import BackupPrefs

logger = logging.getLogger(__name__)


@dataclass
class Dispatch:
    """What one run of the dispatcher did."""

    queued: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: Users mailed that no backup has succeeded for too long.
    overdue: list[str] = field(default_factory=list)


def dispatch(services: JobServices, today: date) -> Dispatch:
    """Queue one backup job for every user due on ``today``; idempotent for a day."""
    now, jobs, choices = services.now(), services.jobs, services.backup_prefs
    stale = services.stale_after
    job_id = backup.backup_job_id(today)
    done = Dispatch()
    for choice in choices.due(today):
        if _warn_if_overdue(services, choice):
            done.overdue.append(choice.user_id)
        if choice.last_job and choice.last_job != job_id:
            previous = jobs.get(choice.user_id, choice.last_job)
            # A job whose worker died (or whose message was lost) is not still going.
            if previous is not None and previous.seen_at(now, stale_after=stale).unfinished:
                done.skipped.append(choice.user_id)  # yesterday's is still going
                continue
        params = backup.BackupParams(day=today, frequency=choice.frequency)
        job = Job.queued(choice.user_id, backup.NAME, params.to_dict(), now, job_id)
        try:
            jobs.create(job)
        except JobExists:
            done.skipped.append(choice.user_id)  # already dispatched today
            continue
        services.queue.send(JobMessage(user_id=job.user_id, job_id=job.id))
        choices.dispatched(job.user_id, job.id)
        done.queued.append(job.user_id)
    return done


def _warn_if_overdue(services: JobServices, choice: BackupPrefs) -> bool:
    """Mail the user once when no backup has succeeded for its period and a day."""
    now, mailer = services.now(), services.mailer
    if mailer is None or not choice.email:
        return False
    state = health(choice, now, services.settings.display_timezone)
    if state.trouble != "overdue" or state.since is None:
        return False
    if not services.backup_prefs.alert(choice.user_id, streak(choice)):
        return False  # told already
    mailer.backup_overdue(choice.email, state.since)
    return True


def run_schedule(services: JobServices, today: date | None = None) -> Dispatch:
    """Queue the backups due ``today`` (default: today in the display time zone)."""
    zone = ZoneInfo(services.settings.display_timezone)
    day = today or local_day(services.now(), zone)
    done = dispatch(services, day)
    logger.info(
        "backups of %s: %d queued, %d already queued", day, len(done.queued), len(done.skipped)
    )
    return done


def event_day(event: object, timezone: str) -> date | None:
    """Return the day an invocation is for, from its time (Scheduler and rules send one).

    None, so the dispatch takes today, for any event without a usable time.
    """
    moment = event.get("time") if isinstance(event, dict) else None
    if not isinstance(moment, str):
        return None
    try:
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        # A time near year 1 or 9999 may not exist in another zone.
        return local_day(parsed, ZoneInfo(timezone))
    except (ValueError, OverflowError):
        return None
