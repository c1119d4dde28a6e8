"""The job records in the app's table, changed only by conditional writes.

Every write names the state (and, for the worker, the attempt) it expects, so a
redelivered message, a superseded worker or a cancel racing the worker can never
move a job backwards or finish it twice.

Why this long: every write of a job record, the web's (create, cancel, consume a
preview, dismiss) and the worker's (claim, report, finish, fail), is a
conditional update naming the state it expects; side by side one sees that no
two of them can race.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from ..apptable import JOB_PREFIX, TTL_ATTRIBUTE, Key, job_key
from ..aws import error_code
from ..errors import N_, UserError
from ..model import PARTITION_KEY, SORT_KEY
from .job import (
    INTERRUPTED,
    Job,
    JobError,
    JobExists,
    JobStopped,
    State,
    from_item,
    iso,
    to_item,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_serializer = TypeSerializer()


class JobStore:
    """The jobs of every user in the app's table; every method names its user."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        *,
        retention: timedelta = timedelta(days=7),
    ) -> None:
        self.dynamodb = dynamodb
        self.table = table
        #: How long a record lives unless its kind says otherwise (``finish``'s ``lasts``).
        self.retention = retention

    # --- the web side -----------------------------------------------------------------------

    def create(self, job: Job) -> Job:
        """Store a new job; refuse to overwrite one with the same id."""
        ttl = int((job.created_at + self.retention + timedelta(days=1)).timestamp())
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item=to_item(job, ttl=ttl),
                ConditionExpression="attribute_not_exists(#sk)",
                ExpressionAttributeNames={"#sk": SORT_KEY},
            )
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise JobExists(job.id) from exc
            raise JobError(N_("The export could not be started just now. Try again.")) from exc
        return job

    def get(self, user_id: str, job_id: str) -> Job | None:
        """Return one of the user's jobs, or None."""
        try:
            item = self.dynamodb.get_item(
                TableName=self.table,
                Key=self._key(user_id, job_id),
                ConsistentRead=True,
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise JobError(N_("The job could not be read just now. Try again.")) from exc
        return from_item(item) if item else None

    def list(self, user_id: str) -> list[Job]:
        """Return the user's jobs, newest first, with one Query."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :user AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            "ExpressionAttributeValues": {":user": {"S": user_id}, ":prefix": {"S": JOB_PREFIX}},
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        jobs: list[Job] = []
        try:
            while True:
                page = self.dynamodb.query(**request)
                jobs += [from_item(item) for item in page.get("Items", [])]
                if "LastEvaluatedKey" not in page:
                    break
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise JobError(N_("Your exports in progress could not be read just now.")) from exc
        return jobs

    def cancel(self, user_id: str, job_id: str, now: datetime) -> bool:
        """Cancel a queued or running job; return False if it had already finished."""
        try:
            self._update(
                user_id,
                job_id,
                "SET #state = :cancelled, updated_at = :now, " + self._ttl_clause(),
                "#state IN (:queued, :running)",
                {
                    ":cancelled": State.CANCELLED,
                    ":queued": State.QUEUED,
                    ":running": State.RUNNING,
                    ":now": iso(now),
                    ":ttl": self._ttl(now),
                },
            )
        except _ConditionFailed:
            return False
        return True

    def consume(self, preview: Job, by: str, now: datetime) -> str | None:
        """Mark a finished preview as carried out by the restore job ``by``, once.

        Return None if it is now ``by``'s, else the id of the restore that took it
        first (one conditional write: two confirms at once cannot both take it).
        """
        try:
            self._update(
                preview.user_id,
                preview.id,
                "SET consumed_by = :by, consumed_at = :now",
                "#state = :done AND attribute_not_exists(consumed_by)",
                {":by": by, ":done": State.DONE, ":now": iso(now)},
            )
        except _ConditionFailed:
            taken = self.get(preview.user_id, preview.id)
            return (taken.consumed_by if taken else None) or ""
        return None

    def release(self, preview: Job, by: str) -> None:
        """Give a preview back when the restore that took it could not be started."""
        with contextlib.suppress(_ConditionFailed):
            self._update(
                preview.user_id, preview.id, "REMOVE consumed_by", "consumed_by = :by", {":by": by}
            )

    def dismiss(self, user_id: str, job_id: str) -> bool:
        """Put a finished job away from the page's list; False if there is no such finished job."""
        try:
            self._update(
                user_id,
                job_id,
                "SET dismissed = :yes",
                "#state IN (:done, :failed, :cancelled)",
                {
                    ":yes": True,
                    ":done": State.DONE,
                    ":failed": State.FAILED,
                    ":cancelled": State.CANCELLED,
                },
            )
        except _ConditionFailed:
            return False
        return True

    def abandon(self, job: Job, error: UserError, now: datetime) -> None:
        """Record a queued job that could not be sent to the queue as failed."""
        with contextlib.suppress(_ConditionFailed):
            self._update(
                job.user_id,
                job.id,
                "SET #state = :failed, #error = :error, error_fields = :fields, "
                "updated_at = :now, " + self._ttl_clause(),
                "#state = :queued",
                {
                    ":failed": State.FAILED,
                    ":queued": State.QUEUED,
                    ":error": error.message,
                    ":fields": {},
                    ":now": iso(now),
                    ":ttl": self._ttl(now),
                },
            )

    # --- the worker side --------------------------------------------------------------------

    def claim(self, job: Job, now: datetime) -> Job | None:
        """Start a queued job: ``running``, one more attempt; None if it is not queued."""
        return self.claim_by_id(job.user_id, job.id, now)

    def claim_by_id(self, user_id: str, job_id: str, now: datetime) -> Job | None:
        """Start the queued job ``job_id`` of ``user_id``; None if there is no such queued job."""
        try:
            attributes = self._update(
                user_id,
                job_id,
                "SET #state = :running, heartbeat_at = :now, updated_at = :now, "
                "attempt = attempt + :one",
                "#state = :queued",
                {
                    ":running": State.RUNNING,
                    ":queued": State.QUEUED,
                    ":now": iso(now),
                    ":one": 1,
                },
            )
        except _ConditionFailed:
            return None
        return from_item(attributes)

    def fail_interrupted(self, job: Job, now: datetime, *, stale_after: timedelta) -> bool:
        """Record a running job whose worker died as failed; False if it is alive or done."""
        try:
            self._update(
                job.user_id,
                job.id,
                "SET #state = :failed, #error = :error, error_fields = :fields, "
                "updated_at = :now, " + self._ttl_clause(),
                "#state = :running AND heartbeat_at < :stale",
                {
                    ":failed": State.FAILED,
                    ":running": State.RUNNING,
                    ":error": INTERRUPTED,
                    ":fields": {},
                    ":now": iso(now),
                    ":stale": iso(now - stale_after),
                    ":ttl": self._ttl(now),
                },
            )
        except _ConditionFailed:
            return False
        return True

    def report(self, job: Job, progress: Mapping[str, int], now: datetime) -> None:
        """Record progress and a heartbeat; raise JobStopped if the job is no longer ours."""
        self._as_worker(
            job,
            "SET progress = :progress, heartbeat_at = :now, updated_at = :now",
            {":progress": dict(progress), ":now": iso(now)},
        )

    def finish(
        self,
        job: Job,
        result: dict[str, Any],
        progress: Mapping[str, int],
        now: datetime,
        *,
        lasts: timedelta | None = None,
    ) -> None:
        """Record the job as done with its result; raise JobStopped if it is no longer ours.

        The record then lives ``lasts`` (the kind's lifetime; a backup's as long as its
        archive, so the list can still say what an old backup holds).
        """
        self._as_worker(
            job,
            "SET #state = :done, #result = :result, progress = :progress, updated_at = :now, "
            + self._ttl_clause(),
            {
                ":done": State.DONE,
                ":result": result,
                ":progress": dict(progress),
                ":now": iso(now),
                ":ttl": int((now + (lasts or self.retention)).timestamp()),
            },
        )

    def fail(self, job: Job, error: UserError, now: datetime) -> None:
        """Record the job as failed with a message for the user (unless it was cancelled).

        The message is the one for people; its technical detail, if it has one, is kept
        beside it (``error_detail``), filled from the same fields.
        """
        self._as_worker(
            job,
            "SET #state = :failed, #error = :error, error_detail = :detail, "
            "error_fields = :fields, updated_at = :now, " + self._ttl_clause(),
            {
                ":failed": State.FAILED,
                ":error": error.message,
                ":detail": error.detail or "",
                ":fields": {
                    k: v if isinstance(v, int) else str(v) for k, v in error.fields.items()
                },
                ":now": iso(now),
                ":ttl": self._ttl(now),
            },
        )

    # --- helpers ----------------------------------------------------------------------------

    def _as_worker(self, job: Job, update: str, values: dict[str, Any]) -> None:
        try:
            self._update(
                job.user_id,
                job.id,
                update,
                "#state = :running_now AND attempt = :attempt",
                {**values, ":running_now": State.RUNNING, ":attempt": job.attempt},
            )
        except _ConditionFailed:
            raise JobStopped(job.id) from None

    def _update(
        self, user_id: str, job_id: str, update: str, condition: str, values: dict[str, Any]
    ) -> dict[str, Any]:
        names = {"#state": "state", "#error": "error", "#result": "result", "#ttl": TTL_ATTRIBUTE}
        expressions = f"{update} {condition}"
        try:
            answer = self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(user_id, job_id),
                UpdateExpression=update,
                ConditionExpression=f"attribute_exists(#sk) AND ({condition})",
                ExpressionAttributeNames={
                    "#sk": SORT_KEY,
                    **{k: v for k, v in names.items() if k in expressions},
                },
                ExpressionAttributeValues={
                    name: _serializer.serialize(str(v) if isinstance(v, State) else v)
                    for name, v in values.items()
                },
                ReturnValues="ALL_NEW",
            )
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise _ConditionFailed from exc
            raise JobError(N_("The job could not be updated just now. Try again.")) from exc
        return answer.get("Attributes", {})

    def _key(self, user_id: str, job_id: str) -> Key:
        return job_key(user_id, job_id)

    @staticmethod
    def _ttl_clause() -> str:
        return "#ttl = :ttl"

    def _ttl(self, now: datetime) -> int:
        return int((now + self.retention).timestamp())


class _ConditionFailed(Exception):
    """The item was not in the state the write expected."""
