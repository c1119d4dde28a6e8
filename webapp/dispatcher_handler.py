"""The dispatcher function's entry point: once a day (EventBridge Scheduler), queue due backups.

``serverless.yml`` names ``webapp.dispatcher_handler.handler``. The day is the
display time zone's, taken from the schedule's invocation time.
"""

from __future__ import annotations

from typing import Any

from .jobs.dispatcher import event_day, run_schedule
from .services import Services
from .settings import Settings


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda's entry point: queue the day's due backups; say how many."""
    settings = Settings.from_env()
    services = Services(settings, source="dispatcher")
    done = run_schedule(services, event_day(event, settings.display_timezone))
    return {"queued": len(done.queued), "skipped": len(done.skipped)}
