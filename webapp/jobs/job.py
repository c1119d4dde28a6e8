"""A job: what one job of one user is, and how its record is stored in the app's table.

An item is ``user_id`` (the owner's sub) + ``sk`` = ``job#<id>`` (see
``apptable``). Its ``kind`` names one of the kinds in ``registry``; its
``params`` are that kind's parameters as the record stores them. Its state moves
``queued`` → ``running`` → ``done`` | ``failed`` | ``cancelled``; every write
names the state (and, for the worker, the attempt) it expects, so a redelivered
message, a superseded worker or a cancel racing the worker can never move a job
backwards or finish it twice. Finished jobs carry a TTL (``expires_at``) so
DynamoDB drops them after the archives' retention.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from ..apptable import JOB_PREFIX, TTL_ATTRIBUTE, job_id_of
from ..errors import N_, Stopped, UserError
from ..model import PARTITION_KEY, SORT_KEY

INTERRUPTED = N_("The export was interrupted. Please export again.")
NEVER_STARTED = N_("The export could not be started. Please export again.")

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class State(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


UNFINISHED = frozenset({State.QUEUED, State.RUNNING})


class JobError(UserError):
    """The job table could not be read or written; nothing was changed."""


class JobStopped(Stopped):
    """The job was cancelled, or another attempt took it over: stop working on it."""


def new_job_id(now: datetime | None = None) -> str:
    """Return a fresh job id, sortable by creation: ``20261202T213000Z-<8 hex>``."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Job:
    """One job of one user, as stored."""

    user_id: str
    id: str
    kind: str
    state: State
    created_at: datetime
    params: dict[str, Any] = field(default_factory=dict)
    progress: dict[str, int] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    #: A failed job's message for the user: an English msgid and its fields.
    error: str | None = None
    error_fields: dict[str, Any] = field(default_factory=dict)
    #: Its technical detail (an English msgid filled from the same fields), if any.
    error_detail: str | None = None
    attempt: int = 0
    heartbeat_at: datetime | None = None
    updated_at: datetime | None = None
    #: A preview's: the restore job that carries it out (a preview is confirmed once).
    consumed_by: str | None = None
    #: A failed check the user has put away (it leaves the page's list of checks).
    dismissed: bool = False

    @classmethod
    def queued(
        cls, user_id: str, kind: str, params: dict[str, Any], now: datetime, job_id: str = ""
    ) -> Job:
        """Return a new job of ``kind`` waiting for the worker (a fresh id unless given)."""
        return cls(
            user_id=user_id,
            id=job_id or new_job_id(now),
            kind=kind,
            state=State.QUEUED,
            created_at=now,
            params=params,
            progress={"slips": 0, "balances": 0},
        )

    @property
    def unfinished(self) -> bool:
        """Return whether the job is still queued or running (as stored)."""
        return self.state in UNFINISHED

    def seen_at(self, now: datetime, *, stale_after: timedelta) -> Job:
        """Return the job as the user should see it at ``now``.

        A running job whose worker has been silent longer than the function may
        run has died with it; a queued job that no worker took within the
        queue's redelivery window never will. Both show as failed. (Reading
        never writes: the worker records it when the message comes back.)
        """
        if (
            self.state is State.RUNNING
            and (self.heartbeat_at or self.created_at) < now - stale_after
        ):
            return replace(self, state=State.FAILED, error=INTERRUPTED, error_fields={})
        if self.state is State.QUEUED and self.created_at < now - 6 * stale_after:
            return replace(self, state=State.FAILED, error=NEVER_STARTED, error_fields={})
        return self


def to_item(job: Job, *, ttl: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        PARTITION_KEY: job.user_id,
        SORT_KEY: JOB_PREFIX + job.id,
        "kind": job.kind,
        "state": str(job.state),
        "created_at": iso(job.created_at),
        "updated_at": iso(job.created_at),
        "params": job.params,
        "progress": job.progress,
        "attempt": job.attempt,
        TTL_ATTRIBUTE: ttl,
    }
    return {name: _serializer.serialize(value) for name, value in item.items()}


def from_item(item: dict[str, Any]) -> Job:
    data = {name: _deserializer.deserialize(value) for name, value in item.items()}
    return Job(
        user_id=data[PARTITION_KEY],
        id=job_id_of(str(data[SORT_KEY])),
        kind=data.get("kind", ""),
        state=State(data["state"]),
        created_at=_parse(data["created_at"]),
        params=_plain(data.get("params") or {}),
        progress={k: int(v) for k, v in (data.get("progress") or {}).items()},
        result=_plain(data.get("result") or {}),
        error=data.get("error"),
        error_fields=_plain(data.get("error_fields") or {}),
        error_detail=data.get("error_detail") or None,
        attempt=int(data.get("attempt", 0)),
        heartbeat_at=_parse(data["heartbeat_at"]) if data.get("heartbeat_at") else None,
        updated_at=_parse(data["updated_at"]) if data.get("updated_at") else None,
        consumed_by=data.get("consumed_by") or None,
        dismissed=bool(data.get("dismissed")),
    )


def _plain(value: Any) -> Any:
    """Return DynamoDB's Decimals as ints (job fields hold whole numbers only)."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


class JobExists(Exception):
    """A job with this id is already stored (an idempotent dispatch met its earlier self)."""
