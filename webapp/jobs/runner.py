"""Run a claimed job: the export engine with progress reported at a bounded rate.

The job record is the only channel back to the page: progress (items so far per
table) and a heartbeat at most once per ``interval``, then the result or a
message for the user. A cancelled or superseded job stops at its next report:
the upload is aborted and nothing is listed.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from ..archive.dates import DateRange
from ..archive.encode import CSV_ENCODINGS, CsvEncoding
from ..archive.errors import ExportError
from ..archive.export import ALL_FORMATS, Exporter, ExportRequest, Format
from ..archive.filters import FilterError, Filters
from ..archive.ids import EXPORT_PREFIX
from ..archive.signing import SigningKey
from ..errors import N_, Stopped, UserError
from ..model import TABLES, TableName
from .records import Job, JobStopped
from .store import JobStore
from .vocabulary import VocabularyStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

#: Seconds between two progress writes of one job, at most one write per interval.
REPORT_INTERVAL = 1.0
#: Stop (and say so) when the function has this little time left.
DEADLINE_MARGIN = 20.0
EXPORT = "export"
TOO_LONG = N_("The export took too long and was stopped. Choose a shorter period.")
BROKEN = N_("The export failed, so no archive was made. Please try again.")


@dataclass
class Reporter:
    """Progress of one running job, written to its record at most once per interval.

    Reports between pages go out on a thread of their own, so the export never
    waits for DynamoDB; one is in flight at a time. A report that finds the job
    cancelled makes the next page stop the export. ``write`` (before the archive
    appears) is synchronous: it is the last word on whether the job is still ours.
    """

    store: JobStore
    job: Job
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    monotonic: Callable[[], float] = time.monotonic
    interval: float = REPORT_INTERVAL
    #: Seconds the function has left, when it runs on Lambda.
    remaining: Callable[[], float] | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    writes: int = 0
    _last: float | None = None
    _inflight: Future[None] | None = None
    _executor: ThreadPoolExecutor | None = None

    def __call__(self, table: TableName, count: int) -> None:
        """Take the count of one table so far; report it if the interval has passed."""
        self.counts[table] = count
        self._raise_if_stopped()
        if self.remaining is not None and self.remaining() < DEADLINE_MARGIN:
            raise ExportError(TOO_LONG)
        if self._last is None:
            self._last = self.monotonic()  # the claim itself was the first heartbeat
        if self.monotonic() - self._last >= self.interval and not self._busy():
            self._last = self.monotonic()
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"report-{self.job.id}")
            self._inflight = self._executor.submit(self._report, dict(self.counts))

    def write(self) -> None:
        """Write the progress now, after any report in flight; raise JobStopped if cancelled."""
        self._wait()
        self._raise_if_stopped()
        self._report(dict(self.counts))
        self._last = self.monotonic()

    def close(self) -> None:
        """Let a report in flight finish; stop the reporting thread."""
        self._wait()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def _report(self, counts: dict[str, int]) -> None:
        self.store.report(self.job, counts, self.now())
        self.writes += 1

    def _busy(self) -> bool:
        return self._inflight is not None and not self._inflight.done()

    def _wait(self) -> None:
        if self._inflight is not None:
            futures_wait([self._inflight])

    def _raise_if_stopped(self) -> None:
        done = self._inflight
        if done is None or not done.done():
            return
        error = done.exception()
        if isinstance(error, JobStopped):
            raise error
        if error is not None:
            # Progress is best effort: the finish will say whether the table is back.
            logger.warning("progress of job %s not recorded: %s", self.job.id, error)
        self._inflight = None


def run_export(
    job: Job,
    *,
    store: JobStore,
    dynamodb: DynamoDBClient,
    s3: S3Client,
    bucket: str,
    tables: Mapping[TableName, str],
    reporter: Reporter | None = None,
    signing_key: SigningKey | None = None,
    display_timezone: str = "UTC",
) -> Reporter:
    """Run one claimed export job to its end; return its reporter (for the write count)."""
    reporter = reporter or Reporter(store, job)
    try:
        return _run_export(
            job, store, dynamodb, s3, bucket, tables, reporter, signing_key, display_timezone
        )
    finally:
        reporter.close()


def _run_export(
    job: Job,
    store: JobStore,
    dynamodb: DynamoDBClient,
    s3: S3Client,
    bucket: str,
    tables: Mapping[TableName, str],
    reporter: Reporter,
    signing_key: SigningKey | None,
    display_timezone: str,
) -> Reporter:
    try:
        date_range, formats, csv_encoding, filters = _export_params(job)
        exporter = Exporter(dynamodb, tables, s3, bucket, signing_key=signing_key)
        request = ExportRequest(
            job.user_id, date_range, formats, csv_encoding, filters, EXPORT_PREFIX, display_timezone
        )
        result = exporter.export(request, progress=reporter, before_finish=reporter.write)
    except Stopped:
        logger.info("job %s stopped (cancelled); its upload was aborted", job.id)
        return reporter
    except UserError as exc:
        fail_job(store, job, exc, reporter)
        return reporter
    except (ValueError, KeyError, TypeError, FilterError):
        logger.exception("job %s has parameters the worker cannot read", job.id)
        fail_job(store, job, ExportError(BROKEN), reporter)
        return reporter
    outcome = {
        "archive_id": str(result.archive_id),
        "key": result.key,
        "size": result.size,
        "counts": dict(result.counts),
    }
    if result.replaced:
        outcome["encoding"] = csv_encoding
        outcome["replaced"] = dict(result.replaced)
    if filters:
        outcome["filters"] = filters.to_dict()
    VocabularyStore(store.dynamodb, store.table).add(job.user_id, result.seen)
    try:
        counts = {str(table): count for table, count in result.counts.items()}
        store.finish(job, outcome, counts, reporter.now())
    except JobStopped:
        # Cancelled between the last report and the finish: take the archive back.
        logger.info("job %s was cancelled as it finished; deleting %s", job.id, result.key)
        s3.delete_object(Bucket=bucket, Key=result.key)
    return reporter


def fail_job(store: JobStore, job: Job, error: UserError, reporter: Reporter) -> None:
    """Record a job as failed with its message for the user; a cancelled job stays cancelled."""
    logger.info("job %s failed: %s", job.id, error)
    with contextlib.suppress(JobStopped):
        store.fail(job, error, reporter.now())


def _export_params(job: Job) -> tuple[DateRange, frozenset[Format], CsvEncoding, Filters]:
    params = job.params
    formats: frozenset[Format] = frozenset(params["formats"])
    if not formats or not ALL_FORMATS.issuperset(formats):
        raise ValueError(f"formats {sorted(formats)}")
    # Jobs queued before the choice existed have no encoding: the old default.
    encoding = params.get("csv_encoding", "utf-8-sig")
    if encoding not in CSV_ENCODINGS:
        raise ValueError(f"csv_encoding {encoding!r}")
    day_range = DateRange(date.fromisoformat(params["start"]), date.fromisoformat(params["end"]))
    return day_range, formats, encoding, Filters.from_dict(params.get("filters"))
