"""A user's job quota, counted before anything is started: unfinished jobs and the day's starts.

Reading the user's jobs and then creating one would let a burst through: six
parallel exports all read "none running" and all start. So a new job is first
counted into one item of the app table (``apptable``: ``sub`` / ``quota``) with
one conditional update: its id joins ``active`` and, for kinds that count, an
entry joins ``started``, only while each set is below its limit. DynamoDB
applies the condition and the write together, so a burst of N gets exactly the
limit. A job that could not be started is taken out again (``release``).

The sets are a count, not the truth: nobody takes a job out when it finishes.
When the condition refuses, the job records decide: ids of jobs that have
finished (or that no record names, once a record would long have been written)
and starts older than the rolling day are deleted from the sets, and the update
is tried once more. The update also adds every job the records show as
unfinished (or started today), so a quota item that is missing or behind (one
older than this module, or a backup the dispatcher started) catches up with the
records; and the records are checked first, which the condition cannot do for
what the item does not hold yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..apptable import TTL_ATTRIBUTE, quota_key
from ..aws import error_code
from ..errors import N_
from .job import Job, JobError, State

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: The rolling day the daily quota counts over.
QUOTA_WINDOW = timedelta(hours=24)
#: How long a counted id may go without a job record before it counts as never started.
RECORD_GRACE = timedelta(minutes=5)
NOT_COUNTED = N_("The export could not be started just now. Try again.")


class TooManyJobs(Exception):
    """The user already has as many unfinished jobs as one may (or started as many today).

    ``retry_in`` is set for the daily quota: how long until the oldest counted
    start leaves the 24 hours.
    """

    def __init__(self, limit: int, retry_in: timedelta | None = None) -> None:
        super().__init__(limit)
        self.limit = limit
        self.retry_in = retry_in


@dataclass(frozen=True)
class _Counted:
    """What the quota item held when the condition refused."""

    active: frozenset[str]
    started: frozenset[str]


_NONE = _Counted(frozenset(), frozenset())


def started_entry(job: Job) -> str:
    """Return a start's entry in ``started``: when (ISO, UTC, sortable), then which job."""
    return f"{job.created_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}#{job.id}"


def _entry_time(entry: str) -> datetime:
    return datetime.strptime(entry.partition("#")[0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _id_time(job_id: str) -> datetime | None:
    try:
        return datetime.strptime(job_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _never_queued(job: Job) -> bool:
    """Return whether a record is of a job the queue refused (``submit`` gave its start back)."""
    return job.state is State.FAILED and job.attempt == 0


class JobQuota:
    """The users' quota items; ``reserve`` counts a job in before it is started."""

    def __init__(
        self, dynamodb: DynamoDBClient, table: str, *, max_active: int, per_day: int
    ) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.max_active = max_active
        self.per_day = per_day

    def reserve(
        self,
        job: Job,
        *,
        records: list[Job],
        counts: Callable[[Job], bool],
        now: datetime,
        stale_after: timedelta,
    ) -> None:
        """Count ``job`` in, or raise TooManyJobs (nothing counted then).

        ``records`` are the user's job records, read just now; ``counts`` says
        whether a job's kind counts towards the daily quota.
        """
        counted = counts(job)
        # As the user sees them: a job whose worker died (or never came) is over.
        seen = [old.seen_at(now, stale_after=stale_after) for old in records]
        active = {old.id for old in seen if old.unfinished}
        started = {
            started_entry(old)
            for old in records
            if counts(old) and old.created_at > now - QUOTA_WINDOW and not _never_queued(old)
        }
        # The records first: they are the truth, and the condition below cannot see
        # what an item that is missing (or behind them) leaves out.
        if len(active) >= self.max_active or (counted and len(started) >= self.per_day):
            raise self._too_many(_Counted(frozenset(active), frozenset(started)), _NONE, now)
        active.add(job.id)
        started.add(started_entry(job))
        for last in (False, True):
            refused = self._add(job, active, started, counted, now)
            if refused is None:
                return
            stale = self._stale(refused, seen, now)
            if last or not (stale.active or stale.started):
                raise self._too_many(refused, stale, now)
            self._remove(job.user_id, stale)

    def release(self, job: Job) -> None:
        """Take a job that was never started out of the counts again (best effort)."""
        self._remove(job.user_id, _Counted(frozenset({job.id}), frozenset({started_entry(job)})))

    def _add(
        self, job: Job, active: set[str], started: set[str], counted: bool, now: datetime
    ) -> _Counted | None:
        """Add to the sets while each is below its limit; return what refused, or None."""
        update = "ADD active :active SET #ttl = :ttl"
        condition = "(attribute_not_exists(active) OR size(active) < :max_active)"
        values: dict[str, Any] = {
            ":active": {"SS": sorted(active)},
            ":max_active": {"N": str(self.max_active)},
            # Only starts need remembering beyond the records: a missing item catches up.
            ":ttl": {"N": str(int((now + QUOTA_WINDOW + timedelta(hours=1)).timestamp()))},
        }
        if counted:
            update = "ADD active :active, started :started SET #ttl = :ttl"
            condition += " AND (attribute_not_exists(started) OR size(started) < :per_day)"
            values[":started"] = {"SS": sorted(started)}
            values[":per_day"] = {"N": str(self.per_day)}
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=quota_key(job.user_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise JobError(NOT_COUNTED) from exc
            # With ReturnValuesOnConditionCheckFailure, the item as the condition saw it.
            item: dict[str, Any] = getattr(exc, "response", {}).get("Item", {})
            return _Counted(
                frozenset(item.get("active", {}).get("SS", [])),
                frozenset(item.get("started", {}).get("SS", [])),
            )
        return None

    def _stale(self, counted: _Counted, seen: list[Job], now: datetime) -> _Counted:
        """Return what the sets hold that the job records say is over."""
        unfinished = {job.id for job in seen if job.unfinished}
        recorded = {job.id for job in seen}
        gone = set()
        for job_id in counted.active - unfinished:
            made = _id_time(job_id)
            # Counted just now by a request that has not written its record yet: keep it.
            if job_id in recorded or made is None or made < now - RECORD_GRACE:
                gone.add(job_id)
        old = {entry for entry in counted.started if _entry_time(entry) <= now - QUOTA_WINDOW}
        return _Counted(frozenset(gone), frozenset(old))

    def _too_many(self, counted: _Counted, stale: _Counted, now: datetime) -> TooManyJobs:
        if len(counted.active - stale.active) >= self.max_active:
            return TooManyJobs(self.max_active)
        today = sorted(_entry_time(entry) for entry in counted.started - stale.started)
        if len(today) < self.per_day:  # the sets changed between the two reads
            return TooManyJobs(self.per_day, retry_in=timedelta(minutes=1))
        return TooManyJobs(self.per_day, retry_in=today[-self.per_day] + QUOTA_WINDOW - now)

    def _remove(self, user_id: str, stale: _Counted) -> None:
        parts, values = [], {}
        if stale.active:
            parts.append("active :active")
            values[":active"] = {"SS": sorted(stale.active)}
        if stale.started:
            parts.append("started :started")
            values[":started"] = {"SS": sorted(stale.started)}
        if not parts:
            return
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=quota_key(user_id),
                UpdateExpression="DELETE " + ", ".join(parts),
                ExpressionAttributeValues=values,
            )
        except (ClientError, BotoCoreError) as exc:
            raise JobError(NOT_COUNTED) from exc
