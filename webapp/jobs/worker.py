"""The worker function: SQS messages (batch size 1) into claimed, run and finished jobs.

The worker function's entry point (``worker_handler.py``) hands each SQS event to
``Worker.handle``. The worker alone claims
a job (a conditional write: ``queued`` → ``running``), reports its progress,
stops it when it is cancelled, fails it with a message for the user, and
finishes it; the job's kind (``registry``) only says what to run. Each record is
handled on its own and only infrastructure failures (the job table unreachable)
are reported back as ``batchItemFailures``, so SQS redelivers just those; a job
that failed for the user's reasons is recorded as failed and its message
consumed. Redelivery is safe: a message for a job that is no longer queued does
nothing, except that a job whose worker died is recorded as interrupted.
"""

from __future__ import annotations

import contextlib
import logging
import reprlib
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import N_, Stopped, UserError
from .job import Job, JobStopped, State
from .kind import JobServices, Kind, Outcome
from .queue import JobMessage
from .registry import KINDS
from .reporter import REPORT_INTERVAL, Reporter

logger = logging.getLogger(__name__)
_SHORT = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 80, 80

#: The message of a job whose record this worker cannot read (or whose kind it does not know).
BROKEN = N_("The export failed, so no archive was made. Please try again.")


class Worker:
    """Runs jobs for one deployment (or the local stack)."""

    def __init__(self, services: JobServices, *, report_interval: float = REPORT_INTERVAL) -> None:
        self.services = services
        self.report_interval = report_interval

    def handle(self, event: object, context: Any = None) -> dict[str, Any]:
        """Handle an SQS event as Lambda delivers it; return the records to retry.

        Never raises: an event or record that is not what SQS sends is logged,
        and a record with a message id is reported back, so SQS retries it and
        then moves it to the dead-letter queue, where someone can look at it.
        """
        remaining = _remaining(context)
        records = event.get("Records") if isinstance(event, Mapping) else None
        if not isinstance(records, list):
            logger.error("dropping an event that is not an SQS event: %s", _describe(event))
            return {"batchItemFailures": []}
        failures = []
        for record in records:
            message_id = _message_id(record)
            body = record.get("body") if isinstance(record, Mapping) else None
            if not isinstance(body, str):
                logger.error("an SQS record without a text body: %s", _describe(record))
            else:
                try:
                    self.process(body, remaining=remaining)
                    continue
                except Exception:
                    logger.exception("job message %s failed; SQS will retry it", message_id)
            if message_id is not None:
                failures.append({"itemIdentifier": message_id})
        return {"batchItemFailures": failures}

    def process(self, body: str, *, remaining: Callable[[], float] | None = None) -> Job | None:
        """Run the job one message names, if it is still queued; return the claimed job."""
        message = JobMessage.parse(body)
        if message is None:
            logger.error("dropping a message that is not a job message")
            return None
        store, now = self.services.jobs, self.services.now()
        # The common case first: claim the queued job in one conditional write.
        claimed = store.claim_by_id(message.user_id, message.job_id, now)
        if claimed is None:
            job = store.get(message.user_id, message.job_id)
            if job is None or job.state is not State.RUNNING:
                return None  # gone (TTL), or done, failed, cancelled: a duplicate delivery
            # Redelivered while running: nothing if its worker is alive, else it died.
            if store.fail_interrupted(job, now, stale_after=self.services.stale_after):
                logger.warning("job %s was interrupted (no heartbeat)", job.id)
            return None
        reporter = Reporter(
            store,
            claimed,
            now=self.services.now,
            interval=self.report_interval,
            remaining=remaining,
        )
        try:
            self.run(claimed, reporter)
        finally:
            reporter.close()
        return claimed

    def run(self, job: Job, reporter: Reporter) -> None:
        """Run one claimed job to its end: done, failed with the user's message, or stopped."""
        kind = KINDS.get(job.kind)
        if kind is None:
            logger.error("job %s has an unknown kind %r", job.id, job.kind)
            self._fail(job, UserError(BROKEN))
            return
        try:
            params = kind.params.from_dict(job.params)
        except UserError as exc:
            self._fail(job, exc)
            return
        except (ValueError, KeyError, TypeError):
            logger.exception("job %s has parameters the worker cannot read", job.id)
            self._fail(job, UserError(BROKEN))
            return
        self._run(kind, job, params, reporter)

    def _run(self, kind: Kind[Any], job: Job, params: Any, reporter: Reporter) -> None:
        services = self.services
        try:
            outcome = self._attempt(kind, job, params, reporter)
        except Stopped:
            logger.info("job %s stopped (cancelled); what it was writing was taken back", job.id)
            return
        except UserError as exc:
            self._fail(job, exc)
            if kind.failed is not None:
                kind.failed(services, job, params, exc)
            return
        counts = reporter.counts if outcome.counts is None else outcome.counts
        try:
            services.jobs.finish(
                job,
                outcome.result,
                {str(table): count for table, count in counts.items()},
                services.now(),
                lasts=kind.lifetime(services.settings),
            )
        except JobStopped:
            if outcome.made is not None:
                # Cancelled between the last report and the finish: take the archive back.
                logger.info(
                    "job %s was cancelled as it finished; deleting %s", job.id, outcome.made
                )
                self._delete(outcome.made)
            return
        for key in outcome.spent:
            self._delete(key, quietly=True)
        if kind.done is not None:
            kind.done(services, job, params, outcome)

    def _attempt(self, kind: Kind[Any], job: Job, params: Any, reporter: Reporter) -> Outcome:
        """Run the kind's work; however it ends, log what the run counted (one line)."""
        try:
            return kind.run(self.services, job, params, reporter)
        finally:
            events = self.services.jobs.events
            if events is not None:
                now = self.services.now()
                events.progress(job, reporter.counts, reports=reporter.writes, now=now)

    def _fail(self, job: Job, error: UserError) -> None:
        """Record a job as failed with its message for the user; a cancelled job stays so."""
        logger.info("job %s failed: %s", job.id, error)
        with contextlib.suppress(JobStopped):
            self.services.jobs.fail(job, error, self.services.now())

    def _delete(self, key: str, *, quietly: bool = False) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        bucket = self.services.settings.export_bucket
        try:
            self.services.clients.s3.delete_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError):
            if not quietly:
                raise
            logger.warning("could not delete s3://%s/%s", bucket, key, exc_info=True)


def _message_id(record: object) -> str | None:
    """Return a record's message id, if it has one SQS could take back."""
    value = record.get("messageId") if isinstance(record, Mapping) else None
    return value if isinstance(value, str) and value else None


def _describe(value: object) -> str:
    """Return a short account of what arrived, for the log (bounded in size and depth)."""
    return _SHORT.repr(value)


def _remaining(context: Any) -> Callable[[], float] | None:
    method = getattr(context, "get_remaining_time_in_millis", None)
    if method is None:
        return None
    return lambda: float(method()) / 1000
