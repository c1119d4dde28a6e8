"""Sign-out that ends the session: one marker item per user in the app table.

The session cookie is signed, not stored, so without a server-side record a
cookie copied before sign-out would keep working until it expires. Each user
has one item (``user_id`` + ``sk = "session"``) holding

- ``signed_out_at``: a moment (epoch milliseconds) before which every session
  of the user is over ("sign out everywhere"), and
- ``revoked``: the ids of single sessions signed out since, each as
  ``<expiry>:<id>`` so stale ones can be pruned.

Every request with a session reads that one item (one ``GetItem``, or, on a page
that shows the user's jobs, from one ``Query`` of the whole partition); a cookie
whose session was issued before ``signed_out_at`` or whose id is revoked is no
session at all. The item's TTL outlives any session it could refuse (an ID
token, and so a session, lasts at most a day).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..apptable import SESSION_SK, TTL_ATTRIBUTE, Key, UserItems, session_key
from ..errors import N_, UserError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: How long the marker is kept after its last change: longer than any session lives.
KEEP_SECONDS = 2 * 24 * 3600


class SessionCheckError(UserError):
    """The sign-out record could not be read or written just now."""


def now_ms() -> int:
    """Return the current moment in epoch milliseconds (what sessions are stamped with)."""
    return int(time.time() * 1000)


@dataclass(frozen=True)
class SessionMarker:
    """What the server remembers of a user's signed-out sessions."""

    signed_out_at: int = 0
    revoked: frozenset[str] = field(default_factory=frozenset)

    def allows(self, session_id: str, issued_at: int) -> bool:
        """Return whether a session with this id, issued at ``issued_at`` (ms), is still live."""
        if self.ended_everywhere(issued_at):
            return False
        return not any(entry.partition(":")[2] == session_id for entry in self.revoked)

    def ended_everywhere(self, issued_at: int) -> bool:
        """Return whether a session issued at ``issued_at`` (ms) ended with all the others."""
        return bool(self.signed_out_at) and issued_at <= self.signed_out_at


class SessionStore:
    """The users' session markers in the app table."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    def marker(self, user_id: str) -> SessionMarker:
        """Return the user's marker with one strongly consistent ``GetItem``."""
        try:
            item = self.dynamodb.get_item(
                TableName=self.table,
                Key=self._key(user_id),
                ConsistentRead=True,
                ProjectionExpression="signed_out_at, revoked",
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise SessionCheckError(N_("Your sign-in could not be checked just now.")) from exc
        return _marker(item)

    @staticmethod
    def marker_in(items: UserItems) -> SessionMarker:
        """Return the user's marker from their partition, read as a whole (one ``Query``)."""
        return _marker(items.get(SESSION_SK))

    def revoke(self, user_id: str, session_id: str, expires_at: int, *, now: int) -> None:
        """End one session (its id) of the user; prune revoked ids that have expired anyway."""
        entry = f"{int(expires_at)}:{session_id}"
        try:
            item = self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(user_id),
                UpdateExpression="ADD revoked :entry SET #ttl = :ttl",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":entry": {"SS": [entry]},
                    ":ttl": {"N": str(now // 1000 + KEEP_SECONDS)},
                },
                ReturnValues="ALL_NEW",
            ).get("Attributes", {})
            stale = [
                old
                for old in item.get("revoked", {}).get("SS", [])
                if int(old.partition(":")[0] or 0) * 1000 < now
            ]
            if stale:
                self.dynamodb.update_item(
                    TableName=self.table,
                    Key=self._key(user_id),
                    UpdateExpression="DELETE revoked :stale",
                    ExpressionAttributeValues={":stale": {"SS": stale}},
                )
        except (ClientError, BotoCoreError) as exc:
            raise SessionCheckError(N_("Signing out could not be finished just now.")) from exc

    def end_all(self, user_id: str, *, now: int) -> None:
        """End every session of the user issued up to ``now`` (epoch ms)."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(user_id),
                # Single revocations are covered by the new moment: drop them.
                UpdateExpression="SET signed_out_at = :now, #ttl = :ttl REMOVE revoked",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":now": {"N": str(int(now))},
                    ":ttl": {"N": str(now // 1000 + KEEP_SECONDS)},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise SessionCheckError(N_("Signing out could not be finished just now.")) from exc

    @staticmethod
    def _key(user_id: str) -> Key:
        return session_key(user_id)


def _marker(item: dict[str, Any] | None) -> SessionMarker:
    if not item:
        return SessionMarker()
    return SessionMarker(
        signed_out_at=int(item.get("signed_out_at", {}).get("N", "0")),
        revoked=frozenset(item.get("revoked", {}).get("SS", [])),
    )
