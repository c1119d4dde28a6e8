"""The preview job: check an archive and count what restoring it would change; write nothing.

The page shows the result and offers the restore, which then carries out
exactly what this job showed: the same file (its ETag), while the account
book's items in the period are still what this job saw (each table's ``state``),
within ``RESTORE_CHECK_MINUTES`` of ``checked_at``, and once (the web marks the
preview consumed by the one restore job it starts). A preview made to undo a
restore names it (``undoing``); only a replace carries that out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .job import iso
from .kind import JobServices, Kind, Outcome
from .sources import RestoreSource, opened

if TYPE_CHECKING:
    from .job import Job
    from .reporter import Reporter

NAME = "preview"


@dataclass(frozen=True)
class PreviewParams:
    """Which file to check."""

    source: RestoreSource
    #: The restore job this check would undo (its before-restore archive is the source).
    undoing: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as the job record stores them."""
        stored: dict[str, Any] = {"source": self.source.to_dict()}
        if self.undoing:
            stored["undoing"] = self.undoing
        return stored

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PreviewParams:
        """Return the parameters a record stores; a source that is not one is gone."""
        undoing = raw.get("undoing")
        return cls(
            source=RestoreSource.from_dict(raw.get("source")),
            undoing=undoing if isinstance(undoing, str) and undoing else None,
        )


def run(services: JobServices, job: Job, params: PreviewParams, reporter: Reporter) -> Outcome:
    """Verify the archive and compare it with the user's tables, table by table."""
    from ..archive.restore import RestoreRequest, archive_period, preview

    if params.source.origin == "moment":
        from .moments import make_moment_archive

        make_moment_archive(services, job, params.source, reporter)
    with opened(services, job.user_id, params.source) as (reader, etag):
        reporter.write()
        tables = {}
        compared = preview(
            reader,
            RestoreRequest(),
            dynamodb=services.clients.dynamodb,
            tables=services.settings.data_tables,
        )
        for plan, diff in compared:
            tables[plan.table] = diff.to_dict()
            reporter(plan.table, plan.items)
        period = archive_period(reader)
        result = {
            "etag": etag,
            "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
            "created_at": reader.manifest.created_at,
            "tables": tables,
            "filters": reader.manifest.filters,
            "checked_at": iso(services.now()),
        }
        if params.source.origin == "moment":
            result["moment"] = params.source.at
    return Outcome(result)


KIND = Kind(name=NAME, params=PreviewParams, run=run)
