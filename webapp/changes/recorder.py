"""The recorder: DynamoDB Streams batches into the change log, and lost batches into gaps.

Lambda's event source mapping on each table's stream hands the recorder a batch
of records (in order per shard). The recorder groups them by user and table and
writes each group as one object under that user's prefix, named by the batch
(see ``keys``), so a batch delivered again writes the same objects.

It answers with ``batchItemFailures``: when a group cannot be written, the
lowest sequence number among the records not written, and Lambda delivers the
batch again from that record (what was written already is written again, the
same change under another name, which readers count once). A record the log
cannot hold (no images, not a kakeibo item) fails likewise: after the mapping's
retries Lambda sends the batch's bounds to the dead-letter queue, whose
messages come back here (an SQS event) and are recorded as a gap. The recorder
never raises, whatever the event: an event of no known shape is logged and
answered with no failures.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..model import TableName
from .keys import Segment, tag_of
from .record import Change, NotAChange, from_stream_record, table_name_of
from .store import ChangeLog

logger = logging.getLogger(__name__)

Failures = dict[str, list[dict[str, str]]]
#: PutObjects at once for one batch (a batch of 100 records may touch 100 users).
WRITERS = 8


class Recorder:
    """Write each user's changes of each batch to the change log."""

    def __init__(
        self,
        log: ChangeLog,
        tables: Mapping[TableName, str],
        *,
        now: Callable[[], datetime],
    ) -> None:
        self.log = log
        #: DynamoDB table name -> our name ("slips", "balances").
        self.tables: dict[str, TableName] = {name: table for table, name in tables.items()}
        self.now = now
        self._since_marked: set[TableName] = set()

    def handle(self, event: Any) -> Failures:
        """Record a stream batch or the dead-letter queue's lost batches; never raise."""
        try:
            records = event.get("Records") if isinstance(event, dict) else None
            if not isinstance(records, list) or not records:
                logger.warning("the recorder got an event with no records: ignored")
                return {"batchItemFailures": []}
            if all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records):
                return self._gaps(records)
            return self._changes(records)
        except Exception:
            # Unforeseen: fail the whole batch, so Lambda retries it, then sends it on.
            logger.exception("the recorder failed on a batch")
            return {"batchItemFailures": [{"itemIdentifier": ""}]}

    # --- a stream batch ----------------------------------------------------------------------

    def _changes(self, records: list[Any]) -> Failures:
        groups: dict[tuple[str, TableName], list[Change]] = {}
        failed: list[int] = []
        for record in records:
            try:
                change = from_stream_record(record, self.tables)
            except NotAChange as exc:
                seq = _sequence_number(record)
                logger.error("a stream record the log cannot hold (%s): %s", seq, exc)
                if seq is None:
                    return {"batchItemFailures": [{"itemIdentifier": ""}]}
                failed.append(seq)
                continue
            groups.setdefault((change.user, change.table), []).append(change)
        written_tables: dict[TableName, int] = {}
        # One object per user and table, written side by side: S3's latency, not our CPU,
        # is what a batch of many users' changes waits on.
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            outcomes = list(pool.map(self._write, groups.values()))
        for (_, table), (segment, ok) in zip(groups, outcomes, strict=True):
            if not ok:
                failed.append(segment.first_seq)
                continue
            earliest = min(written_tables.get(table, segment.first_ms), segment.first_ms)
            written_tables[table] = earliest
        if not failed:
            self._mark_since(written_tables)
        if failed:
            # Lambda retries from the lowest reported record; later ones come again too.
            return {"batchItemFailures": [{"itemIdentifier": str(min(failed))}]}
        return {"batchItemFailures": []}

    def _write(self, changes: list[Change]) -> tuple[Segment, bool]:
        """Write one user's changes of one table; return their segment and whether it worked."""
        changes.sort(key=lambda c: c.seq)
        segment = Segment(
            first_ms=min(c.ms for c in changes),
            last_ms=max(c.ms for c in changes),
            tag=tag_of(*(f"{c.sk}@{c.seq}" for c in changes)),
            first_seq=changes[0].seq,
            last_seq=changes[-1].seq,
        )
        try:
            self.log.put_changes(segment, changes)
        except (ClientError, BotoCoreError):
            logger.exception("could not write %d changes of %s", len(changes), changes[0].table)
            return segment, False
        return segment, True

    def _mark_since(self, written: Mapping[TableName, int]) -> None:
        for table, first_ms in written.items():
            if table in self._since_marked:
                continue
            try:
                self.log.mark_since(table, first_ms, self.now())
            except (ClientError, BotoCoreError):
                logger.exception("could not note since when the log of %s is complete", table)
                continue
            self._since_marked.add(table)

    # --- lost batches (the dead-letter queue) ------------------------------------------------

    def _gaps(self, records: list[dict[str, Any]]) -> Failures:
        failed = []
        for record in records:
            try:
                self._gap(record)
            except (ClientError, BotoCoreError):
                logger.exception("could not record a gap")
                failed.append({"itemIdentifier": str(record.get("messageId", ""))})
        return {"batchItemFailures": failed}

    def _gap(self, record: dict[str, Any]) -> None:
        try:
            body = json.loads(record["body"])
            info = body["DDBStreamBatchInfo"]
            table = self.tables.get(table_name_of(str(info["streamArn"])))
            segment = Segment(
                first_ms=_iso_ms(info["approximateArrivalOfFirstRecord"]),
                last_ms=_iso_ms(info["approximateArrivalOfLastRecord"]),
                tag=tag_of(info["streamArn"], info.get("shardId")),
                first_seq=int(info["startSequenceNumber"]),
                last_seq=int(info["endSequenceNumber"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            # Not a batch's bounds: nothing to record; say so loudly.
            logger.error("a dead-letter message that names no lost batch: %r", exc)
            return
        if table is None:
            logger.error("a lost batch of no table we record: %s", info.get("streamArn"))
            return
        detail = {
            "condition": body.get("requestContext", {}).get("condition"),
            "batch_size": info.get("batchSize"),
            "shard_id": info.get("shardId"),
        }
        self.log.put_gap(table, segment, detail)
        logger.error("a batch of %s changes was lost: %s", table, segment)


def _sequence_number(record: Any) -> int | None:
    try:
        return int(record["dynamodb"]["SequenceNumber"])
    except (KeyError, TypeError, ValueError):
        return None


def _iso_ms(text: str) -> int:
    """Return an ISO 8601 time (``2019-11-14T00:12:53Z``) as ms since the epoch."""
    from .store import utc_ms

    return utc_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))
