"""A restore to a moment: the user's book as it was then, made into a signed archive.

A check of a moment (a preview job whose source is a ``moment``) first makes the
archive it checks: it waits until a change made before it was asked for has
reached the log (``CHANGES_SETTLE_SECONDS``), reads the user's whole book and the
changes recorded after the moment, refuses a moment the log cannot answer for
and a book whose latest change is still on its way, and writes the book as it
was then as an ordinary signed archive of everything, in the user's upload
inbox. From there the check, the one confirmation, the before-archive, the
replace and the undo are an archive restore's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..archive.dates import EVERYTHING
from ..archive.dynamo import iter_pages
from ..archive.errors import AccountBookUnavailable, ExportError, RestoreError
from ..changes.moment import BEHIND, NO_LOG, OUTSIDE, behind, book_of, items_of, state_at, window
from ..changes.store import from_ms, utc_ms
from ..model import TABLES, TableName
from .sources import GONE, RestoreSource

if TYPE_CHECKING:
    from .job import Job
    from .kind import JobServices
    from .reporter import Reporter

#: Items per page of the archive's pages.
PAGE = 1000


def moment_ms(source: RestoreSource) -> int:
    """Return the moment a source names, in ms since the epoch; refuse one that is none."""
    try:
        return utc_ms(datetime.fromisoformat(source.at))
    except ValueError:
        raise RestoreError(GONE) from None


def make_moment_archive(
    services: JobServices,
    job: Job,
    source: RestoreSource,
    reporter: Reporter,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Write the user's book as it was at the source's moment to the source's key."""
    at_ms = moment_ms(source)
    settings = services.settings
    wait = (job.created_at - services.now()).total_seconds() + settings.changes_settle_seconds
    if wait > 0:
        sleep(wait)
    offered = window(services.changes, services.now(), settings.changes_retention_days)
    if offered.start_ms is None:
        raise RestoreError(NO_LOG)
    if not offered.holds(at_ms):
        raise RestoreError(OUTSIDE, start=from_ms(offered.start_ms).isoformat(timespec="minutes"))
    current = book_of({table: _items(services, job.user_id, table) for table in TABLES})
    changes = services.changes.changes(job.user_id, after_ms=at_ms)
    if behind(current, changes):
        raise RestoreError(BEHIND)
    then = state_at(current, changes, at_ms)
    reporter.write()

    def pages(table: TableName) -> Iterator[list[dict[str, Any]]]:
        listed = items_of(then, table)
        for start in range(0, len(listed), PAGE):
            yield listed[start : start + PAGE]

    from ..archive.export import ExportRequest

    request = ExportRequest(
        sub=job.user_id, period=EVERYTHING, display_timezone=settings.display_timezone
    )
    services.exporter.export(request, pages=pages, key=source.key(job.user_id))


def _items(services: JobServices, user: str, table: TableName) -> list[dict[str, Any]]:
    try:
        return [
            item
            for page in iter_pages(
                services.clients.dynamodb, services.settings.data_tables[table], user, EVERYTHING
            )
            for item in page
        ]
    except ExportError as exc:
        raise AccountBookUnavailable(exc.message, **exc.fields) from exc
