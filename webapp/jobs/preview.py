"""The preview job: check an archive and count what restoring it would change; write nothing.

The page shows the result and offers the restore, which must then read exactly
the file this job checked (its ETag is in the result).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as the job record stores them."""
        return {"source": self.source.to_dict()}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PreviewParams:
        """Return the parameters a record stores; a source that is not one is gone."""
        return cls(source=RestoreSource.from_dict(raw.get("source")))


def run(services: JobServices, job: Job, params: PreviewParams, reporter: Reporter) -> Outcome:
    """Verify the archive and compare it with the user's tables, table by table."""
    from ..archive.restore import RestoreRequest, archive_period, preview

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
        }
    return Outcome(result)


KIND = Kind(name=NAME, params=PreviewParams, run=run)
