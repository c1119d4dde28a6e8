"""Restore an archive into the tables, in one procedure: verify, plan, snapshot, write.

Pure Python over boto3's low-level DynamoDB client, no Flask. ``restore`` is
the one procedure the restore job and the ``restore`` command both run:

1. **verify**: every file and item of the archive, and the target tables
   (``plan_restore``; see ``reader``);
2. **plan**: compare the archive's items with the table's items in the
   archive's period (see ``compare``) and work out every request to send;
3. **before-snapshot**: let the caller save the period as it is now (the job
   makes an ordinary archive of it, the way to undo the restore);
4. **write**: send the requests (``BatchWriteItem``).

A **merge** puts back the new and changed items and keeps the rest; a
**replace** also deletes the items of the period the archive lacks. Either way
running a restore twice leaves the same data, and nothing outside the user's
partition and the period is touched. Who may restore an archive (its
signature, its owner) is the caller's to check before it calls ``restore``.

Why this long: the procedure's steps, and the check each step makes before the
next (the mode, the items, the tables, the state the preview saw), read right
only together; the reading, comparing and writing live in their own modules.
"""

from __future__ import annotations

import pickle
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from typing import IO, TYPE_CHECKING, Any, Generic, TypeVar

from ..errors import N_
from ..model import SPECS, TABLES, TableName
from .compare import TableDiff, count, pair
from .dates import DateRange
from .decode import MAX_PARTITION_KEY_BYTES
from .dynamo import Progress, batch_write, check_tables, delete_request, iter_pages, put_request
from .errors import (
    AccountBookUnavailable,
    ExportError,
    NotAnArchive,
    RestoreError,
)
from .ids import user_prefix
from .manifest import data_file
from .reader import ArchiveReader
from .state import StateCheck

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: What the caller's before-snapshot returns (the job: the archive it made).
S = TypeVar("S")

#: Why a filtered archive is only ever merged.
FILTERED = N_(
    "this archive holds only the items its export filters kept (%(filters)s), so a replace "
    "would delete the rest of the period; restore it by merging instead"
)


def check_mode(reader: ArchiveReader, *, replace: bool) -> None:
    """Refuse a replace from a filtered archive: it would delete what the filter left out."""
    filters = reader.manifest.filters
    if replace and filters:
        shown = "; ".join(f"{name}: {', '.join(values)}" for name, values in filters.items())
        raise RestoreError(FILTERED, filters=shown)


def check_as_user(sub: str) -> str:
    """Return ``sub`` if it can be a partition key and an S3 folder, else refuse."""
    try:
        user_prefix(sub)
    except ValueError as exc:
        raise RestoreError(
            N_("--as-user: a user's sub must be a non-empty string without '/'")
        ) from exc
    if sub.strip() != sub or len(sub.encode("utf-8")) > MAX_PARTITION_KEY_BYTES:
        raise RestoreError(N_("--as-user: not a usable user id (surrounding spaces or too long)"))
    return sub


@dataclass(frozen=True)
class TablePlan:
    """One verified table, ready to compare and write: where to, whose, which period."""

    table: TableName
    target: str
    items: int
    #: The partition written (the archive's user, or ``as_user``).
    owner: str
    period: DateRange
    as_user: str | None = None

    @property
    def bounds(self) -> tuple[str, str]:
        """Return the lowest and highest sort key of the period."""
        return self.period.start.isoformat(), self.period.end.isoformat() + "~"


@dataclass
class TableRestore(TableDiff):
    """What a restore of one table did: the comparison, and the requests it sent."""

    written: int = 0
    deleted: int = 0


@dataclass(frozen=True)
class RestoreRequest:
    """What a restore is asked to do: merge or replace, which tables, as whom."""

    #: Also delete the period's items the archive lacks (refused for a filtered archive).
    replace: bool = False
    #: Only these tables (default: every table the archive holds).
    only: Sequence[TableName] | None = None
    #: Write the items as this user (the operator's override; see ``check_as_user``).
    as_user: str | None = None


def plan_restore(
    reader: ArchiveReader,
    request: RestoreRequest,
    *,
    dynamodb: DynamoDBClient,
    tables: Mapping[TableName, str],
) -> list[TablePlan]:
    """Check the archive, its items and the target tables; write nothing.

    ``tables`` maps "slips"/"balances" to DynamoDB table names.
    """
    check_mode(reader, replace=request.replace)
    chosen: list[TableName] = list(dict.fromkeys(request.only or TABLES))
    as_user = None if request.as_user is None else check_as_user(request.as_user)
    period = archive_period(reader)
    counts = reader.verify(chosen, as_user=as_user)
    targets = {table: tables[table] for table in chosen}
    check_tables(dynamodb, targets)
    owner = as_user or reader.manifest.user_sub
    return [
        TablePlan(
            table=table,
            target=targets[table],
            items=counts[table],
            owner=owner,
            period=period,
            as_user=as_user,
        )
        for table in chosen
    ]


def archive_period(reader: ArchiveReader) -> DateRange:
    """Return the period the archive's manifest names; refuse one that is not two dates."""
    manifest = reader.manifest
    try:
        return DateRange(
            date.fromisoformat(manifest.range_start), date.fromisoformat(manifest.range_end)
        )
    except (ValueError, ExportError):
        raise NotAnArchive(
            N_("the archive's period (%(start)s to %(end)s) is not a range of dates"),
            start=manifest.range_start,
            end=manifest.range_end,
        ) from None


def _pairs(
    dynamodb: DynamoDBClient, reader: ArchiveReader, plan: TablePlan
) -> Iterator[tuple[Any, Any, Any]]:
    low, high = plan.bounds
    current = (
        item for page in iter_pages(dynamodb, plan.target, plan.owner, plan.period) for item in page
    )
    archived = reader.iter_items(plan.table, as_user=plan.as_user)
    return pair(archived, current, low=low, high=high, file=data_file(plan.table, "json"))


def preview_table(dynamodb: DynamoDBClient, reader: ArchiveReader, plan: TablePlan) -> TableDiff:
    """Compare one planned table with the archive; write nothing."""
    diff = TableDiff(shown=SPECS[plan.table].shown)
    try:
        for kind, archived, now in _pairs(dynamodb, reader, plan):
            count(diff, kind, archived, now)
    except ExportError as exc:  # the table could not be read
        raise AccountBookUnavailable(exc.message, **exc.fields) from exc
    return diff


def preview(
    reader: ArchiveReader,
    request: RestoreRequest,
    *,
    dynamodb: DynamoDBClient,
    tables: Mapping[TableName, str],
) -> list[tuple[TablePlan, TableDiff]]:
    """Verify the archive and compare each table with it; write nothing."""
    plans = plan_restore(reader, request, dynamodb=dynamodb, tables=tables)
    return [(plan, preview_table(dynamodb, reader, plan)) for plan in plans]


#: What a restore calls as it writes one table: ``writing(plan, what it will do)``
#: returns a context in which the table is written, giving a progress callback
#: (requests sent) or None.
Writing = Callable[["TablePlan", "TableRestore"], AbstractContextManager[Progress | None]]


@dataclass
class Restored(Generic[S]):
    """What a restore did: per table, and the snapshot taken before it wrote."""

    period: DateRange
    tables: dict[TableName, TableRestore]
    snapshot: S | None = None


def restore_archive(
    reader: ArchiveReader,
    request: RestoreRequest,
    *,
    dynamodb: DynamoDBClient,
    tables: Mapping[TableName, str],
    snapshot: Callable[[DateRange], S] | None = None,
    planned: Callable[[TablePlan, TableRestore], None] | None = None,
    writing: Writing | None = None,
    expected: StateCheck | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Restored[S]:
    """Verify, plan, snapshot, write: restore the archive into ``tables``.

    ``planned(plan, counts)`` is told each table's plan before anything is written.
    ``expected`` (``same_states`` or ``same_code``) is given each table's state as it
    is now and raises ``StateChanged``, so nothing is written, if it is no longer
    what the preview saw. ``snapshot(period)`` runs once, after every table is planned and
    before the first write, and only if something is to be written; ``writing`` wraps
    the writing of each table (see ``Writing``).
    """
    plans = plan_restore(reader, request, dynamodb=dynamodb, tables=tables)
    period = archive_period(reader)
    with ExitStack() as spools:
        prepared = [
            (plan, *_prepare(dynamodb, reader, plan, request.replace, spools)) for plan in plans
        ]
        if expected is not None:
            expected({plan.table: result.state.to_dict() for plan, result, _ in prepared})
        if planned is not None:
            for plan, result, _ in prepared:
                planned(plan, result)
        writes = any(result.written or result.deleted for _, result, _ in prepared)
        taken = snapshot(period) if snapshot is not None and writes else None
        for plan, result, spool in prepared:
            with (writing or _quietly)(plan, result) as progress:
                batch_write(dynamodb, plan.target, _unspool(spool), progress=progress, sleep=sleep)
    return Restored(period, {plan.table: result for plan, result, _ in prepared}, taken)


def _prepare(
    dynamodb: DynamoDBClient,
    reader: ArchiveReader,
    plan: TablePlan,
    replace: bool,
    spools: ExitStack,
) -> tuple[TableRestore, IO[bytes]]:
    """Compare one table with the archive and spool the requests a restore sends.

    The requests are worked out from the whole comparison before any is sent:
    writing while the table's pages are still being read could make an item just
    put back look like one the archive lacks.
    """
    check_mode(reader, replace=replace)
    result = TableRestore(shown=SPECS[plan.table].shown)
    spool = spools.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 (the stack closes it)
    try:
        for kind, archived, now in _pairs(dynamodb, reader, plan):
            count(result, kind, archived, now)
            if kind in ("new", "changed"):
                pickle.dump(put_request(archived), spool)
                result.written += 1
            elif kind == "extra" and replace:
                pickle.dump(delete_request(now), spool)
                result.deleted += 1
    except ExportError as exc:  # the table could not be read
        raise AccountBookUnavailable(exc.message, **exc.fields) from exc
    spool.seek(0)
    return result, spool


@contextmanager
def _quietly(plan: TablePlan, result: TableRestore) -> Iterator[Progress | None]:
    yield None


def _unspool(spool: IO[bytes]) -> Iterator[dict[str, Any]]:
    while True:
        try:
            yield pickle.load(spool)  # our own file, written just now
        except EOFError:
            return
