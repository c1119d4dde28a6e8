"""The export job: the period, formats and filters a user chose, as an archive in S3.

The web function imports this module for ``ExportParams`` (what the form asks
for, as the job record stores it); the export engine itself is imported only
when the job runs, in the worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from ..archive.dates import DateRange
from ..archive.filters import FilterError, Filters
from ..archive.manifest import (
    ALL_FORMATS,
    CSV_ENCODINGS,
    DEFAULT_ENCODING,
    DEFAULT_FORMATS,
    CsvEncoding,
    Format,
)
from .kind import JobServices, Kind, Outcome
from .readback import EXPORT_DAMAGED, read_back

if TYPE_CHECKING:
    from .job import Job
    from .reporter import Reporter

NAME = "export"


@dataclass(frozen=True)
class ExportParams:
    """What one export job writes: the days, the formats, the CSV's encoding, the filters."""

    start: date
    end: date
    formats: frozenset[Format] = DEFAULT_FORMATS
    csv_encoding: CsvEncoding = DEFAULT_ENCODING
    filters: Filters = field(default_factory=Filters)

    @property
    def period(self) -> DateRange:
        """Return the days the export covers."""
        return DateRange(self.start, self.end)

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as the job record stores them."""
        stored: dict[str, Any] = {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "formats": sorted(self.formats),
            "csv_encoding": self.csv_encoding,
        }
        if self.filters:
            stored["filters"] = self.filters.to_dict()
        return stored

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ExportParams:
        """Return the parameters a record stores; raise ValueError if they are not ours."""
        formats: frozenset[Format] = frozenset(raw["formats"])
        if not formats or not ALL_FORMATS.issuperset(formats):
            raise ValueError(f"formats {sorted(formats)}")
        # Jobs queued before the choice existed have no encoding: the old default.
        encoding = raw.get("csv_encoding", DEFAULT_ENCODING)
        if encoding not in CSV_ENCODINGS:
            raise ValueError(f"csv_encoding {encoding!r}")
        try:
            filters = Filters.from_dict(raw.get("filters"))
        except FilterError as exc:
            raise ValueError(str(exc)) from exc
        return cls(
            start=date.fromisoformat(raw["start"]),
            end=date.fromisoformat(raw["end"]),
            formats=formats,
            csv_encoding=encoding,
            filters=filters,
        )


def run(services: JobServices, job: Job, params: ExportParams, reporter: Reporter) -> Outcome:
    """Write the user's archive of the chosen period; remember the filter choices it saw."""
    from ..archive.export import ExportRequest

    request = ExportRequest(
        job.user_id,
        params.period,
        params.formats,
        params.csv_encoding,
        params.filters,
        display_timezone=services.settings.display_timezone,
    )
    made = services.exporter.export(request, progress=reporter, before_finish=reporter.write)
    # Cheaply: the zip's directory, manifest and signature, not every item again.
    verified = read_back(services, made, full=False, damaged=EXPORT_DAMAGED)
    result: dict[str, Any] = {
        "archive_id": str(made.archive_id),
        "key": made.key,
        "size": made.size,
        "counts": dict(made.counts),
        "verified": verified,
    }
    if made.replaced:
        result["encoding"] = params.csv_encoding
        result["replaced"] = dict(made.replaced)
    if params.filters:
        result["filters"] = params.filters.to_dict()
    services.vocabulary.add(job.user_id, made.seen)
    return Outcome(result, counts={str(t): n for t, n in made.counts.items()}, made=made.key)


KIND = Kind(name=NAME, params=ExportParams, run=run)
