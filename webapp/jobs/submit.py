"""Start a job for a user: at most a few unfinished at once, and a quota a day.

One user must not starve the rest (the worker's reserved concurrency is shared):
besides ``max_active_jobs`` unfinished at once, a user may start at most
``max_jobs_per_day`` jobs of the kinds that count (exports, previews, restores)
in any 24 hours. Automatic backups are the dispatcher's, not counted here. The
job is counted in first (``quota``: one conditional write, so a burst gets
exactly the limit), then recorded and queued; one that cannot be started is
taken out of the counts again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..errors import N_, UserError
from . import preview, restore
from .job import Job, JobError, State
from .kind import JobServices, Kind, Params
from .queue import JobMessage
from .quota import TooManyJobs
from .registry import KINDS

__all__ = ["TooManyJobs", "recent_checks", "submit", "visible_jobs"]

#: A failed job stays on the page this long, so its message is seen.
SHOW_FAILED_FOR = timedelta(days=1)
NOT_STARTED = N_("The export could not be started just now. Try again.")


def visible_jobs(jobs: list[Job], now: datetime, *, stale_after: timedelta) -> list[Job]:
    """Return the jobs the page shows: unfinished ones, and failures of the last day."""
    seen = [job.seen_at(now, stale_after=stale_after) for job in jobs]
    recent = now - SHOW_FAILED_FOR
    return [
        job
        for job in seen
        if job.unfinished
        or (job.state is State.FAILED and (job.updated_at or job.created_at) > recent)
    ]


#: How many recent restore checks (and restores) the page lists at most.
RECENT_CHECKS = 5


def recent_checks(jobs: list[Job], now: datetime, *, stale_after: timedelta) -> list[Job]:
    """Return the user's recent restore checks and restores (the page lists them apart).

    Unfinished ones, and those of the last day that the user has not put away; the
    newest first, at most ``RECENT_CHECKS``.
    """
    recent = now - SHOW_FAILED_FOR
    found = [
        job.seen_at(now, stale_after=stale_after)
        for job in jobs
        if job.kind in (preview.NAME, restore.NAME)
        and (job.unfinished or (not job.dismissed and (job.updated_at or job.created_at) > recent))
    ]
    return sorted(found, key=lambda job: job.created_at, reverse=True)[:RECENT_CHECKS]


def submit(
    services: JobServices,
    sub: str,
    kind: Kind[Any],
    params: Params,
    *,
    jobs: list[Job] | None = None,
    job_id: str = "",
) -> Job:
    """Record a queued job of ``sub`` and send its message; refuse one too many.

    ``jobs`` are the user's jobs if the caller has read them already; ``job_id`` is
    the new job's id if the caller has chosen it (a restore names itself on the
    preview it carries out before it is queued).
    """
    store, now = services.jobs, services.now()
    records = store.list(sub) if jobs is None else jobs
    job = Job.queued(sub, kind.name, params.to_dict(), now, job_id)
    services.quota.reserve(
        job, records=records, counts=_counts, now=now, stale_after=services.stale_after
    )
    try:
        store.create(job)
    except JobError:
        services.quota.release(job)
        raise
    try:
        services.queue.send(JobMessage(user_id=sub, job_id=job.id))
    except JobError:
        store.abandon(job, UserError(NOT_STARTED), now)
        services.quota.release(job)
        raise
    return job


def _counts(job: Job) -> bool:
    """Return whether a job counts towards the daily quota (a kind unknown here does)."""
    kind = KINDS.get(job.kind)
    return kind is None or kind.counted
