"""A running job's progress, written to its record at a bounded rate.

The job record is the only channel back to the page: progress (items so far per
table) and a heartbeat at most once per ``interval``. A cancelled or superseded
job stops at its next report: the work raises ``JobStopped`` and whatever it
was writing (an upload) is aborted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..archive.errors import ExportError
from ..errors import N_
from ..model import TABLES, TableName
from .job import Job, JobStopped
from .store import JobStore

logger = logging.getLogger(__name__)

#: Seconds between two progress writes of one job, at most one write per interval.
REPORT_INTERVAL = 1.0
#: Stop (and say so) when the function has this little time left.
DEADLINE_MARGIN = 20.0
TOO_LONG = N_("The export took too long and was stopped. Choose a shorter period.")


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

    def adding(self, table: TableName) -> Callable[[int], None]:
        """Return a callback that adds each count it is given to ``table``'s total so far."""
        sent = 0

        def advance(count: int) -> None:
            nonlocal sent
            sent += count
            self(table, sent)

        return advance

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
