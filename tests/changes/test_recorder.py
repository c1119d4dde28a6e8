"""The recorder: stream batches into each user's change log, exactly once in effect.

The events are the ones Lambda delivers (and local mode's poller builds from moto's
streams); the log is read back from moto's S3.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from webapp.changes.keys import parse_segment, since_key
from webapp.changes.record import Change
from webapp.changes.recorder import Recorder
from webapp.changes.store import ChangeLog
from webapp.local.recorder import LocalRecorder, dead_letter_event
from webapp.services import Services

ALICE = "a11ce000-0000-4000-8000-0000000a11ce"
BOB = "b0b00000-0000-4000-8000-000000000b0b"
T0 = 1_765_000_000.0  # seconds since the epoch, as Lambda sends it


def stream_arn(services: Services, table: str = "slips") -> str:
    name = services.settings.data_tables[table]  # type: ignore[index]
    return (
        f"arn:aws:dynamodb:ap-northeast-1:123456789012:table/{name}/stream/2026-12-01T00:00:00.000"
    )


def item(user: str, sk: str, memo: str) -> dict[str, Any]:
    return {"user_id": {"S": user}, "sk": {"S": sk}, "memo": {"S": memo}}


def record(
    services: Services,
    seq: int,
    *,
    user: str = ALICE,
    sk: str = "2026-12-01#0001",
    event: str = "MODIFY",
    old: str | None = "before",
    new: str | None = "after",
    at: float = T0,
    table: str = "slips",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ApproximateCreationDateTime": at,
        "Keys": {"user_id": {"S": user}, "sk": {"S": sk}},
        "SequenceNumber": str(seq),
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if old is not None:
        body["OldImage"] = item(user, sk, old)
    if new is not None:
        body["NewImage"] = item(user, sk, new)
    return {
        "eventID": f"e{seq}",
        "eventName": event,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "ap-northeast-1",
        "dynamodb": body,
        "eventSourceARN": stream_arn(services, table),
    }


def objects(services: Services, prefix: str = "changes/") -> dict[str, bytes]:
    s3 = services.clients.s3
    listed = s3.list_objects_v2(Bucket=services.settings.export_bucket, Prefix=prefix)
    return {
        entry["Key"]: s3.get_object(Bucket=services.settings.export_bucket, Key=entry["Key"])[
            "Body"
        ].read()
        for entry in listed.get("Contents", [])
    }


def test_each_users_changes_go_under_their_own_prefix_as_gzip_json_lines(
    services: Services,
) -> None:
    batch = {
        "Records": [
            record(services, 101, event="INSERT", old=None, new="lunch"),
            record(services, 102, user=BOB, sk="2026-12-02#0001", new="bus"),
            record(services, 103, old="lunch", new="dinner", at=T0 + 1.5),
        ]
    }

    assert services.recorder.handle(batch) == {"batchItemFailures": []}

    stored = {k: v for k, v in objects(services).items() if not k.startswith("changes/_")}
    keys = sorted(stored)
    assert [k.split("/")[1:3] for k in keys] == [[ALICE, "slips"], [BOB, "slips"]]
    alice = [json.loads(line) for line in gzip.decompress(stored[keys[0]]).splitlines()]
    assert [(c["seq"], c["event"], c["ms"]) for c in alice] == [
        ("101", "INSERT", 1_765_000_000_000),
        ("103", "MODIFY", 1_765_000_001_500),
    ]
    assert alice[0]["old"] is None and alice[0]["new"]["memo"] == {"S": "lunch"}
    segment = parse_segment(keys[0])
    assert segment is not None
    assert (segment.first_seq, segment.last_seq) == (101, 103)
    assert (segment.first_ms, segment.last_ms) == (1_765_000_000_000, 1_765_000_001_500)
    # The log is complete from the first change the recorder saw.
    assert services.changes.since("slips") == 1_765_000_000_000
    assert services.changes.since("balances") is None


def test_a_redelivered_batch_changes_nothing(services: Services) -> None:
    batch = {"Records": [record(services, 7), record(services, 8, user=BOB)]}
    services.recorder.handle(batch)
    first = objects(services)

    # Delivered again, by a fresh container (as after a timeout), and in pieces.
    again = Recorder(services.changes, services.settings.data_tables, now=services.now)
    again.handle(batch)
    again.handle({"Records": batch["Records"][:1]})

    assert {k: v for k, v in objects(services).items() if k in first} == first
    assert [c.seq for c in services.changes.changes(ALICE)] == [7]
    assert [c.seq for c in services.changes.changes(BOB)] == [8]


class FailingS3:
    """The bucket, failing every PutObject for one user's prefix."""

    def __init__(self, s3: Any, failing: str) -> None:
        self._s3 = s3
        self._failing = failing

    def put_object(self, **kwargs: Any) -> Any:
        if self._failing in kwargs["Key"]:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "busy"}}, "PutObject")
        return self._s3.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)


def test_a_write_that_fails_reports_the_lowest_record_not_written(services: Services) -> None:
    log = ChangeLog(FailingS3(services.clients.s3, BOB), services.settings.export_bucket)  # type: ignore[arg-type]
    recorder = Recorder(log, services.settings.data_tables, now=services.now)
    batch = {
        "Records": [
            record(services, 1),
            record(services, 2, user=BOB),
            record(services, 3),
            record(services, 4, user=BOB, sk="2026-12-03#0001"),
        ]
    }

    assert recorder.handle(batch) == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    # Lambda delivers again from record 2: Alice's 3 comes twice, and counts once.
    services.recorder.handle({"Records": batch["Records"][1:]})
    assert [c.seq for c in services.changes.changes(ALICE)] == [1, 3]
    assert [c.seq for c in services.changes.changes(BOB)] == [2, 4]


@pytest.mark.parametrize(
    "event",
    [None, {}, [], "text", {"Records": None}, {"Records": []}, {"Records": "x"}, {"foo": 1}],
)
def test_an_event_of_no_known_shape_is_answered_without_failures(
    services: Services, event: Any
) -> None:
    assert services.recorder.handle(event) == {"batchItemFailures": []}
    assert objects(services) == {}


def test_a_record_the_log_cannot_hold_fails_from_that_record(services: Services) -> None:
    keys_only = record(services, 5)
    del keys_only["dynamodb"]["NewImage"], keys_only["dynamodb"]["OldImage"]
    other_table = record(services, 6)
    other_table["eventSourceARN"] = "arn:aws:dynamodb:ap-northeast-1:1:table/other/stream/x"

    for bad in (keys_only, other_table, {**record(services, 9), "eventName": "WHATEVER"}):
        answer = services.recorder.handle({"Records": [record(services, 4), bad]})
        assert answer == {
            "batchItemFailures": [{"itemIdentifier": bad["dynamodb"]["SequenceNumber"]}]
        }
    # A record without even a sequence number fails the whole batch.
    answer = services.recorder.handle(
        {"Records": [record(services, 4), {"eventSource": "aws:dynamodb"}]}
    )
    assert answer == {"batchItemFailures": [{"itemIdentifier": ""}]}


def test_a_batch_given_up_on_becomes_a_gap(services: Services) -> None:
    lost = [record(services, 11, at=T0 + 60), record(services, 12, at=T0 + 90)]
    event = dead_letter_event(lost, stream_arn(services), "shardId-1", "RetryAttemptsExhausted")

    assert services.recorder.handle(event) == {"batchItemFailures": []}

    (gap,) = services.changes.gaps("slips")
    assert (gap.first_ms, gap.last_ms) == (1_765_000_060_000, 1_765_000_090_000)
    assert services.changes.gaps("balances") == []
    # A message naming no batch is not a gap (and not retried for ever).
    junk = {"Records": [{"messageId": "m", "eventSource": "aws:sqs", "body": "{}"}]}
    assert services.recorder.handle(junk) == {"batchItemFailures": []}
    assert len(services.changes.gaps("slips")) == 1


def test_the_logs_start_is_kept_and_refreshed_not_moved(services: Services) -> None:
    services.recorder.handle({"Records": [record(services, 1, at=T0)]})
    later = Recorder(services.changes, services.settings.data_tables, now=services.now)
    later.handle({"Records": [record(services, 2, at=T0 + 3600)]})

    assert services.changes.since("slips") == 1_765_000_000_000
    head = services.clients.s3.head_object(
        Bucket=services.settings.export_bucket, Key=since_key("slips")
    )
    assert head["ContentLength"] > 0


def test_the_local_poller_delivers_moto_stream_records_as_lambda_would(
    services: Services,
) -> None:
    dynamodb = services.clients.dynamodb
    table = services.settings.slips_table
    poller = LocalRecorder(services)
    dynamodb.put_item(TableName=table, Item=item(ALICE, "2026-12-01#0001", "lunch"))
    dynamodb.put_item(TableName=table, Item=item(ALICE, "2026-12-01#0001", "dinner"))
    dynamodb.delete_item(
        TableName=table, Key={"user_id": {"S": ALICE}, "sk": {"S": "2026-12-01#0001"}}
    )
    dynamodb.put_item(TableName=services.settings.balances_table, Item=item(BOB, "2026-12", "cash"))

    assert poller.drain() == 4
    alice = services.changes.changes(ALICE)
    assert [c.event for c in alice] == ["INSERT", "MODIFY", "REMOVE"]
    assert [c.seq for c in alice] == sorted(c.seq for c in alice)
    assert alice[1].old == item(ALICE, "2026-12-01#0001", "lunch")
    assert [c.table for c in services.changes.changes(BOB)] == ["balances"]
    assert poller.drain() == 0  # nothing twice


def test_the_local_poller_gives_up_on_a_failing_batch_as_a_gap(services: Services) -> None:
    log = ChangeLog(FailingS3(services.clients.s3, ALICE), services.settings.export_bucket)  # type: ignore[arg-type]
    poller = LocalRecorder(services, Recorder(log, services.settings.data_tables, now=services.now))
    services.clients.dynamodb.put_item(
        TableName=services.settings.slips_table, Item=item(ALICE, "2026-12-01#0001", "lunch")
    )

    poller.drain()

    assert services.changes.changes(ALICE) == []
    (gap,) = services.changes.gaps("slips")
    assert gap.table == "slips"


def test_a_change_line_round_trips() -> None:
    change = Change("slips", ALICE, "2026-12-01#1", 12, 1, "INSERT", None, item(ALICE, "x", "m"))
    assert Change.from_json(change.to_json()) == change
