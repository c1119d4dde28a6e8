"""One JSON line per job event, with the metrics of each finished job per kind.

Every change of a job's state is one conditional write of ``JobStore``, which
reports it here: ``queued`` (web or dispatcher), ``claimed``, ``finished``,
``failed`` (by the worker, as interrupted, or never sent) and ``cancelled``
(web); the worker adds a ``progress`` summary when a run ends. Each line names
the job, its kind, the user's hash (never the email), durations, item counts
and, for a failure, the error's class. ``finished`` and ``failed`` also carry
metrics per kind (see ``telemetry``): jobs done or failed, duration, items,
archive bytes and archives read back intact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..telemetry import Telemetry, Unit, user_hash
from .job import Job


@dataclass(frozen=True)
class JobEvents:
    """Reports the life of jobs to the logs (and their outcome to the metrics)."""

    telemetry: Telemetry

    def queued(self, job: Job) -> None:
        """A job was recorded and is about to be sent to the queue."""
        self._event("queued", job)

    def claimed(self, job: Job, now: datetime) -> None:
        """A worker took a queued job."""
        self._event("claimed", job, waited_s=_seconds(job.created_at, now), attempt=job.attempt)

    def progress(self, job: Job, counts: Mapping[str, int], *, reports: int, now: datetime) -> None:
        """A run ended: what it counted and how often it reported."""
        self._event("progress", job, items=dict(counts), reports=reports, **_ran(job, now))

    def finished(
        self, job: Job, result: Mapping[str, Any], counts: Mapping[str, int], now: datetime
    ) -> None:
        """A job is done: the line, and the kind's metrics."""
        ran = _ran(job, now)
        metrics: dict[str, tuple[float, Unit]] = {
            "JobsDone": (1, "Count"),
            "Duration": (ran["duration_s"], "Seconds"),
            "Items": (sum(counts.values()), "Count"),
        }
        if "size" in result:
            metrics["ArchiveBytes"] = (int(result["size"]), "Bytes")
        if result.get("verified"):
            metrics["Verified"] = (1, "Count")
        fields: dict[str, Any] = {**self._fields(job), "items": dict(counts), **ran}
        self.telemetry.measured(
            "finished", dimensions={"kind": job.kind}, metrics=metrics, **fields
        )

    def failed(self, job: Job, error: BaseException | str, now: datetime) -> None:
        """A job failed: the error's class (its message is the user's, in the record)."""
        kind = error if isinstance(error, str) else type(error).__name__
        ran = _ran(job, now)
        fields: dict[str, Any] = {
            **self._fields(job),
            "error_class": kind,
            "items": dict(job.progress),
            **ran,
        }
        self.telemetry.measured(
            "failed",
            level="WARNING",
            dimensions={"kind": job.kind},
            metrics={"JobsFailed": (1, "Count"), "Duration": (ran["duration_s"], "Seconds")},
            **fields,
        )

    def cancelled(self, job_id: str, user_id: str, now: datetime, *, kind: str = "") -> None:
        """The user cancelled a job (the worker stops at its next report)."""
        self.telemetry.event(
            "cancelled", job_id=job_id, kind=kind, user_hash=user_hash(user_id), at=now
        )

    def _event(self, name: str, job: Job, **fields: Any) -> None:
        self.telemetry.event(name, **self._fields(job), **fields)

    @staticmethod
    def _fields(job: Job) -> dict[str, Any]:
        return {"job_id": job.id, "kind": job.kind, "user_hash": user_hash(job.user_id)}


def _seconds(start: datetime, end: datetime) -> float:
    return round(max(0.0, (end - start).total_seconds()), 3)


def _ran(job: Job, now: datetime) -> dict[str, float]:
    """Return how long the job took: in all, and since it was claimed."""
    started = job.heartbeat_at or job.created_at
    return {"duration_s": _seconds(started, now), "total_s": _seconds(job.created_at, now)}
