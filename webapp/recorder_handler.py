"""The recorder function's entry point: DynamoDB Streams batches into the change log.

``serverless.yml`` names ``webapp.recorder_handler.handler`` for both tables'
streams and for the dead-letter queue of batches it could not record (gaps).
The services are built once per container, on the first event; ``changes/recorder.py``
does the work and never raises.
"""

from __future__ import annotations

from typing import Any

from .changes.recorder import Recorder
from .services import Services
from .settings import Settings

_recorder: Recorder | None = None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda's entry point: build the recorder once per container, then record the batch."""
    global _recorder
    if _recorder is None:
        _recorder = Services(Settings.from_env()).recorder
    return _recorder.handle(event)
