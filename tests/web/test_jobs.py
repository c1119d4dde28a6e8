"""Export jobs on the page: submit, the per-user limit, the status JSON, cancelling, isolation."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from support import csrf_token
from werkzeug.test import TestResponse

from webapp.archive.dynamo import put_items
from webapp.aws import Clients
from webapp.jobs.job import State
from webapp.jobs.store import JobStore
from webapp.local.worker import LocalWorker
from webapp.services import Services
from webapp.settings import Settings
from webapp.web.auth.session import User

SignIn = Callable[[User], None]


def _export(client: FlaskClient, **fields: str) -> TestResponse:
    data = {"start": "2025-01-01", "end": "2025-12-31", "formats": "both", **fields}
    data.setdefault("csrf_token", csrf_token(client))
    return client.post("/exports", data=data)


def _job_id(response: TestResponse) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)
    return parse_qs(urlsplit(response.headers["Location"]).query)["job"][0]


def _waiting(clients: Clients, settings: Settings) -> int:
    attributes = clients.sqs.get_queue_attributes(
        QueueUrl=settings.jobs_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


@pytest.fixture
def store(services: Services) -> JobStore:
    return services.jobs


def test_submit_records_a_queued_job_and_sends_one_message(
    client: FlaskClient,
    user: User,
    login: SignIn,
    clients: Clients,
    settings: Settings,
    store: JobStore,
) -> None:
    login(user)
    job_id = _job_id(_export(client, start="2025-03-01", end="2025-03-31", formats="json"))

    (job,) = store.list(user.sub)
    assert (job.id, job.state, job.kind) == (job_id, State.QUEUED, "export")
    assert job.params == {
        "start": "2025-03-01",
        "end": "2025-03-31",
        "formats": ["json"],
        "csv_encoding": "utf-8-sig",
    }
    assert _waiting(clients, settings) == 1
    (message,) = clients.sqs.receive_message(QueueUrl=settings.jobs_queue_url)["Messages"]
    assert message["Body"] == f'{{"v": 1, "user_id": "{user.sub}", "job_id": "{job_id}"}}'


def test_a_third_unfinished_job_is_refused_with_429_and_nothing_queued(
    client: FlaskClient,
    user: User,
    login: SignIn,
    clients: Clients,
    settings: Settings,
    store: JobStore,
    worker: LocalWorker,
) -> None:
    login(user)
    _job_id(_export(client))
    _job_id(_export(client))

    refused = _export(client)

    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "You already have 2 exports in progress." in page
    assert len(store.list(user.sub)) == 2 and _waiting(clients, settings) == 2
    # Once they are done, the next one is welcome again.
    worker.drain()
    _job_id(_export(client))


def test_the_limit_follows_the_setting(
    settings: Settings, make_user: Callable[[str], User]
) -> None:
    from dataclasses import replace

    from webapp import create_app

    client = create_app(replace(settings, max_active_jobs=1)).test_client()
    alice = make_user("alice@example.com")
    with client.session_transaction() as session:
        session.update(sub=alice.sub, email=alice.email, exp=2_000_000_000)
    _job_id(_export(client))
    refused = _export(client)
    assert refused.status_code == 429
    assert "You already have 1 export in progress." in refused.get_data(as_text=True)


def test_the_status_json_follows_the_job_to_its_archive_row(
    client: FlaskClient,
    user: User,
    login: SignIn,
    clients: Clients,
    settings: Settings,
    worker: LocalWorker,
) -> None:
    put_items(
        clients.dynamodb,
        settings.slips_table,
        [{"user_id": {"S": user.sub}, "sk": {"S": f"2025-02-0{n}#x"}} for n in range(1, 4)],
    )
    login(user)
    job_id = _job_id(_export(client))

    queued = client.get(f"/jobs/{job_id}")
    assert queued.status_code == 200
    assert queued.headers["Content-Type"] == "application/json"
    assert queued.headers["Cache-Control"] == "no-store"
    assert queued.json == {
        "id": job_id,
        "state": "queued",
        "unfinished": True,
        "text": "Waiting to start…",
        "progress": {"slips": 0, "balances": 0},
    }

    worker.drain()
    done = client.get(f"/jobs/{job_id}").json
    assert done is not None
    assert done["state"] == "done" and done["unfinished"] is False
    assert re.fullmatch(r"Exported 3 slips and 0 balances \(\d+(\.\d)? KB\)\.", done["text"])
    assert done["progress"] == {"slips": 3, "balances": 0}
    row = done["row"]
    assert row.startswith(f'<tr id="archive-{done["archive_id"]}" class="archive archive--new">')
    assert f'href="/exports/{done["archive_id"]}"' in row
    assert f'href="/exports/{done["archive_id"]}/delete"' in row
    assert "CSV + DynamoDB JSON" in row and "3 slips and 0 balances" in row


def test_an_empty_period_is_said_so_after_the_export(
    client: FlaskClient, user: User, login: SignIn, worker: LocalWorker
) -> None:
    login(user)
    job_id = _job_id(_export(client, start="2031-01-01", end="2031-01-31"))
    worker.drain()
    page = client.get(f"/?job={job_id}").get_data(as_text=True)
    assert "This period has no slips or balances" in page


def test_the_page_shows_progress_and_refreshes_itself_only_while_unfinished(
    client: FlaskClient, user: User, login: SignIn, store: JobStore, worker: LocalWorker
) -> None:
    from datetime import UTC, datetime

    login(user)
    job_id = _job_id(_export(client))
    (job,) = store.list(user.sub)
    running = store.claim(job, datetime.now(UTC))
    assert running is not None
    store.report(running, {"slips": 12_400, "balances": 0}, datetime.now(UTC))

    page = client.get("/").get_data(as_text=True)
    assert f'id="job-{job_id}" class="job job--running"' in page
    assert f'data-status-url="/jobs/{job_id}"' in page
    assert "Exporting… 12,400 slips so far" in page
    assert f'action="/jobs/{job_id}/cancel"' in page
    assert (
        f'<noscript><meta http-equiv="refresh" content="2; url=/?refresh=1#job-{job_id}">'
        "</noscript>" in page
    )
    again = client.get("/?refresh=7").get_data(as_text=True)
    assert f'content="2; url=/?refresh=8#job-{job_id}"' in again
    assert '<script src="/static/jobs.js" defer></script>' in page

    store.finish(running, {"archive_id": "x", "counts": {}, "size": 0}, {}, datetime.now(UTC))
    idle = client.get("/").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in idle and f"job-{job_id}" not in idle


def test_the_script_is_served_from_our_origin(client: FlaskClient) -> None:
    script = client.get("/static/jobs.js")
    assert script.status_code == 200
    assert "data-status-url" in script.get_data(as_text=True)


def test_cancel_from_the_page_stops_the_job_and_the_worker_then_does_nothing(
    client: FlaskClient,
    user: User,
    login: SignIn,
    clients: Clients,
    settings: Settings,
    store: JobStore,
    worker: LocalWorker,
) -> None:
    login(user)
    job_id = _job_id(_export(client))

    response = client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf_token(client)})

    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert "The export was cancelled. Nothing was saved." in client.get("/").get_data(True)
    assert store.get(user.sub, job_id).state is State.CANCELLED  # type: ignore[union-attr]
    assert worker.drain() == 1
    assert store.get(user.sub, job_id).state is State.CANCELLED  # type: ignore[union-attr]
    listed = clients.s3.list_objects_v2(Bucket=settings.export_bucket).get("Contents", [])
    assert listed == []
    again = client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf_token(client)})
    assert again.status_code == 303
    assert "That export had already finished." in client.get("/").get_data(True)


def test_cancel_needs_the_csrf_token(
    client: FlaskClient, user: User, login: SignIn, store: JobStore
) -> None:
    login(user)
    job_id = _job_id(_export(client))
    assert client.post(f"/jobs/{job_id}/cancel").status_code == 400
    assert store.get(user.sub, job_id).state is State.QUEUED  # type: ignore[union-attr]


def test_another_user_cannot_see_poll_or_cancel_a_job(
    client: FlaskClient,
    make_user: Callable[[str], User],
    login: SignIn,
    store: JobStore,
) -> None:
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    login(alice)
    job_id = _job_id(_export(client))

    login(bob)
    assert f"job-{job_id}" not in client.get("/").get_data(as_text=True)
    assert client.get(f"/jobs/{job_id}").status_code == 404
    assert (
        client.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf_token(client)}).status_code
        == 404
    )
    assert client.get("/jobs/no-such-job").status_code == 404
    assert store.get(alice.sub, job_id).state is State.QUEUED  # type: ignore[union-attr]


def test_the_status_endpoint_without_a_session_sends_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/jobs/20261202T000000Z-0000abcd")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"


def test_a_queue_that_refuses_the_message_leaves_a_failed_job_and_says_so(
    client: FlaskClient, user: User, login: SignIn, store: JobStore, app: object
) -> None:
    from botocore.stub import Stubber

    login(user)
    token = csrf_token(client)
    clients: Clients = app.extensions["kakeibo.services"].clients  # type: ignore[attr-defined]
    with Stubber(clients.sqs) as stub:
        stub.add_client_error("send_message", "AWS.SimpleQueueService.NonExistentQueue")
        response = _export(client, csrf_token=token)
    assert response.status_code == 503
    assert "The export could not be started just now. Try again." in response.get_data(True)
    (job,) = store.list(user.sub)
    assert job.state is State.FAILED
