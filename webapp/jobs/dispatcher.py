"""The dispatcher function: once a day (EventBridge Scheduler), queue the due backups.

It reads the sparse index of the app table (who is due), writes one job record
per due user (conditional: one per user and day) and sends its message. The
day is the display time zone's, taken from the schedule's invocation time.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..aws import Clients
from ..settings import Settings
from .backups import BackupPrefsStore, Dispatch, dispatch, local_day
from .queue import JobQueue
from .store import JobStore

logger = logging.getLogger(__name__)


def run_schedule(settings: Settings, clients: Clients, today: date | None = None) -> Dispatch:
    """Queue the backups due ``today`` (default: today in the display time zone)."""
    now = datetime.now(UTC)
    day = today or local_day(now, ZoneInfo(settings.display_timezone))
    done = dispatch(
        day,
        prefs=BackupPrefsStore(clients.dynamodb, settings.app_table),
        jobs=JobStore(clients.dynamodb, settings.app_table),
        queue=JobQueue(clients.sqs, settings.jobs_queue_url),
        now=now,
    )
    logger.info(
        "backups of %s: %d queued, %d already queued", day, len(done.queued), len(done.skipped)
    )
    return done


def event_day(event: dict[str, Any], timezone: str) -> date | None:
    """Return the day an invocation is for, from its time (Scheduler and rules send one)."""
    moment = event.get("time") if isinstance(event, dict) else None
    if not isinstance(moment, str):
        return None
    try:
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return local_day(parsed, ZoneInfo(timezone))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda's entry point."""
    settings = Settings.from_env()
    done = run_schedule(settings, Clients(settings), event_day(event, settings.display_timezone))
    return {"queued": len(done.queued), "skipped": len(done.skipped)}
