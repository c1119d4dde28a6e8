"""The sign-in throttle: failed attempts counted per account and per client in the app table.

Cognito answers every guess as fast as it comes; this counts wrong passwords
for the email address typed (whether or not such an account exists, so the
answer tells nobody which accounts exist) and for the client's address. After
``limit`` failures within ``window`` seconds of the first, sign-in with that
email, or from that address, is refused without asking Cognito until the
window ends. Each counter is one item (``user_id = "signin#account#<hash>"`` or
``"signin#client#<hash>"``, ``sk = "throttle"``) that DynamoDB's TTL removes
after its window; emails and addresses are stored only as keyed hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ..apptable import TTL_ATTRIBUTE, CounterKind, Key, counter_kind, throttle_key
from ..aws import error_code
from ..errors import N_, UserError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class ThrottleError(UserError):
    """The attempt counters could not be read or written just now."""


@dataclass(frozen=True)
class ThrottleLimits:
    """How many failed sign-ins are allowed, and for how long they count."""

    account: int = 5
    client: int = 20
    window: int = 15 * 60


class SignInThrottle:
    """Failed sign-in counters in the app table; every method takes the moment (epoch s)."""

    def __init__(
        self, dynamodb: DynamoDBClient, table: str, limits: ThrottleLimits, salt: bytes
    ) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.limits = limits
        self.salt = salt

    def wait(self, email: str, client: str, *, now: float) -> int:
        """Return the seconds until sign-in may be tried again (0: it may now)."""
        keys = [self._key("account", email.strip().lower()), self._key("client", client)]
        try:
            answer = self.dynamodb.batch_get_item(
                RequestItems={self.table: {"Keys": keys, "ConsistentRead": True}}
            )
        except (ClientError, BotoCoreError) as exc:
            raise ThrottleError(N_("Sign-in attempts could not be checked just now.")) from exc
        items = answer.get("Responses", {}).get(self.table, [])
        if answer.get("UnprocessedKeys"):
            raise ThrottleError(N_("Sign-in attempts could not be checked just now."))
        waits = [0.0]
        for item in items:
            kind = counter_kind(item)
            limit = self.limits.account if kind == "account" else self.limits.client
            failures = int(item.get("failures", {}).get("N", "0"))
            ends = float(item.get("window_start", {}).get("N", "0")) + self.limits.window
            if failures >= limit and ends > now:
                waits.append(ends - now)
        return math.ceil(max(waits))

    def failed(self, email: str, client: str, *, now: float) -> None:
        """Count one failed sign-in against the email address and the client."""
        try:
            self._count(self._key("account", email.strip().lower()), now)
            self._count(self._key("client", client), now)
        except (ClientError, BotoCoreError) as exc:
            raise ThrottleError(N_("Sign-in attempts could not be checked just now.")) from exc

    def _count(self, key: Key, now: float) -> None:
        ttl = {"N": str(int(now) + self.limits.window + 60)}
        try:
            # Within the window: one more failure.
            self.dynamodb.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="ADD failures :one",
                ConditionExpression="window_start > :cutoff",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":cutoff": {"N": repr(now - self.limits.window)},
                },
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            # No counter, or its window is over: this failure opens a new window.
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    **key,
                    "failures": {"N": "1"},
                    "window_start": {"N": repr(now)},
                    TTL_ATTRIBUTE: ttl,
                },
            )

    def _key(self, kind: CounterKind, value: str) -> Key:
        digest = hmac.new(self.salt, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
        return throttle_key(kind, digest[:40])
