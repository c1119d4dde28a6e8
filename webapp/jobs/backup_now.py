"""The backup a user asks for ("Back up now"): the automatic backup's job, at once.

It does what the daily one does (everything, read back whole, the schedule moved
on, only the newest kept, the mails), but the user started it, so it counts
toward the user's quota like an export; the schedule's own backups never do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import backup
from .kind import Kind, Outcome

if TYPE_CHECKING:
    from .job import Job
    from .kind import JobServices
    from .reporter import Reporter

NAME = "backup-now"
#: Both kinds of backup job: what the list and the page treat as a backup.
NAMES = (backup.NAME, NAME)


def run(
    services: JobServices, job: Job, params: backup.BackupParams, reporter: Reporter
) -> Outcome:
    """Back up the user's whole partition now, exactly as the schedule would."""
    return backup.run(services, job, params, reporter)


KIND = Kind(
    name=NAME,
    params=backup.BackupParams,
    run=run,
    counted=True,
    lifetime=backup.KIND.lifetime,
    done=backup.done,
    failed=backup.failed,
)
