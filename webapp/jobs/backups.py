"""Automatic backups: each user's choice, who is due, the daily dispatch, what is kept.

A user's choice is one item of the app table (``user_id`` + ``sk = "backup"``).
While it is on, the item also carries ``due_shard`` (one constant) and
``next_run`` (a date): together they are the key of a sparse index, so the
dispatcher finds who is due with one Query of that index (``next_run <= today``)
and never reads anyone's data or every user's record.

``next_run`` moves only when a backup succeeds (a week, or to the same day of the
next month, clamped to its end); after a failure it stays, so the next day's
dispatch tries again. The job of one user's backup of one day has an id made of
that day, so a dispatch run twice queues nothing more.

Why this long: the choice, the dispatch that reads it and the job that updates
it share one record and its rules (when due, when moved on); apart, each half
would restate the other's.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from ..apptable import DUE_INDEX, DUE_SHARD, Key, backup_choice_key
from ..archive.bucket import ArchiveBucket, StorageError
from ..archive.dates import EVERYTHING
from ..archive.export import Exporter, ExportRequest
from ..archive.ids import BACKUP_PREFIX
from ..archive.signing import SigningKey
from ..aws import error_code
from ..errors import N_, Stopped, UserError
from ..model import PARTITION_KEY, TableName
from .queue import JobMessage, JobQueue
from .records import Job, JobExists, JobStopped, State, iso
from .records import _plain as plain
from .runner import Reporter, fail_job
from .store import JobStore
from .vocabulary import VocabularyStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

BACKUP = "backup"
Frequency = Literal["off", "weekly", "monthly"]
FREQUENCIES: tuple[Frequency, ...] = ("off", "weekly", "monthly")
#: Automatic archives kept per user; older ones go after each successful backup.
KEEP = 12


class BackupError(UserError):
    """The backup setting could not be read or saved."""


@dataclass(frozen=True)
class BackupPrefs:
    """One user's automatic backup: how often, when next, how the last one went."""

    user_id: str
    frequency: Frequency = "off"
    next_run: date | None = None
    #: The day of the month a monthly backup keeps to (the day it was turned on).
    anchor_day: int = 1
    email: str | None = None
    last: dict[str, Any] = field(default_factory=dict)
    last_job: str | None = None

    @property
    def on(self) -> bool:
        return self.frequency != "off"


def following_run(frequency: Frequency, done: date, anchor_day: int) -> date:
    """Return the day after ``done`` that the next backup is due."""
    if frequency == "weekly":
        return done + timedelta(days=7)
    year, month = (done.year + 1, 1) if done.month == 12 else (done.year, done.month + 1)
    return date(year, month, min(anchor_day, calendar.monthrange(year, month)[1]))


def backup_job_id(day: date) -> str:
    """Return the id of a user's automatic backup job of ``day`` (sorts with the others)."""
    return f"{day:%Y%m%d}T000000Z-backup"


def local_day(moment: datetime, timezone: Any) -> date:
    """Return the date in ``timezone`` at ``moment`` (the dispatcher's "today")."""
    return moment.astimezone(timezone).date()


class BackupPrefsStore:
    """The users' backup choices in the app table."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    def get(self, user_id: str) -> BackupPrefs:
        """Return the user's choice (off if never set)."""
        try:
            item = self.dynamodb.get_item(
                TableName=self.table,
                Key=self._key(user_id),
                ConsistentRead=True,
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise BackupError(N_("Your backup setting could not be read just now.")) from exc
        return _prefs(item) if item else BackupPrefs(user_id=user_id)

    def choose(
        self, user_id: str, frequency: Frequency, *, today: date, email: str | None
    ) -> BackupPrefs:
        """Turn the automatic backup on (first run at the next dispatch) or off."""
        if frequency not in FREQUENCIES:
            raise ValueError(f"not a frequency: {frequency!r}")
        names = {"#f": "frequency"}
        values: dict[str, Any] = {":f": {"S": frequency}}
        if frequency == "off":
            update = "SET #f = :f REMOVE due_shard, next_run"
        else:
            # Already on: keep the day it is due; newly on: due today.
            update = (
                "SET #f = :f, due_shard = :shard, anchor_day = if_not_exists(anchor_day, :day), "
                "next_run = if_not_exists(next_run, :today)"
            )
            values.update(
                {
                    ":shard": {"S": DUE_SHARD},
                    ":day": {"N": str(today.day)},
                    ":today": {"S": today.isoformat()},
                }
            )
            if email:
                update += ", email = :email"
                values[":email"] = {"S": email}
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(user_id),
                UpdateExpression=update,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except (ClientError, BotoCoreError) as exc:
            raise BackupError(N_("Your backup setting could not be saved just now.")) from exc
        if frequency == "off":
            # Off forgets the anchor too, so turning it on again starts afresh.
            self._remove_anchor(user_id)
        return self.get(user_id)

    def due(self, today: date) -> Iterator[BackupPrefs]:
        """Yield the choices due on or before ``today``, from the sparse index alone."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": DUE_INDEX,
            "KeyConditionExpression": "due_shard = :shard AND next_run <= :today",
            "ExpressionAttributeValues": {
                ":shard": {"S": DUE_SHARD},
                ":today": {"S": today.isoformat()},
            },
        }
        while True:
            page = self.dynamodb.query(**request)
            for item in page.get("Items", []):
                yield _prefs(item)
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def dispatched(self, user_id: str, job_id: str) -> None:
        """Remember the job queued for the user's backup."""
        self.dynamodb.update_item(
            TableName=self.table,
            Key=self._key(user_id),
            UpdateExpression="SET last_job = :job",
            ExpressionAttributeValues={":job": {"S": job_id}},
        )

    def record(self, user_id: str, outcome: dict[str, Any], *, next_run: date | None) -> None:
        """Store the last backup's outcome; move ``next_run`` on after a success."""
        update = "SET #last = :last"
        values: dict[str, Any] = {":last": {"M": _typed_map(outcome)}}
        condition = None
        if next_run is not None:
            # Only while still on: a user who turned it off meanwhile stays off.
            update += ", next_run = :next"
            values[":next"] = {"S": next_run.isoformat()}
            condition = "attribute_exists(due_shard)"
        request: dict[str, Any] = {
            "TableName": self.table,
            "Key": self._key(user_id),
            "UpdateExpression": update,
            "ExpressionAttributeNames": {"#last": "last"},
            "ExpressionAttributeValues": values,
        }
        if condition:
            request["ConditionExpression"] = condition
        try:
            self.dynamodb.update_item(**request)
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            del request["ConditionExpression"]
            request["UpdateExpression"] = "SET #last = :last"
            del values[":next"]
            self.dynamodb.update_item(**request)

    def _remove_anchor(self, user_id: str) -> None:
        self.dynamodb.update_item(
            TableName=self.table, Key=self._key(user_id), UpdateExpression="REMOVE anchor_day"
        )

    @staticmethod
    def _key(user_id: str) -> Key:
        return backup_choice_key(user_id)


def _prefs(item: dict[str, Any]) -> BackupPrefs:
    frequency = item.get("frequency", {}).get("S", "off")
    next_run = item.get("next_run", {}).get("S")
    return BackupPrefs(
        user_id=item[PARTITION_KEY]["S"],
        frequency=frequency if frequency in FREQUENCIES else "off",
        next_run=date.fromisoformat(next_run) if next_run else None,
        anchor_day=int(item.get("anchor_day", {}).get("N", "1")),
        email=item.get("email", {}).get("S"),
        last=_plain_map(item.get("last", {}).get("M", {})),
        last_job=item.get("last_job", {}).get("S"),
    )


def _typed_map(values: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {k: serializer.serialize(v) for k, v in values.items() if v is not None}


def _plain_map(typed: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {k: plain(deserializer.deserialize(v)) for k, v in typed.items()}


@dataclass
class Dispatch:
    """What one run of the dispatcher did."""

    queued: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def dispatch(
    today: date,
    *,
    prefs: BackupPrefsStore,
    jobs: JobStore,
    queue: JobQueue,
    now: datetime | None = None,
) -> Dispatch:
    """Queue one backup job for every user due on ``today``; idempotent for a day."""
    now = now or datetime.now(UTC)
    done = Dispatch()
    for choice in prefs.due(today):
        if choice.last_job and choice.last_job != backup_job_id(today):
            previous = jobs.get(choice.user_id, choice.last_job)
            if previous is not None and previous.unfinished:
                done.skipped.append(choice.user_id)  # yesterday's is still going
                continue
        job = Job(
            user_id=choice.user_id,
            id=backup_job_id(today),
            kind=BACKUP,
            state=State.QUEUED,
            created_at=now,
            params={"day": today.isoformat(), "frequency": choice.frequency},
            progress={"slips": 0, "balances": 0},
        )
        try:
            jobs.create(job)
        except JobExists:
            done.skipped.append(choice.user_id)  # already dispatched today
            continue
        queue.send(JobMessage(user_id=job.user_id, job_id=job.id))
        prefs.dispatched(job.user_id, job.id)
        done.queued.append(job.user_id)
    return done


def _notify(
    notify: Callable[[str, dict[str, Any]], None] | None,
    prefs: BackupPrefsStore,
    user_id: str,
    outcome: dict[str, Any],
    email: str | None = None,
) -> None:
    if notify is None:
        return
    address = email or prefs.get(user_id).email
    if address:
        notify(address, outcome)


def run_backup(
    job: Job,
    *,
    store: JobStore,
    prefs: BackupPrefsStore,
    dynamodb: DynamoDBClient,
    s3: S3Client,
    bucket: str,
    tables: Mapping[TableName, str],
    reporter: Reporter,
    signing_key: SigningKey,
    keep: int = KEEP,
    notify: Callable[[str, dict[str, Any]], None] | None = None,
    display_timezone: str = "UTC",
) -> None:
    """Back up the user's whole partition under ``backups/``; keep the newest ``keep``.

    ``notify(email, outcome)`` is called after the backup (made or failed) when
    the user's choice holds an address.
    """
    day = date.fromisoformat(str(job.params.get("day")))
    try:
        exporter = Exporter(dynamodb, tables, s3, bucket, signing_key=signing_key)
        request = ExportRequest(
            job.user_id, EVERYTHING, prefix=BACKUP_PREFIX, display_timezone=display_timezone
        )
        result = exporter.export(request, progress=reporter, before_finish=reporter.write)
    except Stopped:
        logger.info("backup %s stopped (cancelled)", job.id)
        return
    except UserError as exc:
        fail_job(store, job, exc, reporter)
        prefs.record(
            job.user_id,
            {
                "at": iso(reporter.now()),
                "state": "failed",
                "error": exc.message,
                "error_fields": {k: str(v) for k, v in exc.fields.items()},
            },
            next_run=None,
        )
        _notify(notify, prefs, job.user_id, {"state": "failed", "message": str(exc)})
        return
    outcome = {
        "archive_id": str(result.archive_id),
        "key": result.key,
        "size": result.size,
        "counts": dict(result.counts),
    }
    # A backup reads everything: the fullest view of the accounts and categories.
    VocabularyStore(store.dynamodb, store.table).add(job.user_id, result.seen)
    try:
        counts = {str(table): count for table, count in result.counts.items()}
        store.finish(job, outcome, counts, reporter.now())
    except JobStopped:
        s3.delete_object(Bucket=bucket, Key=result.key)
        return
    choice = prefs.get(job.user_id)
    following = following_run(choice.frequency, day, choice.anchor_day) if choice.on else None
    prefs.record(
        job.user_id,
        {"at": iso(reporter.now()), "state": "done", **outcome},
        next_run=following,
    )
    _notify(notify, prefs, job.user_id, {"state": "done", **outcome}, choice.email)
    try:
        removed = ArchiveBucket(s3, bucket, retention_days=0, prefix=BACKUP_PREFIX).prune(
            job.user_id, keep=keep
        )
    except StorageError:
        logger.warning("backup %s: older automatic backups not pruned", job.id, exc_info=True)
        return
    if removed:
        logger.info("backup %s: %d older automatic backups deleted", job.id, len(removed))
