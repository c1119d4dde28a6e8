"""What a kind of job is: its typed parameters, its run function and its policy.

Each kind lives in a module of its own (``export``, ``backup``, ``preview``,
``restore``) that defines one ``Kind``: a frozen parameters dataclass (what the
job record stores, with its defaults stated once), the function that runs it,
whether it counts toward the user's daily quota and how long its finished
record lives. ``registry`` lists them by name. The worker alone claims a job,
reports its progress, stops it, fails it and finishes it; a kind's ``run``
receives the typed parameters and a reporter and returns an ``Outcome`` (or
raises ``UserError``, or ``Stopped`` when cancelled).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

if TYPE_CHECKING:
    from datetime import datetime

    from ..archive.bucket import ArchiveBucket
    from ..archive.export import Exporter
    from ..archive.signing import Keyring
    from ..aws import Clients
    from ..changes.store import ChangeLog
    from ..errors import UserError
    from ..settings import Settings
    from .job import Job
    from .notify import Mailer
    from .queue import JobQueue
    from .quota import JobQuota
    from .reporter import Reporter
    from .schedule import BackupPrefsStore
    from .store import JobStore
    from .vocabulary import VocabularyStore


class JobServices(Protocol):
    """What jobs use of their deployment: stores, queue, bucket, keys, clock.

    The composition root (``services.Services``) is one; jobs name only this, so
    ``jobs/`` never imports the root that builds it.
    """

    settings: Settings
    clients: Clients

    def now(self) -> datetime:
        """Return the current moment (aware, UTC)."""
        ...

    @property
    def stale_after(self) -> timedelta:
        """Return how long a running job may be silent before it counts as dead."""
        ...

    @property
    def jobs(self) -> JobStore:
        """Return the job records."""
        ...

    @property
    def queue(self) -> JobQueue:
        """Return the jobs queue."""
        ...

    @property
    def quota(self) -> JobQuota:
        """Return the users' job quotas."""
        ...

    @property
    def backup_prefs(self) -> BackupPrefsStore:
        """Return the automatic backup choices."""
        ...

    @property
    def vocabulary(self) -> VocabularyStore:
        """Return what the users' exports have seen."""
        ...

    @property
    def backups(self) -> ArchiveBucket:
        """Return the automatic backups."""
        ...

    @property
    def keyring(self) -> Keyring:
        """Return the archive keys."""
        ...

    @property
    def exporter(self) -> Exporter:
        """Return the export engine."""
        ...

    @property
    def mailer(self) -> Mailer | None:
        """Return what mails users, or None without a sender."""
        ...

    @property
    def changes(self) -> ChangeLog:
        """Return the change log (restores to a moment read it)."""
        ...


class Params(Protocol):
    """A kind's parameters: read from and written to the job record as plain data."""

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as the job record stores them."""
        ...

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Self:
        """Return the parameters a record stores; raise ValueError or a UserError if not ours."""
        ...


P = TypeVar("P", bound=Params)


@dataclass(frozen=True)
class Outcome:
    """What a job did: its result for the record and the page, and its item counts."""

    result: dict[str, Any]
    #: Items per table; None: the counts the reporter saw.
    counts: Mapping[str, int] | None = None
    #: The S3 key of an archive the job made: deleted again if the job turns out to
    #: have been cancelled just as it finished.
    made: str | None = None
    #: S3 keys of files the job used up (an upload restored from): deleted once it is done.
    spent: tuple[str, ...] = ()


def kept_like_exports(settings: Settings) -> timedelta:
    """Return how long a finished record lives when its archive is an ordinary export's."""
    return timedelta(days=settings.retention_days)


@dataclass(frozen=True)
class Kind(Generic[P]):
    """One kind of job: how to read its parameters, run it, and what it may cost the user."""

    name: str
    params: type[P]
    run: Callable[[JobServices, Job, P, Reporter], Outcome]
    #: Counts toward the user's daily quota (a job the user started, not the schedule).
    counted: bool = True
    #: How long the record lives once finished (the archive list reads old records).
    lifetime: Callable[[Settings], timedelta] = kept_like_exports
    #: Called after the record says done (e.g. move the schedule on, mail the user).
    done: Callable[[JobServices, Job, P, Outcome], None] | None = None
    #: Called after the record says failed with the user's message.
    failed: Callable[[JobServices, Job, P, UserError], None] | None = None
