"""The automatic backup schedule: each user's choice and its rules (when due, when next).

A user's choice is one item of the app table (see ``apptable``). While it is
on, the item also carries ``due_shard`` (one constant) and ``next_run`` (a
date): together they are the key of a sparse index, so the dispatcher finds who
is due with one Query of that index (``next_run <= today``) and never reads
anyone's data or every user's record.

``next_run`` moves only when a backup succeeds (a week, or to the same day of the
next month, clamped to its end); after a failure it stays, so the next day's
dispatch tries again. The page shows when the next one runs (``next_run_at``):
at the dispatch of its day, 03:00 in the display time zone.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from botocore.exceptions import BotoCoreError, ClientError

from ..apptable import BACKUP_CHOICE_SK, DUE_INDEX, DUE_SHARD, Key, UserItems, backup_choice_key
from ..aws import error_code
from ..errors import N_, UserError
from ..model import PARTITION_KEY
from .job import _plain as plain

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: When the schedule runs each day, in the display time zone (serverless.yml's cron).
DISPATCH_TIME = time(3, 0)
Frequency = Literal["off", "weekly", "monthly"]
FREQUENCIES: tuple[Frequency, ...] = ("off", "weekly", "monthly")


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
    #: The day it was turned on (the start of the first wait for a backup).
    since: date | None = None
    #: The outcome of the last backup that succeeded (``last`` may be a failure since).
    last_success: dict[str, Any] = field(default_factory=dict)
    #: The trouble the user was last mailed about (see ``alert``): one mail per streak.
    alerted: str | None = None

    @property
    def on(self) -> bool:
        return self.frequency != "off"


def following_run(frequency: Frequency, done: date, anchor_day: int) -> date:
    """Return the day after ``done`` that the next backup is due."""
    if frequency == "weekly":
        return done + timedelta(days=7)
    year, month = (done.year + 1, 1) if done.month == 12 else (done.year, done.month + 1)
    return date(year, month, min(anchor_day, calendar.monthrange(year, month)[1]))


def local_day(moment: datetime, timezone: Any) -> date:
    """Return the date in ``timezone`` at ``moment`` (the dispatcher's "today")."""
    return moment.astimezone(timezone).date()


def next_run_at(prefs: BackupPrefs, now: datetime, timezone: str) -> datetime | None:
    """Return when the next automatic backup should be made (the dispatch of its day)."""
    if not prefs.on or prefs.next_run is None:
        return None
    zone = ZoneInfo(timezone)
    local_now = now.astimezone(zone)
    day: date = max(prefs.next_run, local_now.date())
    moment = datetime.combine(day, DISPATCH_TIME, zone)
    if moment <= local_now:
        moment = datetime.combine(day + timedelta(days=1), DISPATCH_TIME, zone)
    return moment.astimezone(UTC)


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

    @staticmethod
    def prefs_in(items: UserItems) -> BackupPrefs:
        """Return the user's choice from their partition, read as a whole (one ``Query``)."""
        item = items.get(BACKUP_CHOICE_SK)
        return _prefs(item) if item else BackupPrefs(user_id=items.user_id)

    def choose(
        self, user_id: str, frequency: Frequency, *, today: date, email: str | None
    ) -> BackupPrefs:
        """Turn the automatic backup on (first run at the next dispatch) or off."""
        if frequency not in FREQUENCIES:
            raise ValueError(f"not a frequency: {frequency!r}")
        names = {"#f": "frequency"}
        values: dict[str, Any] = {":f": {"S": frequency}}
        if frequency == "off":
            update = "SET #f = :f REMOVE due_shard, next_run, since, alerted"
        else:
            # Already on: keep the day it is due; newly on: due today.
            update = (
                "SET #f = :f, due_shard = :shard, anchor_day = if_not_exists(anchor_day, :day), "
                "next_run = if_not_exists(next_run, :today), since = if_not_exists(since, :today)"
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
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(user_id),
                UpdateExpression="SET last_job = :job",
                ExpressionAttributeValues={":job": {"S": job_id}},
            )
        except (ClientError, BotoCoreError) as exc:
            raise BackupError(N_("Your backup setting could not be saved just now.")) from exc

    def record(self, user_id: str, outcome: dict[str, Any], *, next_run: date | None) -> None:
        """Store the last backup's outcome; move ``next_run`` on after a success.

        A success is also kept as ``last_success`` and ends the streak of trouble
        the user was mailed about (``alerted``).
        """
        update = "SET #last = :last"
        if outcome.get("state") == "done":
            update += ", last_success = :last"
        values: dict[str, Any] = {":last": {"M": _typed_map(outcome)}}
        request: dict[str, Any] = {
            "TableName": self.table,
            "Key": self._key(user_id),
            "ExpressionAttributeNames": {"#last": "last"},
            "ExpressionAttributeValues": values,
        }
        after = " REMOVE alerted" if outcome.get("state") == "done" else ""
        if next_run is not None:
            # Only while still on: a user who turned it off meanwhile stays off.
            values[":next"] = {"S": next_run.isoformat()}
            request["UpdateExpression"] = update + ", next_run = :next" + after
            request["ConditionExpression"] = "attribute_exists(due_shard)"
            try:
                self.dynamodb.update_item(**request)
                return
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
            del request["ConditionExpression"], values[":next"]
        request["UpdateExpression"] = update + after
        self.dynamodb.update_item(**request)

    def alert(self, user_id: str, streak: str) -> bool:
        """Note that the user is told of the trouble that began at ``streak``; False if told.

        One conditional write: whichever of the worker (a failure) and the dispatcher
        (overdue) comes first mails; the other, and every later day, finds it noted.
        """
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(user_id),
                UpdateExpression="SET alerted = :streak",
                ConditionExpression="attribute_not_exists(alerted) OR alerted <> :streak",
                ExpressionAttributeValues={":streak": {"S": streak}},
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

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
        since=date.fromisoformat(since) if (since := item.get("since", {}).get("S")) else None,
        last_success=_plain_map(item.get("last_success", {}).get("M", {})),
        alerted=item.get("alerted", {}).get("S"),
    )


def _typed_map(values: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {k: serializer.serialize(v) for k, v in values.items() if v is not None}


def _plain_map(typed: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {k: plain(deserializer.deserialize(v)) for k, v in typed.items()}
