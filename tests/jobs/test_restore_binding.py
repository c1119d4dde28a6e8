"""A restore carries out exactly the check it was confirmed from, once; an undo is exact.

These run the jobs as the worker's Lambda handler runs them (SQS events into
``worker_handler.handler``'s worker), with no page in between, so what they
prove holds whoever queues a restore job.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from support import run_export

from webapp.archive.dates import DateRange
from webapp.archive.dynamo import put_items
from webapp.jobs import preview, restore
from webapp.jobs.job import Job, State, new_job_id
from webapp.jobs.queue import JobMessage
from webapp.jobs.restore import REPLACE, RestoreParams
from webapp.jobs.sources import RestoreSource
from webapp.jobs.submit import submit
from webapp.jobs.worker import Worker
from webapp.services import Services

SUB = "b1d1e000-0000-4000-8000-00000000b1d1"
MAY = DateRange(date(2025, 5, 1), date(2025, 5, 31))
Item = dict[str, Any]


def slip(n: int, memo: str = "", day: int | None = None) -> Item:
    return {
        "user_id": {"S": SUB},
        "sk": {"S": f"2025-05-{day or 1 + n % 28:02d}#{n:04d}"},
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


def archive(services: Services) -> str:
    """Export May 2025 with the real engine, signed; return the archive id."""
    made = run_export(
        dynamodb=services.clients.dynamodb,
        s3=services.clients.s3,
        bucket=services.settings.export_bucket,
        tables=services.settings.data_tables,
        sub=SUB,
        date_range=MAY,
        signing_key=services.keyring.current(),
    )
    return str(made.archive_id)


def run_queued(services: Services) -> None:
    """Deliver every queued job message to the worker as Lambda would (one SQS event each)."""
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
    assert done is not None and done.state is State.DONE, done and done.error
    return done


def confirm(services: Services, checked: Job, mode: str = REPLACE) -> Job:
    """Do what the page's confirm does: take the check for a new restore job, queue it."""
    restore_id = new_job_id(services.now())
    assert services.jobs.consume(checked, restore_id, services.now()) is None
    params = RestoreParams(preview=checked.id, mode=mode)  # type: ignore[arg-type]
    return submit(services, SUB, restore.KIND, params, job_id=restore_id)


def outcome(services: Services, job: Job) -> Job:
    run_queued(services)
    found = services.jobs.get(SUB, job.id)
    assert found is not None
    return found


@pytest.fixture
def seeded(services: Services) -> Iterator[Services]:
    put_items(services.clients.dynamodb, services.settings.slips_table, [slip(n) for n in range(8)])
    yield services


@pytest.mark.parametrize("mode", ["merge", "replace"])
def test_the_worker_refuses_a_restore_whose_period_changed_since_its_check(
    seeded: Services, mode: str
) -> None:
    services = seeded
    source = RestoreSource("archive", archive(services))
    put_items(services.clients.dynamodb, services.settings.slips_table, [slip(3, "edited")])
    checked = check(services, source)
    put_items(services.clients.dynamodb, services.settings.slips_table, [slip(20)])  # later
    before = table(services)

    done = outcome(services, confirm(services, checked, mode))

    assert done.state is State.FAILED
    assert done.error and "changed in this period after the check" in done.error
    assert table(services) == before


def test_the_worker_refuses_a_second_restore_of_one_check(seeded: Services) -> None:
    services = seeded
    source = RestoreSource("archive", archive(services))
    put_items(services.clients.dynamodb, services.settings.slips_table, [slip(3, "edited")])
    checked = check(services, source)
    first = confirm(services, checked)
    # A restore job queued for the same check without taking it (not the page's doing).
    forged = submit(services, SUB, restore.KIND, RestoreParams(preview=checked.id, mode=REPLACE))

    assert outcome(services, first).state is State.DONE
    after = table(services)
    refused = outcome(services, forged)
    assert refused.state is State.FAILED
    assert refused.error and "already been used" in refused.error
    assert table(services) == after


def test_the_worker_refuses_a_check_confirmed_too_late(seeded: Services) -> None:
    services = seeded
    checked = check(services, RestoreSource("archive", archive(services)))
    late = services.now().replace(year=services.now().year + 1)
    services.clock = lambda: late  # the restore job is made a year after the check
    before = table(services)

    done = outcome(services, confirm(services, checked))

    assert done.state is State.FAILED
    assert done.error and "minutes old" in done.error and table(services) == before


def test_an_undo_check_is_carried_out_only_as_a_replace(seeded: Services) -> None:
    services = seeded
    source = RestoreSource("archive", archive(services))
    put_items(services.clients.dynamodb, services.settings.slips_table, [slip(3, "edited")])
    restored = outcome(services, confirm(services, check(services, source)))
    undo = RestoreSource("archive", str(restored.result["undo_archive_id"]))
    checked = check(services, undo, undoing=restored.id)
    before = table(services)

    done = outcome(services, confirm(services, checked, "merge"))

    assert done.state is State.FAILED and table(services) == before


# Slips the property test changes: five keys in May (the archive's period), one in June.
KEYS = [(n, None) for n in range(5)] + [(9, 30)]
changes = st.lists(
    st.tuples(st.sampled_from(range(len(KEYS))), st.sampled_from(["put", "edit", "delete"])),
    max_size=6,
)


@hypothesis_settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(before_archive=changes, after_archive=changes)
def test_undo_puts_the_table_back_exactly_as_it_was_before_the_restore(
    services: Services, before_archive: list[tuple[int, str]], after_archive: list[tuple[int, str]]
) -> None:
    """Whatever the archive holds and whatever changed since, restore then undo is a no-op."""
    # Four jobs an example: past one user's daily quota, which is not what this is about.
    services = Services(replace(services.settings, max_jobs_per_day=10_000), services.clients)
    dynamodb, name = services.clients.dynamodb, services.settings.slips_table
    for item in table(services):  # hypothesis reuses the function's moto: start afresh
        dynamodb.delete_item(TableName=name, Key={"user_id": item["user_id"], "sk": item["sk"]})
    put_items(dynamodb, name, [slip(n, day=day) for n, day in KEYS])  # every key, to change

    def apply(steps: list[tuple[int, str]], tag: str) -> None:
        for index, (what) in steps:
            n, day = KEYS[index]
            if what == "delete":
                dynamodb.delete_item(
                    TableName=name, Key={k: slip(n, day=day)[k] for k in ("user_id", "sk")}
                )
            else:
                memo = f"{tag} {what} {n}"
                put_items(
                    dynamodb, name, [slip(n, memo, day) if what == "edit" else slip(n, day=day)]
                )

    apply(before_archive, "before")
    source = RestoreSource("archive", archive(services))
    apply(after_archive, "after")
    first = table(services)

    restored = outcome(services, confirm(services, check(services, source)))
    assert restored.state is State.DONE, restored.error
    if "undo_archive_id" not in restored.result:  # nothing to write: nothing to undo
        assert table(services) == first
        return
    undo = RestoreSource("archive", str(restored.result["undo_archive_id"]))
    undone = outcome(services, confirm(services, check(services, undo, undoing=restored.id)))

    assert undone.state is State.DONE, undone.error
    assert table(services) == first


def test_the_worker_handler_answers_a_restore_message_it_never_saw_queued(
    services: Services,
) -> None:
    answer = Worker(services).handle(
        {"Records": [{"messageId": "m", "body": JobMessage(SUB, "no-such-job").to_json()}]}
    )
    assert answer == {"batchItemFailures": []}
