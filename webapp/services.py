"""The composition root: every store, queue, bucket and key of one deployment, from its settings.

The web app (in its factory), the worker and the dispatcher (once per Lambda
container), the commands and local mode each build one ``Services`` from their
``Settings``; nothing else builds a store, and no store is built from another's
client. Each part is built on first use and then kept, so a page that needs no
S3 makes no S3 client, and only the worker ever loads the export engine
(``exporter``). Tests take their seams from here too: a test hands in its own
``Clients`` or puts its own object in place of one attribute.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from .apptable import UserItems, read_user_items
from .archive.bucket import ArchiveBucket
from .archive.ids import BACKUP_PREFIX, EXPORT_PREFIX
from .archive.inbox import Inbox
from .aws import Clients
from .identity.sessions import SessionStore
from .identity.throttle import SignInThrottle, ThrottleLimits
from .jobs.events import JobEvents
from .jobs.queue import JobQueue
from .jobs.quota import JobQuota
from .jobs.schedule import BackupPrefsStore
from .jobs.store import JobStore
from .jobs.vocabulary import VocabularyStore
from .settings import Settings
from .telemetry import Telemetry

if TYPE_CHECKING:
    from .archive.export import Exporter
    from .archive.signing import Keyring
    from .changes.recorder import Recorder
    from .changes.store import ChangeLog
    from .jobs.notify import Mailer

#: Seconds of silence beyond the worker's timeout before a running job counts as dead.
STALE_MARGIN = 60


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Services:
    """The stores, queue, buckets and keys of one deployment, built on first use."""

    def __init__(
        self,
        settings: Settings,
        clients: Clients | None = None,
        *,
        clock: Callable[[], datetime] = _utcnow,
        source: str = "app",
    ) -> None:
        self.settings = settings
        self.clients = clients or Clients(settings)
        #: The current moment (aware, UTC); tests put a clock of their own here.
        self.clock = clock
        #: Structured log lines and metrics (``telemetry``); tests collect its lines.
        self.telemetry = Telemetry(source=source)

    def now(self) -> datetime:
        """Return the current moment by this deployment's clock."""
        return self.clock()

    @property
    def stale_after(self) -> timedelta:
        """Return how long a running job may be silent before it counts as dead."""
        return timedelta(seconds=self.settings.worker_timeout + STALE_MARGIN)

    # --- the app table ---------------------------------------------------------------------

    def user_items(self, user_id: str) -> UserItems:
        """Return every item of the user's partition, read afresh with one ``Query``."""
        return read_user_items(self.clients.dynamodb, self.settings.app_table, user_id)

    @cached_property
    def jobs(self) -> JobStore:
        """Return the job records."""
        return JobStore(
            self.clients.dynamodb,
            self.settings.app_table,
            retention=timedelta(days=self.settings.retention_days),
            events=JobEvents(self.telemetry),
        )

    @cached_property
    def quota(self) -> JobQuota:
        """Return the users' job quotas: unfinished jobs and the day's starts, counted first."""
        return JobQuota(
            self.clients.dynamodb,
            self.settings.app_table,
            max_active=self.settings.max_active_jobs,
            per_day=self.settings.max_jobs_per_day,
        )

    @cached_property
    def backup_prefs(self) -> BackupPrefsStore:
        """Return the users' automatic backup choices."""
        return BackupPrefsStore(self.clients.dynamodb, self.settings.app_table)

    @cached_property
    def vocabulary(self) -> VocabularyStore:
        """Return the accounts, categories and kinds each user's exports have seen."""
        return VocabularyStore(self.clients.dynamodb, self.settings.app_table)

    @cached_property
    def sessions(self) -> SessionStore:
        """Return the users' sign-out markers."""
        return SessionStore(self.clients.dynamodb, self.settings.app_table)

    def throttle(self, salt: bytes) -> SignInThrottle:
        """Return the failed sign-in counters, keyed by hashes salted with ``salt``."""
        settings = self.settings
        limits = ThrottleLimits(
            account=settings.signin_max_failures,
            client=settings.signin_max_failures_per_client,
            window=settings.signin_window_minutes * 60,
        )
        return SignInThrottle(self.clients.dynamodb, settings.app_table, limits, salt=salt)

    # --- the queue and the bucket ------------------------------------------------------------

    @cached_property
    def queue(self) -> JobQueue:
        """Return the queue the worker function reads."""
        return JobQueue(self.clients.sqs, self.settings.jobs_queue_url)

    @cached_property
    def archives(self) -> ArchiveBucket:
        """Return the users' own archives (``exports/``)."""
        return ArchiveBucket(
            self.clients.s3,
            self.settings.export_bucket,
            retention_days=self.settings.retention_days,
            prefix=EXPORT_PREFIX,
        )

    @cached_property
    def backups(self) -> ArchiveBucket:
        """Return the users' automatic backups (``backups/``), kept longer."""
        return ArchiveBucket(
            self.clients.s3,
            self.settings.export_bucket,
            retention_days=self.settings.backup_retention_days,
            prefix=BACKUP_PREFIX,
        )

    @cached_property
    def inbox(self) -> Inbox:
        """Return the files users send from their PC to restore from (``uploads/``)."""
        return Inbox(self.clients.s3, self.settings.export_bucket)

    @cached_property
    def changes(self) -> ChangeLog:
        """Return the change log (``changes/``): what the recorder wrote of every change."""
        from .changes.store import ChangeLog

        return ChangeLog(self.clients.s3, self.settings.export_bucket)

    @cached_property
    def recorder(self) -> Recorder:
        """Return the recorder of the tables' streams (the recorder function's)."""
        from .changes.recorder import Recorder

        return Recorder(self.changes, self.settings.data_tables, now=self.now)

    def bucket(self, prefix: str) -> ArchiveBucket:
        """Return the archives under ``prefix``: the exports or the automatic backups."""
        return self.backups if prefix == BACKUP_PREFIX else self.archives

    # --- the worker's ------------------------------------------------------------------------

    @cached_property
    def keyring(self) -> Keyring:
        """Return the archive keys (read from SSM once per container)."""
        from .secret_key import archive_keyring

        return archive_keyring(self.settings, self.clients)

    @cached_property
    def exporter(self) -> Exporter:
        """Return the export engine, signing with the current archive key (the worker's)."""
        from .archive.export import Exporter

        settings = self.settings
        return Exporter(
            self.clients.dynamodb,
            settings.data_tables,
            self.clients.s3,
            settings.export_bucket,
            signing_key=self.keyring.current(),
        )

    @cached_property
    def mailer(self) -> Mailer | None:
        """Return what mails users about their backups, or None when NOTIFY_FROM is unset."""
        from .jobs.notify import Mailer

        settings = self.settings
        if not settings.notify_from:
            return None
        return Mailer(
            ses=self.clients.ses,
            sender=settings.notify_from,
            site_url=settings.site_url or "",
            timezone=settings.display_timezone,
            now=self.now,
        )
