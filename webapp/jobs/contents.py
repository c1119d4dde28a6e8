"""What each archive holds, read from the job records that made it (no HeadObject per row).

The exports page already reads the user's job records with one Query; a finished
export's params name its formats and CSV encoding, and its result names its
archive and counts. Joining those to the S3 listing by archive id tells every
row what it holds. Archives older than their job record (or made before jobs
recorded this) have no entry: the page shows "—" for them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..archive.manifest import DEFAULT_ENCODING, DEFAULT_FORMATS
from . import backup_now, export, restore
from .job import Job, State

#: The order formats are named in, on the page and in file names.
FORMAT_ORDER = ("csv", "xlsx", "json")


@dataclass(frozen=True)
class Contents:
    """The formats, CSV encoding, item counts and export filters of one archive."""

    formats: frozenset[str]
    encoding: str = DEFAULT_ENCODING
    counts: Mapping[str, int] = field(default_factory=dict)
    #: The export's filters (``Filters.to_dict``); empty when it holds the whole period.
    filters: Mapping[str, list[str]] = field(default_factory=dict)
    #: The archive was read back from S3 after it was written (see ``jobs.readback``).
    verified: bool = False

    @property
    def ordered(self) -> list[str]:
        """Return the formats in their fixed order: csv, xlsx, json."""
        return [name for name in FORMAT_ORDER if name in self.formats]

    @property
    def shift_jis(self) -> bool:
        """Return whether the archive's CSV files are in Shift_JIS (cp932)."""
        return "csv" in self.formats and self.encoding == "cp932"

    @property
    def empty(self) -> bool:
        """Return whether the archive holds no slips and no balances."""
        return not any(self.counts.values())

    @property
    def tag(self) -> str:
        """Return the formats as a file name says them: ``csv+json``, ``csv-sjis``, ``xlsx``.

        A filtered archive says so too (``csv+json_filtered``): it is not the whole period.
        """
        tag = "+".join(
            "csv-sjis" if name == "csv" and self.shift_jis else name for name in self.ordered
        )
        return f"{tag}_filtered" if self.filters else tag


def _counts(value: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in (value or {}).items()}


def _of(job: Job) -> tuple[str, Contents] | None:
    if job.state is not State.DONE:
        return None
    if (job.kind == export.NAME or job.kind in backup_now.NAMES) and job.result.get("archive_id"):
        formats = frozenset(job.params.get("formats") or DEFAULT_FORMATS)
        encoding = str(job.params.get("csv_encoding") or DEFAULT_ENCODING)
        counts = _counts(job.result.get("counts"))
        filters: dict[str, list[str]] = {}
        raw = job.params.get("filters")
        if isinstance(raw, dict):
            filters = {str(k): [str(v) for v in values or []] for k, values in raw.items()}
        verified = bool(job.result.get("verified"))
        contents = Contents(formats, encoding, counts, filters, verified=verified)
        return str(job.result["archive_id"]), contents
    if job.kind == restore.NAME and job.result.get("undo_archive_id"):
        counts = _counts(job.result.get("undo_counts"))
        return str(job.result["undo_archive_id"]), Contents(DEFAULT_FORMATS, counts=counts)
    return None


def contents_by_archive(jobs: Iterable[Job]) -> dict[str, Contents]:
    """Return what each archive the finished ``jobs`` made holds, by archive id text."""
    found = (_of(job) for job in jobs)
    return dict(pair for pair in found if pair is not None)
