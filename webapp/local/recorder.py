"""Local mode's stand-in for Lambda's stream triggers: read moto's streams, call the recorder.

Lambda's event source mapping reads each shard of a table's stream in order and
hands the recorder batches of records; a reported failure makes it deliver again
from that record, and after ``MAX_RETRIES`` it sends the batch's bounds to the
dead-letter queue, whose message comes back to the recorder as a gap. This does
the same against the embedded moto server, in a thread of the local process,
calling the same ``Recorder.handle`` the Lambda handler delegates to.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..changes.recorder import Recorder
from ..services import Services
from ..settings import Settings

logger = logging.getLogger(__name__)

#: Seconds between reads of the streams when they had nothing new.
POLL_SECONDS = 0.2
#: Records per batch (the mapping's batchSize) and deliveries of a failing batch.
BATCH_SIZE = 100
MAX_RETRIES = 3


def stream_event(records: list[dict[str, Any]], stream_arn: str, region: str) -> dict[str, Any]:
    """Return the event Lambda would send for records read from a stream."""
    return {"Records": [_lambda_record(record, stream_arn, region) for record in records]}


def _lambda_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    body = dict(record["dynamodb"])
    created = body.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):  # boto3 parses it; Lambda sends epoch seconds
        body["ApproximateCreationDateTime"] = created.timestamp()
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": body,
        "eventSourceARN": stream_arn,
    }


def dead_letter_event(
    records: list[dict[str, Any]], stream_arn: str, shard_id: str, condition: str
) -> dict[str, Any]:
    """Return the SQS event the dead-letter queue would send for a batch given up on."""
    first, last = records[0]["dynamodb"], records[-1]["dynamodb"]

    def iso(body: dict[str, Any]) -> str:
        created = body["ApproximateCreationDateTime"]
        moment = (
            created
            if isinstance(created, datetime)
            else datetime.fromtimestamp(float(created), UTC)
        )
        return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    message = {
        "requestContext": {"condition": condition, "approximateInvokeCount": MAX_RETRIES + 1},
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first["SequenceNumber"],
            "endSequenceNumber": last["SequenceNumber"],
            "approximateArrivalOfFirstRecord": iso(first),
            "approximateArrivalOfLastRecord": iso(last),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
    }
    return {
        "Records": [
            {"messageId": str(uuid.uuid4()), "eventSource": "aws:sqs", "body": json.dumps(message)}
        ]
    }


@dataclass
class _Shard:
    stream_arn: str
    shard_id: str
    iterator: str | None
    pending: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0


def streams_client(settings: Settings) -> Any:
    """Return a DynamoDB Streams client on local mode's endpoint.

    Only local mode reads the streams (on AWS, Lambda's mapping does), so the client is
    built here, not in ``webapp.aws`` whose services the Lambda zip carries models for.
    """
    import boto3

    return boto3.client(
        "dynamodbstreams", region_name=settings.region, endpoint_url=settings.endpoint_url
    )


class LocalRecorder:
    """Deliver the tables' stream records to the recorder, in order, as Lambda would."""

    def __init__(self, services: Services, recorder: Recorder | None = None) -> None:
        self.settings = services.settings
        self.streams = streams_client(services.settings)
        self.dynamodb = services.clients.dynamodb
        self.recorder = recorder or services.recorder
        self._shards: list[_Shard] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def skip_to_latest(self) -> None:
        """Start after what the streams hold now (local mode: the demo data is not news).

        From here on every change is read, so both tables' logs are complete from now.
        """
        self._shards = self._open("LATEST")
        now = datetime.now(UTC)
        for table in self.settings.data_tables:
            self.recorder.log.mark_since(table, round(now.timestamp() * 1000), now)

    def _open(self, position: str = "TRIM_HORIZON") -> list[_Shard]:
        shards = []
        for table in self.settings.data_tables.values():
            arn = self.dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
            description = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]
            for shard in description["Shards"]:
                iterator = self.streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType=position
                )["ShardIterator"]
                shards.append(_Shard(arn, shard["ShardId"], iterator))
        return shards

    def poll_once(self) -> int:
        """Read every shard once and deliver what was new; return how many records were."""
        if self._shards is None:
            self._shards = self._open()
        delivered = 0
        for shard in self._shards:
            if len(shard.pending) < BATCH_SIZE and shard.iterator:
                answer = self.streams.get_records(
                    ShardIterator=shard.iterator, Limit=BATCH_SIZE - len(shard.pending)
                )
                shard.pending.extend(answer["Records"])
                shard.iterator = answer.get("NextShardIterator")
            if shard.pending:
                delivered += self._deliver(shard)
        return delivered

    def _deliver(self, shard: _Shard) -> int:
        batch = shard.pending[:BATCH_SIZE]
        event = stream_event(batch, shard.stream_arn, self.settings.region)
        failures = self.recorder.handle(event)["batchItemFailures"]
        if not failures:
            del shard.pending[: len(batch)]
            shard.attempts = 0
            return len(batch)
        named = failures[0].get("itemIdentifier", "")
        seqs = [r["dynamodb"]["SequenceNumber"] for r in batch]
        start = seqs.index(named) if named in seqs else 0
        del shard.pending[:start]  # the records before the failed one are done
        shard.attempts += 1
        if shard.attempts > MAX_RETRIES:
            lost = shard.pending[: len(batch) - start]
            self.recorder.handle(
                dead_letter_event(lost, shard.stream_arn, shard.shard_id, "RetryAttemptsExhausted")
            )
            del shard.pending[: len(lost)]
            shard.attempts = 0
        return start

    def drain(self, limit: int = 1000) -> int:
        """Deliver every record waiting now (tests); return how many there were."""
        total = 0
        for _ in range(limit):
            delivered = self.poll_once()
            total += delivered
            if not delivered and not any(s.pending for s in self._shards or []):
                break
        return total

    def start(self) -> None:
        """Poll in a background thread until ``stop``."""
        self._thread = threading.Thread(target=self._run, name="local-recorder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.poll_once():
                    self._stop.wait(POLL_SECONDS)
            except Exception:
                if self._stop.is_set():
                    return  # moto is shutting down
                logger.exception("the local recorder could not read the streams")
                self._stop.wait(1)
