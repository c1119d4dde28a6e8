"""Start a job for the signed-in user: at most a few unfinished at once, then queue it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ..archive.errors import N_, UserError
from ..jobs.queue import JobMessage
from ..jobs.records import Job, JobError, State, new_job_id
from .context import get_settings, job_queue, job_store, stale_after

#: A failed job stays on the page this long, so its message is seen.
SHOW_FAILED_FOR = timedelta(days=1)
NOT_STARTED = N_("The export could not be started just now. Try again.")


class TooManyJobs(Exception):
    """The user already has as many unfinished jobs as one may."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


def visible_jobs(jobs: list[Job], now: datetime) -> list[Job]:
    """Return the jobs the page shows: unfinished ones, and failures of the last day."""
    seen = [job.seen_at(now, stale_after=stale_after()) for job in jobs]
    recent = now - SHOW_FAILED_FOR
    return [
        job
        for job in seen
        if job.unfinished
        or (job.state is State.FAILED and (job.updated_at or job.created_at) > recent)
    ]


def submit_job(
    sub: str, kind: str, params: dict[str, Any], *, jobs: list[Job] | None = None
) -> Job:
    """Record a queued job of ``sub`` and send its message; refuse one too many.

    ``jobs`` are the user's jobs if the caller has read them already.
    """
    store, now = job_store(), datetime.now(UTC)
    limit = get_settings().max_active_jobs
    current = store.list(sub) if jobs is None else jobs
    if sum(job.unfinished for job in visible_jobs(current, now)) >= limit:
        raise TooManyJobs(limit)
    job = store.create(
        Job(
            user_id=sub,
            id=new_job_id(now),
            kind=kind,
            state=State.QUEUED,
            created_at=now,
            params=params,
            progress={"slips": 0, "balances": 0},
        )
    )
    try:
        job_queue().send(JobMessage(user_id=sub, job_id=job.id))
    except JobError:
        store.abandon(job, UserError(NOT_STARTED), now)
        raise
    return job
