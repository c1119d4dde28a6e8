"""The sign-in throttle: attempts counted per account and per client in the app table.

Cognito answers every guess as fast as it comes; this counts attempts for the
email address typed (whether or not such an account exists, so the answer tells
nobody which accounts exist) and for the client's address. After ``limit``
failures within ``window`` seconds of the first, sign-in with that email, or
from that address, is refused without asking Cognito until the window ends.

An attempt is counted *before* Cognito is asked, with one conditional update per
counter ("one more, while below the limit"), and given back when it succeeds:
reading the counters and counting afterwards would let a burst of parallel
guesses all read "4 of 5" and all reach Cognito. The same counters guard each
step that checks a secret: the password, the authenticator code at sign-in and
the mailed password-reset code. Each counter is one item
(``user_id = "signin#account#<hash>"`` or ``"signin#client#<hash>"``,
``sk = "throttle"``) that DynamoDB's TTL removes after its window; emails and
addresses are stored only as keyed hashes.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from ..apptable import TTL_ATTRIBUTE, CounterKind, Key, throttle_key
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


class Throttled(Exception):
    """Too many failed attempts: ``wait`` seconds until the next one may be made."""

    def __init__(self, wait: int) -> None:
        super().__init__(wait)
        self.wait = wait


@dataclass
class Attempt:
    """An attempt counted against its counters; ``succeeded`` gives it back."""

    throttle: SignInThrottle | None
    #: Each counter's key and the start of the window the attempt was counted in.
    counted: list[tuple[Key, float]] = field(default_factory=list)

    def succeeded(self) -> None:
        """Give the attempt back: only failures count (best effort, never raises)."""
        if self.throttle is not None:
            for key, window_start in self.counted:
                self.throttle.give_back(key, window_start)
        self.counted = []


#: An attempt made while the counters could not be reached (the throttle fails open).
def uncounted() -> Attempt:
    """Return an attempt that counted nothing."""
    return Attempt(None)


class SignInThrottle:
    """Attempt counters in the app table; every method takes the moment (epoch s)."""

    def __init__(
        self, dynamodb: DynamoDBClient, table: str, limits: ThrottleLimits, salt: bytes
    ) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.limits = limits
        self.salt = salt

    def attempt(self, email: str, client: str, *, now: float) -> Attempt:
        """Count one attempt against the email address and the client, before it is made.

        Raise Throttled, counting nothing, if either is at its limit; ThrottleError
        if the counters cannot be reached.
        """
        counters = [
            (self._key("account", email.strip().lower()), self.limits.account),
            (self._key("client", client), self.limits.client),
        ]
        attempt = Attempt(self)
        try:
            for key, limit in counters:
                attempt.counted.append((key, self._count(key, limit, now)))
        except Throttled:
            attempt.succeeded()  # not made: the other counter gets its attempt back
            raise
        except (ClientError, BotoCoreError) as exc:
            attempt.succeeded()
            raise ThrottleError(N_("Sign-in attempts could not be checked just now.")) from exc
        return attempt

    def give_back(self, key: Key, window_start: float) -> None:
        """Take one attempt off a counter, if its window is still the one it was counted in."""
        # A new window, or the table is away: the count then errs on the safe side.
        with contextlib.suppress(ClientError, BotoCoreError):
            self.dynamodb.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="ADD failures :minus_one",
                ConditionExpression="window_start = :start AND failures > :zero",
                ExpressionAttributeValues={
                    ":minus_one": {"N": "-1"},
                    ":start": {"N": repr(window_start)},
                    ":zero": {"N": "0"},
                },
            )

    def _count(self, key: Key, limit: int, now: float) -> float:
        """Count one attempt on one counter; return its window's start, or raise Throttled."""
        cutoff = {"N": repr(now - self.limits.window)}
        for _ in range(3):
            try:
                # Within the window and below the limit: one more.
                answer = self.dynamodb.update_item(
                    TableName=self.table,
                    Key=key,
                    UpdateExpression="ADD failures :one",
                    ConditionExpression="window_start > :cutoff AND failures < :limit",
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":cutoff": cutoff,
                        ":limit": {"N": str(limit)},
                    },
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return float(answer["Attributes"]["window_start"]["N"])
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                # With ReturnValuesOnConditionCheckFailure, the counter as the condition saw it.
                held: dict[str, Any] = cast(dict[str, Any], exc.response).get("Item", {})
            start = float(held.get("window_start", {}).get("N", "0"))
            if held and start > now - self.limits.window:
                raise Throttled(math.ceil(start + self.limits.window - now)) from None
            if self._open(key, now, cutoff):
                return now
            # Someone else opened the window at this instant: count in theirs.
        raise Throttled(self.limits.window)

    def _open(self, key: Key, now: float, cutoff: dict[str, str]) -> bool:
        """Start a new window with this attempt, unless another one just did."""
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    **key,
                    "failures": {"N": "1"},
                    "window_start": {"N": repr(now)},
                    TTL_ATTRIBUTE: {"N": str(int(now) + self.limits.window + 60)},
                },
                ConditionExpression="attribute_not_exists(window_start) OR window_start <= :cutoff",
                ExpressionAttributeValues={":cutoff": cutoff},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def _key(self, kind: CounterKind, value: str) -> Key:
        digest = hmac.new(self.salt, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
        return throttle_key(kind, digest[:40])
