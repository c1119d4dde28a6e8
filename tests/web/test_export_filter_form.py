"""Export filters on the page: the user's own choices, the job they make, merge-only restore."""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
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
from webapp.jobs.vocabulary import VocabularyStore
from webapp.local.worker import LocalWorker
from webapp.services import Services
from webapp.settings import Settings
from webapp.web.auth.session import User

SignIn = Callable[[User], None]


def _export(client: FlaskClient, **fields: object) -> TestResponse:
    data: dict[str, object] = {
        "start": "2025-01-01",
        "end": "2025-12-31",
        "formats": "json",
        **fields,
    }
    data.setdefault("csrf_token", csrf_token(client))
    return client.post("/exports", data=data)


def _job_id(response: TestResponse) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)
    return parse_qs(urlsplit(response.headers["Location"]).query)["job"][0]


def _checked(page: str, name: str) -> list[str]:
    """Return the values of the ticked checkboxes called ``name``."""
    found = []
    for tag in re.findall(r"<input[^>]*>", page):
        if f'name="{name}"' in tag and "checked" in tag:
            value = re.search(r'value="([^"]*)"', tag)
            assert value
            found.append(html.unescape(value.group(1)))
    return found


def _offered(page: str, name: str) -> list[str]:
    return [
        html.unescape(v) for v in re.findall(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', page)
    ]


def _slip(sub: str, n: int, account: str, category: str, kind: str) -> dict[str, object]:
    return {
        "user_id": {"S": sub},
        "sk": {"S": f"2025-03-{1 + n:02d}#{n:03d}"},
        "date": {"S": f"2025-03-{1 + n:02d}"},
        "account": {"S": account},
        "category": {"S": category},
        "kind": {"S": kind},
        "amount": {"N": "-500"},
    }


@pytest.fixture
def store(services: Services) -> JobStore:
    return services.jobs


@pytest.fixture
def signed_in(client: FlaskClient, user: User, login: SignIn) -> User:
    login(user)
    return user


def test_the_form_offers_the_users_own_accounts_and_categories_and_the_kinds(
    client: FlaskClient, signed_in: User, clients: Clients, settings: Settings
) -> None:
    page = client.get("/").get_data(as_text=True)
    assert _offered(page, "accounts") == []
    assert "Your accounts are listed here once an export has seen them." in page
    assert _offered(page, "kinds") == ["expense", "income", "transfer"]

    VocabularyStore(clients.dynamodb, settings.app_table).add(
        signed_in.sub, {"accounts": {"現金", "card"}, "categories": {"食費"}, "kinds": {"refund"}}
    )
    page = client.get("/").get_data(as_text=True)
    assert _offered(page, "accounts") == ["card", "現金"]
    assert _offered(page, "categories") == ["食費"]
    assert _offered(page, "kinds") == ["expense", "income", "transfer", "refund"]
    assert '<details class="filters">' in page  # closed: nothing is filtered yet
    # Another user's choices are theirs alone.
    other = clients.dynamodb.get_item(
        TableName=settings.app_table,
        Key={"user_id": {"S": "someone-else"}, "sk": {"S": "vocabulary"}},
    )
    assert "Item" not in other


def test_a_filtered_export_runs_as_one_job_that_records_its_filters_and_keeps_the_choices(
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
    store: JobStore,
    worker: LocalWorker,
) -> None:
    put_items(
        clients.dynamodb,
        settings.slips_table,
        [
            _slip(signed_in.sub, 0, "cash", "食費", "expense"),
            _slip(signed_in.sub, 1, "card", "食費", "expense"),
            _slip(signed_in.sub, 2, "cash", "給与", "income"),
        ],
    )
    response = _export(client, accounts=["cash"], kinds=["expense", "income"])
    job = store.get(signed_in.sub, _job_id(response))
    assert job is not None
    assert job.params["filters"] == {"accounts": ["cash"], "kinds": ["expense", "income"]}

    # The page comes back with the choices ticked and the filters open.
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert _checked(page, "accounts") == ["cash"]
    assert _checked(page, "kinds") == ["expense", "income"]
    assert '<details class="filters" open>' in page

    worker.drain()
    done = store.get(signed_in.sub, job.id)
    assert done is not None and done.state is State.DONE, done
    assert done.result["filters"] == {"accounts": ["cash"], "kinds": ["expense", "income"]}
    assert done.result["counts"] == {"slips": 2, "balances": 0}
    body = clients.s3.get_object(Bucket=settings.export_bucket, Key=done.result["key"])["Body"]
    with zipfile.ZipFile(io.BytesIO(body.read())) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["filters"] == {"accounts": ["cash"], "kinds": ["expense", "income"]}
    # The row says what the filters kept, and so does the file name it downloads as.
    page = client.get("/").get_data(as_text=True)
    assert "Filtered: Accounts: Cash · Kinds: Expense, Income" in html.unescape(page)
    link = client.get(f"/exports/{done.result['archive_id']}")
    disposition = parse_qs(urlsplit(link.headers["Location"]).query)[
        "response-content-disposition"
    ][0]
    assert re.search(r"kakeibo_2025-01-01_2025-12-31_json_filtered_\d{8}-\d{6}\.zip", disposition)
    # What the export saw is offered next time.
    assert _offered(page, "accounts") == ["cash"]
    assert _offered(page, "categories") == ["給与", "食費"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"accounts": [f"a{n}" for n in range(101)]}, "Choose at most 100 values for one filter."),
        ({"categories": ["x" * 201]}, "A filter value is empty or too long."),
    ],
)
def test_bad_filters_are_refused_next_to_the_field_and_nothing_is_queued(
    client: FlaskClient,
    signed_in: User,
    store: JobStore,
    fields: dict[str, list[str]],
    message: str,
) -> None:
    response = _export(client, **fields)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert store.list(signed_in.sub) == []


def _filtered_preview(
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
    store: JobStore,
    worker: LocalWorker,
) -> str:
    put_items(
        clients.dynamodb, settings.slips_table, [_slip(signed_in.sub, 0, "cash", "食費", "expense")]
    )
    job = store.get(signed_in.sub, _job_id(_export(client, accounts=["cash"])))
    worker.drain()
    assert job is not None
    done = store.get(signed_in.sub, job.id)
    assert done is not None and done.state is State.DONE
    answer = client.post(
        "/restore/preview",
        data={"source": f"archive:{done.result['archive_id']}", "csrf_token": csrf_token(client)},
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)
    worker.drain()
    return urlsplit(answer.headers["Location"]).path


def test_a_filtered_archive_is_offered_merge_only_and_a_posted_replace_is_refused(
    client: FlaskClient,
    signed_in: User,
    clients: Clients,
    settings: Settings,
    store: JobStore,
    worker: LocalWorker,
) -> None:
    path = _filtered_preview(client, signed_in, clients, settings, store, worker)
    page = client.get(path).get_data(as_text=True)
    assert "It can be restored by merging only" in page
    assert "Accounts: Cash" in page
    assert 'value="replace"' not in page

    before = len(store.list(signed_in.sub))
    refused = client.post(
        f"{path}/confirm",
        data={"mode": "replace", "confirm": "replace", "csrf_token": csrf_token(client, path)},
    )
    assert refused.status_code == 400
    assert "Restore it by merging." in refused.get_data(as_text=True)
    assert len(store.list(signed_in.sub)) == before  # no restore job

    merged = client.post(
        f"{path}/confirm", data={"mode": "merge", "csrf_token": csrf_token(client, path)}
    )
    assert merged.status_code == 303
