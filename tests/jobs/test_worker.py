"""The worker over moto's SQS, DynamoDB and S3: claim, run, report, and survive redelivery."""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support import Spy, leftovers

from webapp import worker_handler as worker_module
from webapp.archive.dynamo import put_items
from webapp.archive.ids import ArchiveId, archive_key
from webapp.aws import Clients
from webapp.jobs import export
from webapp.jobs.job import INTERRUPTED, Job, State, new_job_id
from webapp.jobs.queue import JobMessage, JobQueue
from webapp.jobs.reporter import Reporter
from webapp.jobs.store import JobStore
from webapp.jobs.worker import Worker
from webapp.local.worker import LocalWorker
from webapp.services import Services
from webapp.settings import Settings

ALICE = "a11ce000-0000-4000-8000-00000000a11c"
BOB = "b0b00000-0000-4000-8000-000000000b0b"


def _slips(sub: str, count: int, *, big: bool = False) -> list[dict[str, Any]]:
    return [
        {
            "user_id": {"S": sub},
            "sk": {"S": f"2025-05-{1 + n % 28:02d}#{n:05d}"},
            "amount": {"N": str(-n)},
            **({"receipt": {"B": os.urandom(300_000)}} if big else {}),
        }
        for n in range(count)
    ]


def _balances(sub: str, count: int) -> list[dict[str, Any]]:
    return [
        {"user_id": {"S": sub}, "sk": {"S": f"2025-{1 + n % 12:02d}-28#a{n}"}} for n in range(count)
    ]


@pytest.fixture
def store(services: Services) -> JobStore:
    return services.jobs


def submit(
    store: JobStore,
    clients: Clients,
    settings: Settings,
    sub: str = ALICE,
    *,
    formats: tuple[str, ...] = ("csv", "json"),
    now: datetime | None = None,
) -> Job:
    """Do what POST /exports does: record a queued job and send its message."""
    created = now or datetime.now(UTC)
    job = store.create(
        Job(
            user_id=sub,
            id=new_job_id(created),
            kind=export.NAME,
            state=State.QUEUED,
            created_at=created,
            params={"start": "2025-01-01", "end": "2025-12-31", "formats": list(formats)},
            progress={"slips": 0, "balances": 0},
        )
    )
    JobQueue(clients.sqs, settings.jobs_queue_url).send(JobMessage(sub, job.id))
    return job


def _messages_waiting(clients: Clients, settings: Settings) -> int:
    attributes = clients.sqs.get_queue_attributes(
        QueueUrl=settings.jobs_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_a_submitted_job_runs_to_done_with_exact_counts_and_a_listed_archive(
    store: JobStore, clients: Clients, settings: Settings, worker: LocalWorker
) -> None:
    put_items(clients.dynamodb, settings.slips_table, _slips(ALICE, 130) + _slips(BOB, 7))
    put_items(clients.dynamodb, settings.balances_table, _balances(ALICE, 12))
    job = submit(store, clients, settings)

    assert worker.drain() == 1

    done = store.get(ALICE, job.id)
    assert done is not None and done.state is State.DONE
    assert done.result["counts"] == {"slips": 130, "balances": 12}
    assert done.progress == {"slips": 130, "balances": 12}
    assert done.attempt == 1
    (key,), uploads = leftovers(clients, settings)
    assert uploads == []
    assert key == done.result["key"] == f"exports/{ALICE}/{done.result['archive_id']}.zip"
    body = clients.s3.get_object(Bucket=settings.export_bucket, Key=key)["Body"].read()
    assert done.result["size"] == len(body)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["user_sub"] == ALICE
    assert {t: manifest["tables"][t]["item_count"] for t in ("slips", "balances")} == {
        "slips": 130,
        "balances": 12,
    }
    assert _messages_waiting(clients, settings) == 0  # consumed
    # A finished job carries the TTL that makes DynamoDB drop it after the retention.
    raw = clients.dynamodb.get_item(
        TableName=settings.app_table, Key={"user_id": {"S": ALICE}, "sk": {"S": f"job#{job.id}"}}
    )["Item"]
    expires = datetime.fromtimestamp(int(raw["expires_at"]["N"]), UTC)
    assert timedelta(days=6) < expires - datetime.now(UTC) <= timedelta(days=7)


def test_the_same_message_delivered_twice_makes_one_archive(
    store: JobStore, clients: Clients, settings: Settings, worker: LocalWorker
) -> None:
    put_items(clients.dynamodb, settings.slips_table, _slips(ALICE, 5))
    job = submit(store, clients, settings)
    JobQueue(clients.sqs, settings.jobs_queue_url).send(JobMessage(ALICE, job.id))

    assert worker.drain() == 2

    objects, uploads = leftovers(clients, settings)
    assert len(objects) == 1 and uploads == []
    stored = store.get(ALICE, job.id)
    assert stored is not None and stored.state is State.DONE and stored.attempt == 1


def test_a_message_for_a_job_running_with_a_fresh_heartbeat_does_nothing(
    store: JobStore, clients: Clients, settings: Settings
) -> None:
    job = submit(store, clients, settings)
    running = store.claim(job, datetime.now(UTC))
    assert running is not None

    Worker(Services(settings, clients)).process(JobMessage(ALICE, job.id).to_json())

    again = store.get(ALICE, job.id)
    assert again is not None and again.state is State.RUNNING and again.attempt == 1
    assert leftovers(clients, settings) == ([], [])


def test_a_running_job_whose_worker_died_shows_failed_and_is_recorded_so(
    store: JobStore, clients: Clients, settings: Settings
) -> None:
    long_ago = datetime.now(UTC) - timedelta(seconds=settings.worker_timeout + 120)
    job = submit(store, clients, settings, now=long_ago)
    claimed = store.claim(job, long_ago)
    assert claimed is not None
    stale_after = timedelta(seconds=settings.worker_timeout + 60)

    # The page derives it without writing ...
    seen = claimed.seen_at(datetime.now(UTC), stale_after=stale_after)
    assert seen.state is State.FAILED and seen.error == INTERRUPTED
    assert store.get(ALICE, job.id).state is State.RUNNING  # type: ignore[union-attr]
    # ... and the redelivered message records it, without running the export again.
    Worker(Services(settings, clients)).process(JobMessage(ALICE, job.id).to_json())
    failed = store.get(ALICE, job.id)
    assert failed is not None and failed.state is State.FAILED
    assert failed.error == "The export was interrupted. Please export again."
    assert leftovers(clients, settings) == ([], [])


def test_a_queued_job_nobody_ran_within_the_redelivery_window_shows_failed(
    store: JobStore, clients: Clients, settings: Settings
) -> None:
    stale_after = timedelta(seconds=settings.worker_timeout + 60)
    job = submit(store, clients, settings, now=datetime.now(UTC) - 7 * stale_after)
    assert job.seen_at(datetime.now(UTC), stale_after=stale_after).state is State.FAILED
    fresh = submit(store, clients, settings)
    assert fresh.seen_at(datetime.now(UTC), stale_after=stale_after).state is State.QUEUED


@pytest.fixture
def big_data(clients: Clients, settings: Settings) -> None:
    """About 12 MB of slips: more than one 8 MiB part, so the upload is multipart."""
    put_items(clients.dynamodb, settings.slips_table, _slips(ALICE, 40, big=True))


def _faulty(clients: Clients, service: str, fail: dict[str, int]) -> Clients:
    faulty = Clients(clients.settings)
    faulty.__dict__.update(clients.__dict__)  # the same clients, already built ...
    real = getattr(clients, service)
    faulty.__dict__[service] = Spy(real, fail=fail)  # ... but one of them fails once
    return faulty


@pytest.mark.parametrize(
    ("service", "fail", "message"),
    [
        (
            "dynamodb",
            {"query": 1},
            "Your account book could not be read, so no archive was made. Please try again.",
        ),
        (
            "s3",
            {"upload_part": 2},
            "The archive could not be stored, so none was made. Please try again.",
        ),
        (
            "s3",
            {"complete_multipart_upload": 1},
            "The archive could not be stored, so none was made. Please try again.",
        ),
    ],
    ids=["query", "middle part", "complete"],
)
def test_a_fault_in_the_worker_fails_the_job_and_leaves_nothing(
    store: JobStore,
    clients: Clients,
    settings: Settings,
    big_data: None,
    service: str,
    fail: dict[str, int],
    message: str,
) -> None:
    job = submit(store, clients, settings)
    faulty = _faulty(clients, service, fail)

    answer = Worker(Services(settings, faulty)).handle(_event(job))

    # The user's failure is recorded and the message consumed, not retried.
    assert answer == {"batchItemFailures": []}
    failed = store.get(ALICE, job.id)
    assert failed is not None and failed.state is State.FAILED
    assert failed.error == message
    assert leftovers(clients, settings) == ([], [])


def _event(job: Job, message_id: str = "m-1") -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message_id,
                "body": JobMessage(job.user_id, job.id).to_json(),
                "eventSource": "aws:sqs",
            }
        ]
    }


def test_an_unreachable_job_table_is_reported_back_so_sqs_retries_that_message(
    store: JobStore, clients: Clients, settings: Settings
) -> None:
    job = submit(store, clients, settings)
    faulty = _faulty(clients, "dynamodb", {"update_item": 1})

    answer = Worker(Services(settings, faulty)).handle(_event(job, "m-42"))

    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-42"}]}
    assert store.get(ALICE, job.id).state is State.QUEUED  # type: ignore[union-attr]


def test_a_message_that_is_not_ours_is_dropped(clients: Clients, settings: Settings) -> None:
    worker = Worker(Services(settings, clients))
    for body in ("", "not json", "[]", '{"v": 2}', '{"v": 1, "user_id": "x"}', "[" * 100_000):
        answer = worker.handle({"Records": [{"messageId": "m", "body": body}]})
        assert answer == {"batchItemFailures": []}


class CancelOnPart(Spy):
    """An S3 client through which the user cancels the job as its first part goes up."""

    def __init__(self, client: Any, cancel: Any) -> None:
        super().__init__(client)
        self.cancel = cancel

    def __getattr__(self, name: str) -> Any:
        method = super().__getattr__(name)
        if name != "upload_part":
            return method

        def call(**kwargs: Any) -> Any:
            if "upload_part" not in self.names():
                self.cancel()
            return method(**kwargs)

        return call


def test_cancel_while_running_aborts_the_upload_and_lists_nothing(
    store: JobStore, clients: Clients, settings: Settings, big_data: None
) -> None:
    job = submit(store, clients, settings)
    faulty = Clients(settings)
    faulty.__dict__.update(clients.__dict__)
    spy = CancelOnPart(clients.s3, lambda: store.cancel(ALICE, job.id, datetime.now(UTC)))
    faulty.__dict__["s3"] = spy

    Worker(Services(settings, faulty), report_interval=0).process(
        JobMessage(ALICE, job.id).to_json()
    )

    cancelled = store.get(ALICE, job.id)
    assert cancelled is not None and cancelled.state is State.CANCELLED
    assert "upload_part" in spy.names() and "abort_multipart_upload" in spy.names()
    assert "complete_multipart_upload" not in spy.names()
    assert leftovers(clients, settings) == ([], [])


def test_cancel_as_the_job_finishes_takes_the_archive_back(
    store: JobStore, clients: Clients, settings: Settings
) -> None:
    put_items(clients.dynamodb, settings.slips_table, _slips(ALICE, 3))
    job = submit(store, clients, settings)
    claimed = store.claim(job, datetime.now(UTC))
    assert claimed is not None

    class Racing(JobStore):
        def finish(self, *args: Any, **kwargs: Any) -> None:
            store.cancel(ALICE, job.id, datetime.now(UTC))  # the user was a moment faster
            super().finish(*args, **kwargs)

    racing = Racing(clients.dynamodb, settings.app_table)
    services = Services(settings, clients)
    services.jobs = racing  # the one store the worker finishes with
    Worker(services).run(claimed, Reporter(racing, claimed))

    assert store.get(ALICE, job.id).state is State.CANCELLED  # type: ignore[union-attr]
    assert leftovers(clients, settings) == ([], [])


def test_progress_is_written_at_most_once_per_interval(
    store: JobStore, clients: Clients, settings: Settings
) -> None:
    job = submit(store, clients, settings)
    claimed = store.claim(job, datetime.now(UTC))
    assert claimed is not None
    ticks = iter(i * 0.25 for i in range(10_000))  # a page every quarter of a second
    reporter = Reporter(store, claimed, monotonic=lambda: next(ticks))

    for page in range(1, 41):  # 40 pages: 10 seconds
        reporter("slips", page * 1000)
        time.sleep(0.01)  # a page's work, during which a report may go out
    reporter.close()

    # Never more than one per interval (a report still in flight is not doubled).
    assert 1 <= reporter.writes <= 10
    reporter.write()  # before the archive appears: always, and synchronously
    assert reporter.writes <= 11
    stored = store.get(ALICE, job.id)
    assert stored is not None and stored.progress == {"slips": 40_000, "balances": 0}
    assert stored.heartbeat_at is not None


def test_a_report_that_finds_the_job_cancelled_stops_the_next_page(
    store: JobStore, clients: Clients, settings: Settings
) -> None:
    from webapp.jobs.job import JobStopped

    job = submit(store, clients, settings)
    claimed = store.claim(job, datetime.now(UTC))
    assert claimed is not None
    reporter = Reporter(store, claimed, interval=0)
    reporter("slips", 1)  # starts the clock (and may send a first report)
    store.cancel(ALICE, job.id, datetime.now(UTC))
    with pytest.raises(JobStopped):
        # The next report finds the job cancelled (the first one may have, if it was slow
        # enough to go out after the cancel); the page after it stops.
        for page in range(2, 1000):
            reporter("slips", page)
            time.sleep(0.01)
    reporter.close()


def test_a_worker_short_of_time_stops_the_export_and_says_so(
    store: JobStore, clients: Clients, settings: Settings
) -> None:
    put_items(clients.dynamodb, settings.slips_table, _slips(ALICE, 3))
    job = submit(store, clients, settings)

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 5_000

    Worker(Services(settings, clients)).handle(_event(job), Context())

    failed = store.get(ALICE, job.id)
    assert failed is not None and failed.state is State.FAILED
    assert failed.error == "The export took too long and was stopped. Choose a shorter period."
    assert leftovers(clients, settings) == ([], [])


@pytest.fixture
def lambda_env(
    settings: Settings, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    clients.ssm.put_parameter(Name="/kakeibo/dev/archive-key", Value="k" * 64, Type="SecureString")
    for name, value in {
        "EXPORT_BUCKET": settings.export_bucket,
        "SLIPS_TABLE": settings.slips_table,
        "BALANCES_TABLE": settings.balances_table,
        "COGNITO_USER_POOL_ID": settings.cognito_user_pool_id,
        "COGNITO_CLIENT_ID": settings.cognito_client_id,
        "APP_TABLE": settings.app_table,
        "JOBS_QUEUE_URL": settings.jobs_queue_url,
        "SECRET_KEY_PARAMETER": "/never/read/by/the/worker",
        "ARCHIVE_KEY_PARAMETER": "/kakeibo/dev/archive-key",
        "AWS_REGION": settings.region,
        "AWS_ENDPOINT_URL": str(settings.endpoint_url),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(worker_module, "_worker", None)
    yield


def test_the_lambda_handler_builds_the_worker_from_the_environment_once(
    store: JobStore, clients: Clients, settings: Settings, lambda_env: None
) -> None:
    put_items(clients.dynamodb, settings.slips_table, _slips(ALICE, 2))
    first, second = submit(store, clients, settings), submit(store, clients, settings, BOB)

    assert worker_module.handler(_event(first), None) == {"batchItemFailures": []}
    built = worker_module._worker
    assert worker_module.handler(_event(second), None) == {"batchItemFailures": []}

    assert built is not None and worker_module._worker is built
    assert store.get(ALICE, first.id).state is State.DONE  # type: ignore[union-attr]
    assert store.get(BOB, second.id).state is State.DONE  # type: ignore[union-attr]
    # The archive is signed with the SSM key's version: key id "v1".
    done = store.get(ALICE, first.id)
    assert done is not None and done.result is not None
    archive_id = ArchiveId.parse(done.result["archive_id"])
    assert archive_id is not None
    key = archive_key(ALICE, archive_id)
    body = clients.s3.get_object(Bucket=settings.export_bucket, Key=key)["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert json.loads(zf.read("manifest.sig"))["kid"] == "v1"


def test_cancelling_a_finished_job_changes_nothing(
    store: JobStore, clients: Clients, settings: Settings, worker: LocalWorker
) -> None:
    job = submit(store, clients, settings)
    worker.drain()
    assert store.cancel(ALICE, job.id, datetime.now(UTC)) is False
    assert store.get(ALICE, job.id).state is State.DONE  # type: ignore[union-attr]


def test_a_superseded_attempt_cannot_report_or_finish(
    store: JobStore, clients: Clients, settings: Settings
) -> None:
    from webapp.jobs.job import JobStopped

    job = submit(store, clients, settings)
    first = store.claim(job, datetime.now(UTC))
    assert first is not None
    stale = replace(first, attempt=first.attempt - 1)  # what an older worker would hold
    with pytest.raises(JobStopped):
        store.report(stale, {"slips": 1}, datetime.now(UTC))
    with pytest.raises(JobStopped):
        store.finish(stale, {}, {}, datetime.now(UTC))
    assert store.claim(job, datetime.now(UTC)) is None  # no longer queued
