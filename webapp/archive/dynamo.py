"""DynamoDB I/O of the core: query a user's pages, write items in batches, check tables.

Everything speaks boto3's low-level client and DynamoDB's typed values
(``{"amount": {"N": "-1200"}}``), so numbers keep every digit and sets stay sets.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..aws import error_code, error_reason
from ..errors import N_
from ..model import KEY_SCHEMA, PARTITION_KEY, SORT_KEY, TableName
from .dates import DateRange
from .errors import AccountBookUnavailable, ExportError, WriteError
from .manifest import same_keys

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = logging.getLogger(__name__)

Item = dict[str, Any]
Progress = Callable[[int], None]

#: BatchWriteItem takes at most 25 requests.
BATCH_SIZE = 25
# Every sort key of a day sorts between "YYYY-MM-DD" and "YYYY-MM-DD~": DynamoDB
# compares UTF-8 bytes, "~" is the last printable ASCII character and "#" joins
# the date to the rest.
_DAY_END = "~"
_THROTTLED = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "SlowDown",
        "Throttling",
    }
)
BUSY = N_("The service is busy right now, so no archive was made. Please try again in a minute.")


def throttled(exc: BaseException) -> bool:
    """Return whether ``exc`` is AWS asking us to slow down."""
    return error_code(exc) in _THROTTLED


def iter_pages(
    dynamodb: DynamoDBClient,
    table_name: str,
    sub: str,
    date_range: DateRange,
    *,
    limit: int | None = None,
    filter_expression: tuple[str, dict[str, str], dict[str, Any]] | None = None,
) -> Iterator[list[Item]]:
    """Yield pages of one user's items in a date range, as typed attribute values.

    ``filter_expression`` (``Filters.expression``'s triple) narrows the same Query:
    DynamoDB drops the other items after reading them, so a page may come back
    empty while more follow.
    """
    request: dict[str, Any] = {
        "TableName": table_name,
        "KeyConditionExpression": "#pk = :sub AND #sk BETWEEN :start AND :end",
        "ExpressionAttributeNames": {"#pk": PARTITION_KEY, "#sk": SORT_KEY},
        "ExpressionAttributeValues": {
            ":sub": {"S": sub},
            ":start": {"S": date_range.start.isoformat()},
            ":end": {"S": date_range.end.isoformat() + _DAY_END},
        },
        "ConsistentRead": True,
    }
    if limit is not None:
        request["Limit"] = limit
    if filter_expression is not None:
        expression, names, values = filter_expression
        request["FilterExpression"] = expression
        request["ExpressionAttributeNames"].update(names)
        request["ExpressionAttributeValues"].update(values)
    while True:
        try:
            page = dynamodb.query(**request)
        except (ClientError, BotoCoreError) as exc:
            logger.warning("query of %s failed", table_name, exc_info=True)
            if throttled(exc):
                raise ExportError(BUSY) from exc
            raise ExportError(
                N_("Your account book could not be read, so no archive was made. Please try again.")
            ) from exc
        yield page.get("Items", [])
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        request["ExclusiveStartKey"] = last


def put_items(
    dynamodb: DynamoDBClient,
    table_name: str,
    items: Iterable[Item],
    *,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    max_retries: int = 10,
    base_delay: float = 0.05,
    max_delay: float = 5.0,
) -> int:
    """Write items with BatchWriteItem, retrying UnprocessedItems with backoff; return the count."""
    return batch_write(
        dynamodb,
        table_name,
        ({"PutRequest": {"Item": item}} for item in items),
        progress=progress,
        sleep=sleep,
        max_retries=max_retries,
        base_delay=base_delay,
        max_delay=max_delay,
    )


def put_request(item: Item) -> dict[str, Any]:
    """Return the BatchWriteItem request that puts ``item``."""
    return {"PutRequest": {"Item": item}}


def delete_request(item: Item) -> dict[str, Any]:
    """Return the BatchWriteItem request that deletes the item with ``item``'s key."""
    return {"DeleteRequest": {"Key": {k: item[k] for k in (PARTITION_KEY, SORT_KEY)}}}


def batch_write(
    dynamodb: DynamoDBClient,
    table_name: str,
    requests: Iterable[dict[str, Any]],
    *,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    max_retries: int = 10,
    base_delay: float = 0.05,
    max_delay: float = 5.0,
) -> int:
    """Send put and delete requests in batches of 25, retrying unprocessed ones; return the count.

    Unprocessed requests are retried with exponential backoff and jitter, as AWS
    advises; ``max_retries`` bounds consecutive answers that made no progress at all.
    """
    backoff = _Backoff(sleep, max_retries, base_delay, max_delay)
    written = 0
    batch: list[dict[str, Any]] = []
    for request in requests:
        batch.append(request)
        if len(batch) == BATCH_SIZE:
            written += _send(dynamodb, table_name, batch, written, progress, backoff)
            batch = []
    if batch:
        written += _send(dynamodb, table_name, batch, written, progress, backoff)
    return written


@dataclass(frozen=True)
class _Backoff:
    sleep: Callable[[float], None]
    #: Consecutive answers that made no progress at all before giving up.
    max_retries: int
    base_delay: float
    max_delay: float

    def wait(self, attempt: int) -> None:
        """Sleep before retry ``attempt``: exponential backoff with jitter, as AWS advises."""
        delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        self.sleep(delay / 2 + random.uniform(0, delay / 2))


def _send(
    dynamodb: DynamoDBClient,
    table_name: str,
    batch: list[dict[str, Any]],
    before: int,
    progress: Progress | None,
    backoff: _Backoff,
) -> int:
    """Send one batch until DynamoDB has processed all of it; return how many it wrote."""
    pending: list[Any] = list(batch)
    written = stalled = attempt = 0
    while pending:
        if attempt:
            backoff.wait(attempt)
        try:
            answer = dynamodb.batch_write_item(RequestItems={table_name: pending})
        except (ClientError, BotoCoreError) as exc:
            raise WriteError(
                N_(
                    "DynamoDB refused a write to %(table)s after %(count)s items: "
                    "%(reason)s. Running the restore again is safe."
                ),
                table=table_name,
                count=before + written,
                reason=error_reason(exc),
            ) from None
        left: list[Any] = list((answer.get("UnprocessedItems") or {}).get(table_name, []))
        done = len(pending) - len(left)
        written += done
        if progress is not None and done:
            progress(done)
        stalled = 0 if done else stalled + 1
        if stalled > backoff.max_retries:
            raise WriteError(
                N_(
                    "DynamoDB kept throttling writes to %(table)s after %(count)s items. "
                    "Running the restore again later is safe."
                ),
                table=table_name,
                count=before + written,
            )
        pending = left
        attempt += 1
    return written


def check_tables(dynamodb: DynamoDBClient, targets: Mapping[TableName, str]) -> None:
    """Refuse unless every target table exists with Kakeibo's key schema."""
    for table, name in targets.items():
        try:
            described = dynamodb.describe_table(TableName=name)["Table"]
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise AccountBookUnavailable(
                    N_(
                        "the DynamoDB table %(name)s (%(table)s) does not exist; create it first "
                        "(or check SLIPS_TABLE / BALANCES_TABLE)"
                    ),
                    name=name,
                    table=table,
                ) from None
            raise AccountBookUnavailable(
                N_("cannot read the DynamoDB table %(name)s: %(reason)s"),
                name=name,
                reason=error_reason(exc),
            ) from None
        except BotoCoreError as exc:
            raise AccountBookUnavailable(
                N_("cannot reach DynamoDB: %(reason)s"), reason=str(exc)
            ) from None
        key_schema = [dict(k) for k in described.get("KeySchema", [])]
        if not same_keys(key_schema, KEY_SCHEMA):
            raise AccountBookUnavailable(
                N_(
                    "the DynamoDB table %(name)s (%(table)s) is not keyed by user_id and sk, "
                    "as Kakeibo's tables are"
                ),
                name=name,
                table=table,
            )
