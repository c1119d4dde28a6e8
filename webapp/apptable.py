"""The app's own table: every item it holds, with its key, attributes and lifetime.

``model.py`` describes the two data tables (the household's slips and balances);
this module does the same for the app table, which holds the app's own state.
The stores that read and write each item (``jobs.store``, ``jobs.quota``,
``jobs.schedule``, ``jobs.vocabulary``, ``identity.sessions``, ``identity.throttle``) take their
keys and attribute names from here, so the table's layout is read in one place.

The table is keyed like the data tables: partition key ``user_id``, sort key
``sk`` (both strings). A user's items share the user's partition (their Cognito
``sub``); only the sign-in counters, which exist before anyone is signed in,
live in partitions of their own. ``expires_at`` (epoch seconds) is the table's
TTL attribute: DynamoDB deletes an item within about a day of it.

Because a user's items share a partition, one ``Query`` (``read_user_items``) returns
them all: the session marker, the backup choice, the filter vocabulary and the jobs.
The exports page draws from that one read what used to take a ``GetItem`` each and a
``Query``; the stores parse the items it holds (``SessionStore.marker_in``,
``BackupPrefsStore.prefs_in``, ``VocabularyStore.seen_in``, ``JobStore.jobs_in``) as
they parse their own reads. Writes are unchanged: each item is still written alone,
by its own store, with its own conditions and TTL.

=====================  ==============================  ===========================================
item                   key (``user_id`` / ``sk``)      attributes
=====================  ==============================  ===========================================
job                    sub / ``job#<job id>``          ``kind``, ``state``, ``created_at``,
                                                       ``updated_at``, ``params`` (M), ``progress``
                                                       (M), ``result`` (M), ``error``,
                                                       ``error_fields`` (M), ``attempt`` (N),
                                                       ``heartbeat_at``; TTL: the kind's lifetime
                                                       after it finishes (see ``jobs.kinds``)
job quota              sub / ``quota``                 ``active`` (SS: ids of the jobs counted as
                                                       unfinished), ``started`` (SS:
                                                       ``<created, ISO UTC>#<job id>`` of the
                                                       counted starts); changed only by
                                                       conditional updates (see ``jobs.quota``);
                                                       TTL: a day and an hour after the last start
backup choice          sub / ``backup``                ``frequency`` (off, weekly, monthly),
                                                       ``anchor_day`` (N), ``email``, ``last`` (M:
                                                       the last backup's outcome),
                                                       ``last_success`` (M: the last good one),
                                                       ``last_job``, ``alerted`` (the trouble
                                                       last mailed about); while on also
                                                       ``since`` (ISO date), ``due_shard`` and
                                                       ``next_run`` (ISO date), the keys of the
                                                       sparse index ``backups-due``; no TTL
filter vocabulary      sub / ``vocabulary``            ``accounts``, ``categories``, ``kinds``
                                                       (SS: what the user's exports have seen);
                                                       no TTL
session marker         sub / ``session``               ``signed_out_at`` (N, epoch ms),
                                                       ``revoked`` (SS of ``<expiry>:<session
                                                       id>``); TTL: two days after the last change
sign-in counter        ``signin#account#<hash>`` or    ``failures`` (N: attempts counted, given
                       ``signin#client#<hash>`` /      back when they succeed), ``window_start``
                       ``throttle``                    (N, epoch s); TTL: the end of its window
                                                       plus a minute
=====================  ==============================  ===========================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from .errors import N_, UserError
from .model import PARTITION_KEY, SORT_KEY

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: A key of the app table, as the low-level client takes it.
Key = dict[str, dict[str, str]]

#: The table's TTL attribute (epoch seconds).
TTL_ATTRIBUTE = "expires_at"

# --- jobs ------------------------------------------------------------------------------------

#: Every job's sort key begins so; a Query with ``begins_with`` lists a user's jobs.
JOB_PREFIX = "job#"


def job_key(user_id: str, job_id: str) -> Key:
    """Return the key of one of a user's job records."""
    return _key(user_id, JOB_PREFIX + job_id)


def job_id_of(sort_key: str) -> str:
    """Return the job id a job record's sort key holds."""
    return sort_key[len(JOB_PREFIX) :]


# --- the job quota -----------------------------------------------------------------------------

QUOTA_SK = "quota"


def quota_key(user_id: str) -> Key:
    """Return the key of a user's job quota (the unfinished jobs and the day's starts)."""
    return _key(user_id, QUOTA_SK)


# --- the automatic backup choice --------------------------------------------------------------

#: The sort key of a user's backup choice.
BACKUP_CHOICE_SK = "backup"
#: The sparse index of the choices that are on: who is due, with one Query.
DUE_INDEX = "backups-due"
#: Its partition key and the one value every choice that is on carries in it ...
DUE_SHARD_ATTRIBUTE = "due_shard"
DUE_SHARD = "due"
#: ... and its sort key: the day the next backup is due (ISO date).
NEXT_RUN_ATTRIBUTE = "next_run"


def backup_choice_key(user_id: str) -> Key:
    """Return the key of a user's automatic backup choice."""
    return _key(user_id, BACKUP_CHOICE_SK)


# --- the filter vocabulary --------------------------------------------------------------------

VOCABULARY_SK = "vocabulary"


def vocabulary_key(user_id: str) -> Key:
    """Return the key of the accounts, categories and kinds a user's exports have seen."""
    return _key(user_id, VOCABULARY_SK)


# --- the session marker -----------------------------------------------------------------------

SESSION_SK = "session"


def session_key(user_id: str) -> Key:
    """Return the key of a user's sign-out marker."""
    return _key(user_id, SESSION_SK)


# --- the sign-in counters ---------------------------------------------------------------------

THROTTLE_SK = "throttle"
CounterKind = Literal["account", "client"]


def throttle_key(kind: CounterKind, digest: str) -> Key:
    """Return the key of one failed sign-in counter (an email's or a client's, hashed)."""
    return _key(f"signin#{kind}#{digest}", THROTTLE_SK)


def counter_kind(item: Mapping[str, Any]) -> CounterKind:
    """Return whose failures a counter item counts: an account's or a client's."""
    return "account" if item[PARTITION_KEY]["S"].split("#")[1] == "account" else "client"


# --- one user's partition ---------------------------------------------------------------------


class UserItemsError(UserError):
    """The user's items could not be read just now."""


@dataclass(frozen=True)
class UserItems:
    """Every item of one user's partition, by sort key, as one strongly consistent read saw them."""

    user_id: str
    items: Mapping[str, dict[str, Any]]

    def get(self, sort_key: str) -> dict[str, Any] | None:
        """Return the item with ``sort_key``, or None."""
        return self.items.get(sort_key)

    def starting(self, prefix: str) -> list[dict[str, Any]]:
        """Return the items whose sort key begins with ``prefix``, highest sort key first."""
        return [self.items[sk] for sk in sorted(self.items, reverse=True) if sk.startswith(prefix)]


def read_user_items(dynamodb: DynamoDBClient, table: str, user_id: str) -> UserItems:
    """Return every item of the user's partition with one strongly consistent ``Query``.

    One round trip unless the partition outgrows a Query's 1 MB page (jobs expire, so
    it stays far smaller); raises ``UserItemsError`` when DynamoDB cannot answer.
    """
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#pk = :user",
        "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
        "ExpressionAttributeValues": {":user": {"S": user_id}},
        "ConsistentRead": True,
    }
    items: dict[str, dict[str, Any]] = {}
    try:
        while True:
            page = dynamodb.query(**request)
            items.update((item[SORT_KEY]["S"], item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except (ClientError, BotoCoreError) as exc:
        raise UserItemsError(N_("Your exports in progress could not be read just now.")) from exc
    return UserItems(user_id=user_id, items=items)


def _key(partition: str, sort: str) -> Key:
    return {PARTITION_KEY: {"S": partition}, SORT_KEY: {"S": sort}}
