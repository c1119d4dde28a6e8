"""The worker function: SQS messages (batch size 1) into claimed, finished jobs.

``serverless.yml`` names ``webapp.jobs.worker.handler``. Each record is handled
on its own and only infrastructure failures (the job table unreachable) are
reported back as ``batchItemFailures``, so SQS redelivers just those; a job that
failed for the user's reasons is recorded as failed and its message consumed.
Redelivery is safe: a message for a job that is no longer queued does nothing,
except that a job whose worker died is recorded as interrupted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from ..archive.signing import Keyring
from ..aws import Clients
from ..secret_key import archive_keyring
from ..settings import Settings
from .backups import BACKUP, BackupPrefsStore, run_backup
from .notify import backup_mail, send
from .queue import JobMessage
from .records import Job, State
from .restoring import PREVIEW, RESTORE, run_preview, run_restore
from .runner import EXPORT, REPORT_INTERVAL, Reporter, run_export
from .store import JobStore

logger = logging.getLogger(__name__)

#: Seconds of silence beyond the function's timeout before a running job counts as dead.
STALE_MARGIN = 60


class Worker:
    """Runs jobs for one deployment (or the local stack)."""

    def __init__(
        self,
        settings: Settings,
        clients: Clients,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        report_interval: float = REPORT_INTERVAL,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.now = now
        self.report_interval = report_interval
        self.store = JobStore(
            clients.dynamodb,
            settings.app_table,
            retention=timedelta(days=settings.retention_days),
            lasting={BACKUP: timedelta(days=settings.backup_retention_days)},
        )
        self.stale_after = timedelta(seconds=settings.worker_timeout + STALE_MARGIN)

    def handle(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """Handle an SQS event as Lambda delivers it; return the records to retry."""
        remaining = _remaining(context)
        failures = []
        for record in event.get("Records") or []:
            try:
                self.process(str(record.get("body", "")), remaining=remaining)
            except Exception:
                logger.exception(
                    "job message %s failed; SQS will retry it", record.get("messageId")
                )
                failures.append({"itemIdentifier": str(record.get("messageId", ""))})
        return {"batchItemFailures": failures}

    def process(self, body: str, *, remaining: Callable[[], float] | None = None) -> Job | None:
        """Run the job one message names, if it is still queued; return the claimed job."""
        message = JobMessage.parse(body)
        if message is None:
            logger.error("dropping a message that is not a job message")
            return None
        now = self.now()
        # The common case first: claim the queued job in one conditional write.
        claimed = self.store.claim_by_id(message.user_id, message.job_id, now)
        if claimed is None:
            job = self.store.get(message.user_id, message.job_id)
            if job is None or job.state is not State.RUNNING:
                return None  # gone (TTL), or done, failed, cancelled: a duplicate delivery
            # Redelivered while running: nothing if its worker is alive, else it died.
            if self.store.fail_interrupted(job, now, stale_after=self.stale_after):
                logger.warning("job %s was interrupted (no heartbeat)", job.id)
            return None
        reporter = Reporter(
            self.store, claimed, now=self.now, interval=self.report_interval, remaining=remaining
        )
        try:
            self._run(claimed, reporter)
        finally:
            reporter.close()
        return claimed

    def _run(self, job: Job, reporter: Reporter) -> None:
        common: dict[str, Any] = {
            "store": self.store,
            "dynamodb": self.clients.dynamodb,
            "s3": self.clients.s3,
            "bucket": self.settings.export_bucket,
            "tables": self.settings.data_tables,
            "reporter": reporter,
        }
        # README.txt of every archive made shows its time as the page does.
        zone = self.settings.display_timezone
        if job.kind == EXPORT:
            run_export(job, signing_key=self.keyring.current(), display_timezone=zone, **common)
        elif job.kind == BACKUP:
            run_backup(
                job,
                prefs=BackupPrefsStore(self.clients.dynamodb, self.settings.app_table),
                signing_key=self.keyring.current(),
                keep=self.settings.backup_keep,
                notify=self._mailer(),
                display_timezone=zone,
                **common,
            )
        elif job.kind == PREVIEW:
            run_preview(
                job, keyring=self.keyring, max_upload_bytes=self.settings.max_upload_bytes, **common
            )
        elif job.kind == RESTORE:
            run_restore(
                job,
                keyring=self.keyring,
                max_upload_bytes=self.settings.max_upload_bytes,
                display_timezone=zone,
                **common,
            )
        else:
            logger.error("job %s has an unknown kind %r", job.id, job.kind)

    def _mailer(self) -> Callable[[str, dict[str, Any]], None] | None:
        """Return how to mail a user after a backup, or None when NOTIFY_FROM is unset."""
        sender, site = self.settings.notify_from, self.settings.site_url or ""
        if not sender:
            return None

        def mail(address: str, outcome: dict[str, Any]) -> None:
            when = self.now().astimezone(ZoneInfo(self.settings.display_timezone))
            message = backup_mail(outcome, site_url=site, when=f"{when:%Y-%m-%d %H:%M}")
            send(self.clients.ses, sender, address, message)

        return mail

    @cached_property
    def keyring(self) -> Keyring:
        """Return the archive keys (read from SSM once per container)."""
        return archive_keyring(self.settings, self.clients)


def _remaining(context: Any) -> Callable[[], float] | None:
    method = getattr(context, "get_remaining_time_in_millis", None)
    if method is None:
        return None
    return lambda: float(method()) / 1000


_worker: Worker | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda's entry point: build the worker once per container, then handle the event."""
    global _worker
    if _worker is None:
        settings = Settings.from_env()
        _worker = Worker(settings, Clients(settings))
    return _worker.handle(event, context)
