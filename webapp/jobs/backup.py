"""The automatic backup job: all of a user's data under ``backups/``, then the schedule moves on.

The dispatcher queues one per due user and day (``backup_job_id``: a second
dispatch of the same day finds it and queues nothing more). After a success
the user's choice records it and moves ``next_run`` on, the user is mailed (if
mail is configured) and only the newest ``BACKUP_KEEP`` backups are kept; after
a failure ``next_run`` stays, so the next day's dispatch tries again. Backups are
the schedule's, not the user's: they count toward no quota, and their records
last as long as the backups themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from ..archive.bucket import StorageError
from ..archive.dates import EVERYTHING
from ..archive.ids import BACKUP_PREFIX
from .health import streak
from .job import iso
from .kind import JobServices, Kind, Outcome
from .readback import BACKUP_DAMAGED, read_back
from .schedule import FREQUENCIES, Frequency, following_run

if TYPE_CHECKING:
    from ..errors import UserError
    from ..settings import Settings
    from .job import Job
    from .reporter import Reporter

logger = logging.getLogger(__name__)

NAME = "backup"


def backup_job_id(day: date) -> str:
    """Return the id of a user's automatic backup job of ``day`` (sorts with the others)."""
    return f"{day:%Y%m%d}T000000Z-{NAME}"


@dataclass(frozen=True)
class BackupParams:
    """Which day's backup this is, and how often the user asked for one then."""

    day: date
    frequency: Frequency = "weekly"

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as the job record stores them."""
        return {"day": self.day.isoformat(), "frequency": self.frequency}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> BackupParams:
        """Return the parameters a record stores; raise ValueError if they are not ours."""
        frequency = raw.get("frequency", "weekly")
        if frequency not in FREQUENCIES:
            raise ValueError(f"frequency {frequency!r}")
        return cls(day=date.fromisoformat(str(raw["day"])), frequency=frequency)


def run(services: JobServices, job: Job, params: BackupParams, reporter: Reporter) -> Outcome:
    """Back up the user's whole partition, in both formats, under ``backups/``."""
    from ..archive.export import ExportRequest

    request = ExportRequest(
        sub=job.user_id,
        period=EVERYTHING,
        prefix=BACKUP_PREFIX,
        display_timezone=services.settings.display_timezone,
    )
    made = services.exporter.export(request, progress=reporter, before_finish=reporter.write)
    # Nobody looks at a backup until it is needed: read all of it back now.
    verified = read_back(services, made, full=True, damaged=BACKUP_DAMAGED)
    result = {
        "archive_id": str(made.archive_id),
        "key": made.key,
        "size": made.size,
        "counts": dict(made.counts),
        "verified": verified,
    }
    # A backup reads everything: the fullest view of the accounts and categories.
    services.vocabulary.add(job.user_id, made.seen)
    return Outcome(result, counts={str(t): n for t, n in made.counts.items()}, made=made.key)


def done(services: JobServices, job: Job, params: BackupParams, outcome: Outcome) -> None:
    """Record the success, move the schedule on, mail the user, keep only the newest."""
    choices = services.backup_prefs
    choice = choices.get(job.user_id)
    following = (
        following_run(choice.frequency, params.day, choice.anchor_day) if choice.on else None
    )
    result = {"state": "done", **outcome.result}
    choices.record(job.user_id, {"at": iso(services.now()), **result}, next_run=following)
    _mail(services, job.user_id, result, choice.email)
    try:
        removed = services.backups.prune(job.user_id, keep=services.settings.backup_keep)
    except StorageError:
        logger.warning("backup %s: older automatic backups not pruned", job.id, exc_info=True)
        return
    if removed:
        logger.info("backup %s: %d older automatic backups deleted", job.id, len(removed))


def failed(services: JobServices, job: Job, params: BackupParams, error: UserError) -> None:
    """Record the failure (the backup stays due); mail the user once per streak of trouble."""
    choices = services.backup_prefs
    outcome = {
        "at": iso(services.now()),
        "state": "failed",
        "error": error.message,
        "error_fields": {k: str(v) for k, v in error.fields.items()},
    }
    choices.record(job.user_id, outcome, next_run=None)
    choice = choices.get(job.user_id)
    # A failure retried every day mails once, not daily (a success starts afresh).
    if services.mailer is not None and choice.email and choices.alert(job.user_id, streak(choice)):
        services.mailer.backup_result(choice.email, outcome)


def _mail(
    services: JobServices, user_id: str, outcome: dict[str, Any], email: str | None = None
) -> None:
    mailer = services.mailer
    if mailer is None:
        return
    address = email or services.backup_prefs.get(user_id).email
    if address:
        mailer.backup_result(address, outcome)


def _kept_like_backups(settings: Settings) -> timedelta:
    return timedelta(days=settings.backup_retention_days)


KIND = Kind(
    name=NAME,
    params=BackupParams,
    run=run,
    counted=False,
    lifetime=_kept_like_backups,
    done=done,
    failed=failed,
)
