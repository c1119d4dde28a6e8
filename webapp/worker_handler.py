"""The worker function's entry point: SQS events (batch size 1) into the jobs worker.

``serverless.yml`` names ``webapp.worker_handler.handler``. The services (the
composition root) are built from the environment once per container, on the
first event, and kept for warm invocations; ``jobs/worker.py`` does the work and
answers any event, whatever its shape, without raising.
"""

from __future__ import annotations

from typing import Any

from .jobs.worker import Worker
from .services import Services
from .settings import Settings

_worker: Worker | None = None


def handler(event: object, context: Any) -> dict[str, Any]:
    """Lambda's entry point: build the worker once per container, then handle the event."""
    global _worker
    if _worker is None:
        _worker = Worker(Services(Settings.from_env(), source="worker"))
    return _worker.handle(event, context)
