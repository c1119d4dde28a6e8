"""Rebuild every user's book after a table loss: their latest backup plus the changes since.

The operator's procedure (``flask --app webapp rebuild``): for each user with an
automatic backup, read the newest one (verified and signed like any restore),
take the changes recorded since it began (``changes.moment.rebuild``), and write
each item the tables do not hold as rebuilt. Nothing is deleted: an item only in
the table now is kept and counted. A user is skipped, and says why, when they
have no backup or the log has a gap after their backup (a rebuild needs every
change since). ``dry_run`` counts and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .archive.dates import EVERYTHING
from .archive.dynamo import batch_write, iter_pages, put_request
from .archive.errors import RestoreError
from .archive.ids import BACKUP_PREFIX
from .archive.state import canonical
from .changes.moment import Book, book_of, rebuild, window
from .changes.store import utc_ms
from .jobs.sources import RestoreSource, opened
from .model import TABLES, TableName

if TYPE_CHECKING:
    from .services import Services


@dataclass
class UserRebuild:
    """What the rebuild did (or would do) for one user."""

    user: str
    backup: str = ""
    #: Why the user was skipped ("" when rebuilt).
    skipped: str = ""
    written: dict[TableName, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    unchanged: dict[TableName, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    kept: dict[TableName, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    changes: int = 0


def owners(services: Services) -> list[str]:
    """Return every user with an automatic backup or recorded changes."""
    found = set(services.changes.users())
    paginator = services.clients.s3.get_paginator("list_objects_v2")
    bucket = services.settings.export_bucket
    for page in paginator.paginate(Bucket=bucket, Prefix=BACKUP_PREFIX, Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            found.add(common["Prefix"][len(BACKUP_PREFIX) :].rstrip("/"))
    return sorted(user for user in found if user)


def rebuild_user(services: Services, user: str, *, dry_run: bool) -> UserRebuild:
    """Rebuild one user's book from their newest backup and the changes since."""
    done = UserRebuild(user)
    backups = services.backups.list(user)
    if not backups:
        done.skipped = "no automatic backup"
        return done
    newest = backups[0]
    done.backup = str(newest.id)
    since_ms = utc_ms(newest.id.created)
    offered = window(services.changes, services.now(), services.settings.changes_retention_days)
    if offered.start_ms is None or offered.start_ms > since_ms:
        done.skipped = "the change log is not complete since the backup (a gap, or too old)"
        return done
    try:
        with opened(services, user, RestoreSource("backup", str(newest.id))) as (reader, _):
            reader.verify(list(TABLES))
            snapshot = book_of({table: list(reader.iter_items(table)) for table in TABLES})
    except RestoreError as exc:
        done.skipped = f"the backup cannot be read: {exc}"
        return done
    changes = services.changes.changes(user, after_ms=since_ms)
    done.changes = len(changes)
    rebuilt = rebuild(snapshot, changes, after_ms=since_ms)
    for table in TABLES:
        _write_table(services, done, table, rebuilt, dry_run=dry_run)
    return done


def _write_table(
    services: Services, done: UserRebuild, table: TableName, rebuilt: Book, *, dry_run: bool
) -> None:
    name = services.settings.data_tables[table]
    current = {
        item["sk"]["S"]: item
        for page in iter_pages(services.clients.dynamodb, name, done.user, EVERYTHING)
        for item in page
    }
    wanted = {sk: item for (t, sk), item in rebuilt.items() if t == table}
    puts = [
        item
        for sk, item in sorted(wanted.items())
        if sk not in current or canonical(current[sk]) != canonical(item)
    ]
    done.written[table] = len(puts)
    done.unchanged[table] = len(wanted) - len(puts)
    done.kept[table] = len(set(current) - set(wanted))
    if puts and not dry_run:
        batch_write(services.clients.dynamodb, name, (put_request(item) for item in puts))


def rebuild_all(
    services: Services, *, dry_run: bool, only: str | None = None
) -> Iterator[UserRebuild]:
    """Rebuild every user's book (or one user's), one at a time."""
    for user in [only] if only else owners(services):
        yield rebuild_user(services, user, dry_run=dry_run)
