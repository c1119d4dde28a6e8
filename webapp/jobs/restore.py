"""The restore job: restore the archive a finished preview checked, after a before-snapshot.

It reads the very file the preview checked (the preview's ETag), runs the core's
one restore procedure (verify, plan, before-snapshot, write) and records what it
did. The before-snapshot is an ordinary archive of the period as it was, so the
restore can be undone. The restore writes only in the user's partition and the
archive's period; an upload is deleted once the restore is recorded as done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from ..archive.dates import DateRange
from ..archive.errors import RestoreError
from ..errors import N_
from . import preview
from .kind import JobServices, Kind, Outcome
from .sources import GONE, opened

if TYPE_CHECKING:
    from ..archive.export import ExportResult
    from ..archive.restore import TablePlan, TableRestore
    from .job import Job
    from .reporter import Reporter

logger = logging.getLogger(__name__)

NAME = "restore"

USED = N_(
    "This check has already been used for a restore. Each check can be confirmed once: "
    "see that restore's result, or check the archive again."
)
EXPIRED = N_(
    "This check is more than %(minutes)s minutes old, so it may no longer show what a "
    "restore would change. Nothing was written. Check the archive again."
)
UNDO_REPLACES = N_("An undo puts the period back exactly as it was, so it always replaces.")
MOMENT_REPLACES = N_(
    "Putting your account book back to a moment makes it exactly as it was, so it always replaces."
)
Mode = Literal["merge", "replace"]
MERGE: Mode = "merge"
REPLACE: Mode = "replace"


@dataclass(frozen=True)
class RestoreParams:
    """Which preview to carry out, and how: merge or replace."""

    preview: str
    mode: Mode = MERGE

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as the job record stores them."""
        return {"preview": self.preview, "mode": self.mode}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RestoreParams:
        """Return the parameters a record stores (an unknown mode merges, as before)."""
        mode: Mode = REPLACE if raw.get("mode") == REPLACE else MERGE
        return cls(preview=str(raw.get("preview", "")), mode=mode)


def run(services: JobServices, job: Job, params: RestoreParams, reporter: Reporter) -> Outcome:
    """Restore what the preview showed: before-snapshot first, then write; say what it did."""
    from ..archive.restore import RestoreRequest, restore_archive
    from ..archive.state import same_states

    started = time.monotonic()
    checked = _carried_out(services, job, params)
    source = preview.PreviewParams.from_dict(checked.params).source
    replace = params.mode == REPLACE

    def snapshot(period: DateRange) -> ExportResult:
        # The way back: an ordinary archive of the period as it is now.
        from ..archive.export import ExportRequest

        request = ExportRequest(
            job.user_id, period, display_timezone=services.settings.display_timezone
        )
        return services.exporter.export(request, before_finish=reporter.write)

    @contextmanager
    def writing(plan: TablePlan, done: TableRestore) -> Iterator[Callable[[int], None]]:
        yield reporter.adding(plan.table)

    seen = {table: shown["state"] for table, shown in checked.result["tables"].items()}
    with opened(services, job.user_id, source, etag=str(checked.result["etag"])) as (reader, _):
        reporter.write()
        restored = restore_archive(
            reader,
            RestoreRequest(replace=replace),
            dynamodb=services.clients.dynamodb,
            tables=services.settings.data_tables,
            snapshot=snapshot,
            writing=writing,
            expected=same_states(seen),
        )
    period = restored.period
    result: dict[str, Any] = {
        "mode": params.mode,
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "tables": {
            table: {
                "archived": done.archived,
                "written": done.written,
                "deleted": done.deleted,
                "unchanged": done.unchanged,
                "kept": 0 if replace else done.extra,
            }
            for table, done in restored.tables.items()
        },
        "elapsed_ms": int((time.monotonic() - started) * 1000),
    }
    if restored.snapshot is not None:  # nothing written: nothing to undo
        result["undo_archive_id"] = str(restored.snapshot.archive_id)
        result["undo_counts"] = dict(restored.snapshot.counts)
    # An upload has done its work: it goes (the bucket's lifecycle rule would in a day).
    if source.origin == "moment":
        result["moment"] = source.at
    return Outcome(result, spent=(source.key(job.user_id),) if source.inbox else ())


def _carried_out(services: JobServices, job: Job, params: RestoreParams) -> Job:
    """Return the preview this restore carries out; refuse one it may not (any more)."""
    checked = services.jobs.get(job.user_id, params.preview)
    if checked is None or checked.kind != preview.NAME or "etag" not in checked.result:
        raise RestoreError(GONE)
    if checked.consumed_by != job.id:
        # The web marks a preview as this restore's before it queues it: anything else is
        # a second restore of one preview (or a message that was not the web's).
        raise RestoreError(USED)
    checked_at = checked.result.get("checked_at")
    limit = timedelta(minutes=services.settings.restore_check_minutes)
    tables = checked.result.get("tables") or {}
    if (
        not isinstance(checked_at, str)
        or job.created_at - datetime.fromisoformat(checked_at) > limit
        or not all(isinstance(shown, dict) and "state" in shown for shown in tables.values())
    ):
        raise RestoreError(EXPIRED, minutes=services.settings.restore_check_minutes)
    checked_params = preview.PreviewParams.from_dict(checked.params)
    if checked_params.undoing and params.mode != REPLACE:
        raise RestoreError(UNDO_REPLACES)
    if checked_params.source.origin == "moment" and params.mode != REPLACE:
        raise RestoreError(MOMENT_REPLACES)
    return checked


KIND = Kind(name=NAME, params=RestoreParams, run=run)
