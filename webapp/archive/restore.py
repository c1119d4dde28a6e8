"""Restore an archive into the tables: verify everything first, then write.

Pure Python over boto3's low-level DynamoDB client, no Flask. Nothing is
written until the whole archive has been checked (see ``reader``) and the
target tables too. Writing is PutRequest of the archived items, so running a
restore twice leaves the same data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..model import TABLES, TableName
from .decode import MAX_PARTITION_KEY_BYTES
from .dynamo import Progress, check_tables, put_items
from .errors import RestoreError, WriteError
from .ids import user_prefix
from .reader import ArchiveReader, open_archive

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "RestoreError",
    "TablePlan",
    "WriteError",
    "check_as_user",
    "open_archive",
    "plan_restore",
    "restore_archive",
    "write_table",
]


def check_as_user(sub: str) -> str:
    """Return ``sub`` if it can be a partition key and an S3 folder, else refuse."""
    try:
        user_prefix(sub)
    except ValueError as exc:
        raise RestoreError(f"--as-user: {exc}") from None
    if sub.strip() != sub or len(sub.encode("utf-8")) > MAX_PARTITION_KEY_BYTES:
        raise RestoreError("--as-user: not a usable user id (surrounding spaces or too long)")
    return sub


@dataclass(frozen=True)
class TablePlan:
    """One verified table, ready to write: where to, how many items, as whom."""

    table: TableName
    target: str
    items: int
    as_user: str | None = None


def plan_restore(
    *,
    dynamodb: DynamoDBClient,
    archive: ArchiveReader,
    tables: Mapping[TableName, str],
    only: Sequence[TableName] | None = None,
    as_user: str | None = None,
) -> list[TablePlan]:
    """Check the archive, its items and the target tables; write nothing.

    ``tables`` maps "slips"/"balances" to DynamoDB table names; ``only`` limits
    the restore to some tables; ``as_user`` moves the items to another user.
    """
    chosen: list[TableName] = list(dict.fromkeys(only or TABLES))
    if as_user is not None:
        as_user = check_as_user(as_user)
    counts = archive.verify(chosen, as_user=as_user)
    targets = {table: tables[table] for table in chosen}
    check_tables(dynamodb, targets)
    return [
        TablePlan(table=table, target=targets[table], items=counts[table], as_user=as_user)
        for table in chosen
    ]


def write_table(
    dynamodb: DynamoDBClient,
    archive: ArchiveReader,
    plan: TablePlan,
    *,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Write one planned table's items; return how many were written."""
    items = archive.iter_items(plan.table, as_user=plan.as_user)
    return put_items(dynamodb, plan.target, items, progress=progress, sleep=sleep)


def restore_archive(
    *,
    dynamodb: DynamoDBClient,
    archive: ArchiveReader,
    tables: Mapping[TableName, str],
    only: Sequence[TableName] | None = None,
    as_user: str | None = None,
) -> dict[TableName, int]:
    """Verify everything, then write every planned table; return items written per table."""
    plans = plan_restore(
        dynamodb=dynamodb, archive=archive, tables=tables, only=only, as_user=as_user
    )
    return {plan.table: write_table(dynamodb, archive, plan) for plan in plans}
