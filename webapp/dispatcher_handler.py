"""The dispatcher function's entry point: once a day (EventBridge Scheduler), queue due backups.

``serverless.yml`` names ``webapp.dispatcher_handler.handler``. The day is the
display time zone's, taken from the schedule's invocation time; an event without
a usable time (a test invocation from the console, say) dispatches today. The
services are built once per container, on the first event, as the worker's are.
"""

from __future__ import annotations

from typing import Any

from .jobs.dispatcher import event_day, run_schedule
from .services import Services
from .settings import Settings

_services: Services | None = None


def handler(event: object, context: Any) -> dict[str, Any]:
    """Lambda's entry point: queue the day's due backups; say how many."""
    global _services
    if _services is None:
        _services = Services(Settings.from_env(), source="dispatcher")
    day = event_day(event, _services.settings.display_timezone)
    done = run_schedule(_services, day)
    return {"queued": len(done.queued), "skipped": len(done.skipped)}
