"""A restore to a moment, through the jobs: check, confirm once, replace, undo.

The changes come through moto's real stream and the local poller's recorder, as
in local mode; the jobs run as the worker's Lambda handler runs them.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from webapp.archive.dynamo import put_items
from webapp.changes.moment import BEHIND, OUTSIDE
from webapp.jobs import preview, restore
from webapp.jobs.job import Job, State, new_job_id
from webapp.jobs.restore import MOMENT_REPLACES, REPLACE, RestoreParams
from webapp.jobs.sources import RestoreSource
from webapp.jobs.submit import submit
from webapp.jobs.worker import Worker
from webapp.local.recorder import LocalRecorder
from webapp.services import Services

SUB = "70e00000-0000-4000-8000-0000000070e0"
Item = dict[str, Any]


def slip(n: int, memo: str = "") -> Item:
    return {
        "user_id": {"S": SUB},
        "sk": {"S": f"2026-03-{1 + n:02d}#{n:04d}"},
        "amount": {"N": str(-100 - n)},
        "memo": {"S": memo or f"slip {n}"},
    }


def table(services: Services) -> list[Item]:
    found = services.clients.dynamodb.query(
        TableName=services.settings.slips_table,
        KeyConditionExpression="user_id = :u",
        ExpressionAttributeValues={":u": {"S": SUB}},
    )
    return sorted(found["Items"], key=lambda item: item["sk"]["S"])


def run_queued(services: Services) -> None:
    worker, sqs, url = Worker(services), services.clients.sqs, services.settings.jobs_queue_url
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages"):
        (message,) = messages
        event = {"Records": [{"messageId": message["MessageId"], "body": message["Body"]}]}
        assert worker.handle(event) == {"batchItemFailures": []}
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def check(services: Services, source: RestoreSource, undoing: str | None = None) -> Job:
    job = submit(services, SUB, preview.KIND, preview.PreviewParams(source, undoing))
    run_queued(services)
    done = services.jobs.get(SUB, job.id)
    assert done is not None
    return done


def carry_out(services: Services, checked: Job, mode: str = REPLACE) -> Job:
    restore_id = new_job_id(services.now())
    assert services.jobs.consume(checked, restore_id, services.now()) is None
    params = RestoreParams(preview=checked.id, mode=mode)  # type: ignore[arg-type]
    job = submit(services, SUB, restore.KIND, params, job_id=restore_id)
    run_queued(services)
    found = services.jobs.get(SUB, job.id)
    assert found is not None
    return found


def moment(at: datetime) -> RestoreSource:
    import secrets

    return RestoreSource("moment", secrets.token_hex(16), at=at.isoformat(timespec="milliseconds"))


def now_after_a_tick() -> datetime:
    time.sleep(0.01)
    at = datetime.now(UTC)
    time.sleep(0.01)
    return at


@pytest.fixture
def recorded(services: Services) -> tuple[Services, LocalRecorder]:
    quick = Services(
        replace(services.settings, changes_settle_seconds=0, max_jobs_per_day=1000),
        services.clients,
    )
    poller = LocalRecorder(quick)
    put_items(quick.clients.dynamodb, quick.settings.slips_table, [slip(n) for n in range(6)])
    # Both tables' logs must be complete: a balance is written (and recorded) too.
    quick.clients.dynamodb.put_item(
        TableName=quick.settings.balances_table,
        Item={"user_id": {"S": SUB}, "sk": {"S": "2026-03#cash"}, "balance": {"N": "1000"}},
    )
    poller.drain()
    return quick, poller


def test_a_book_is_put_back_as_it_was_at_a_moment_then_undone(
    recorded: tuple[Services, LocalRecorder],
) -> None:
    services, poller = recorded
    dynamodb, name = services.clients.dynamodb, services.settings.slips_table
    then = table(services)
    at = now_after_a_tick()
    for n in (1, 2, 3):  # three slips deleted, one edited, one added
        dynamodb.delete_item(TableName=name, Key={"user_id": {"S": SUB}, "sk": slip(n)["sk"]})
    put_items(dynamodb, name, [slip(4, "edited"), slip(9)])
    poller.drain()
    changed = table(services)

    checked = check(services, moment(at))
    assert checked.state is State.DONE, checked.error
    slips = checked.result["tables"]["slips"]
    assert (slips["new"], slips["changed"], slips["extra"]) == (3, 1, 1)
    assert checked.result["moment"] == at.isoformat(timespec="milliseconds")

    done = carry_out(services, checked)
    assert done.state is State.DONE, done.error
    assert table(services) == then
    # The upload inbox's copy has done its work.
    listed = services.clients.s3.list_objects_v2(
        Bucket=services.settings.export_bucket, Prefix="uploads/"
    )
    assert listed.get("KeyCount", 0) == 0

    # The restore's own writes are recorded too: any restore can itself be undone by a moment.
    poller.drain()
    assert len(services.changes.changes(SUB, after_ms=int(at.timestamp() * 1000))) == 5 + 5
    undo = RestoreSource("archive", str(done.result["undo_archive_id"]))
    undone = carry_out(services, check(services, undo, undoing=done.id))
    assert undone.state is State.DONE, undone.error
    assert table(services) == changed


def test_a_moment_is_only_ever_put_back_by_a_replace(
    recorded: tuple[Services, LocalRecorder],
) -> None:
    services, poller = recorded
    at = now_after_a_tick()
    put_items(services.clients.dynamodb, services.settings.slips_table, [slip(9)])
    poller.drain()
    before = table(services)

    done = carry_out(services, check(services, moment(at)), "merge")

    assert done.state is State.FAILED and done.error == MOMENT_REPLACES
    assert table(services) == before


def test_a_moment_the_log_cannot_answer_for_is_refused(
    recorded: tuple[Services, LocalRecorder],
) -> None:
    services, _ = recorded
    long_ago = datetime.now(UTC) - timedelta(days=2)

    refused = check(services, moment(long_ago))

    assert refused.state is State.FAILED
    assert refused.error == OUTSIDE
    assert (
        services.clients.s3.list_objects_v2(
            Bucket=services.settings.export_bucket, Prefix="uploads/"
        ).get("KeyCount", 0)
        == 0
    )


def test_a_book_whose_latest_change_is_not_recorded_yet_is_refused(
    recorded: tuple[Services, LocalRecorder],
) -> None:
    services, poller = recorded
    dynamodb, name = services.clients.dynamodb, services.settings.slips_table
    at = now_after_a_tick()
    put_items(dynamodb, name, [slip(2, "edited once")])
    poller.drain()
    put_items(dynamodb, name, [slip(2, "edited twice")])  # not recorded yet

    refused = check(services, moment(at))

    assert refused.state is State.FAILED and refused.error == BEHIND
