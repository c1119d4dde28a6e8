"""Every Lambda entry point is total: any event gets an answer of ours, never an exception.

Property-based (hypothesis, a fixed seed and a bounded count): the web function's
handler with API Gateway events of any shape and text (non-Latin-1, lone
surrogates, damaged structure), the worker's with SQS events of any shape, and
the dispatcher's with any scheduler event. The counts of each family land in
``test-artifacts/property-counts.json``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from apig_wsgi import make_lambda_handler
from flask import Flask
from hypothesis import given, seed
from hypothesis import strategies as st
from support import OFFLINE, SEED, Tally, make_v2_event, property_settings

from webapp import create_app
from webapp import dispatcher_handler as dispatcher_module
from webapp import worker_handler as worker_module
from webapp.aws import Clients
from webapp.gateway import guard, wsgi_text
from webapp.jobs.queue import JobMessage
from webapp.settings import Settings
from webapp.web.security import HEADERS

#: Any text, lone surrogates and characters beyond Latin-1 included.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=30)
#: Text a browser could send in a URL or header, and text none could.
SOME_TEXT = st.one_of(ANY_TEXT, st.text(max_size=30), st.sampled_from(["", "日本", "\udc80", "é"]))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=8,
)
DROP = object()


@pytest.fixture(scope="module")
def app() -> Flask:
    """Return an app that never reaches AWS: no generated event has a live session."""
    return create_app(OFFLINE)


def _paths(app: Flask) -> list[str]:
    """Return every route of the app with its variables as they are written."""
    return sorted({rule.rule for rule in app.url_map.iter_rules()})


@st.composite
def api_events(draw: st.DrawFn, paths: list[str]) -> dict[str, Any]:
    """Draw an API Gateway payload 2.0 event: well formed or not, with any text in it."""
    route = draw(st.sampled_from(paths))
    path = re.sub(r"<[^>]+>", lambda _: draw(SOME_TEXT), route)
    if draw(st.booleans()):
        path = "/" + draw(SOME_TEXT)
    method = draw(st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS"]))
    headers = draw(
        st.dictionaries(st.sampled_from(HEADER_NAMES) | SOME_TEXT, SOME_TEXT, max_size=4)
    )
    event = make_v2_event(
        method=method,
        path=path,
        query=draw(SOME_TEXT),
        headers=headers,
        cookies=[
            f"{k}={v}" for k, v in draw(st.lists(st.tuples(COOKIE_NAMES, SOME_TEXT), max_size=3))
        ],
        body=draw(st.none() | st.binary(max_size=60)),
    )
    if event.get("body") is not None and draw(st.booleans()):
        event["isBase64Encoded"], event["body"] = False, draw(SOME_TEXT)
    if draw(st.integers(0, 3)) == 0:  # a quarter of the events are damaged besides
        damage = st.tuples(st.sampled_from(PLACES), st.just(DROP) | JSON)
        for where, value in draw(st.lists(damage, min_size=1, max_size=2)):
            _change(event, where, value)
    return event


HEADER_NAMES = [
    "content-type",
    "origin",
    "referer",
    "accept-language",
    "cookie",
    "sec-fetch-site",
    "host",
    "x-forwarded-proto",
    "content-length",
]
COOKIE_NAMES = st.sampled_from(["session", "lang", "x", ""])
PLACES = [
    ("version",),
    ("rawPath",),
    ("rawQueryString",),
    ("headers",),
    ("cookies",),
    ("body",),
    ("isBase64Encoded",),
    ("requestContext",),
    ("requestContext", "http"),
    ("requestContext", "http", "method"),
    ("requestContext", "http", "sourceIp"),
]


def _change(event: dict[str, Any], where: tuple[str, ...], value: object) -> None:
    target: Any = event
    for name in where[:-1]:
        target = target.get(name) if isinstance(target, dict) else None
    if not isinstance(target, dict):
        return
    if value is DROP:
        target.pop(where[-1], None)
    else:
        target[where[-1]] = copy.deepcopy(value)


def _ours(response: object) -> bool:
    """Return whether ``response`` is a payload 2.0 answer the app (or the guard) made."""
    if not isinstance(response, dict) or not isinstance(response.get("statusCode"), int):
        return False
    headers = {str(k).lower(): v for k, v in (response.get("headers") or {}).items()}
    return all(headers.get(name.lower()) == value for name, value in HEADERS.items())


WEB = Tally("web function: API Gateway events")


@seed(SEED)
@property_settings(400)
@given(data=st.data())
def test_the_web_handler_answers_any_event_with_a_page_of_ours(app: Flask, data: Any) -> None:
    handler = guard(app, make_lambda_handler(app, binary_support=True))
    event = data.draw(api_events(_paths(app)))
    WEB.ran += 1

    response = handler(event, None)

    assert _ours(response), response
    assert response["statusCode"] != 500, (event, response.get("body", "")[:300])
    WEB.answered += 1


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    for tally in (WEB, WORKER, DISPATCHER):
        if tally.ran:
            tally.write()


@pytest.mark.parametrize(
    ("text", "url", "expected"),
    [
        ("/日本", True, "/%E6%97%A5%E6%9C%AC"),
        ("/\udc80", True, "/%EF%BF%BD"),
        ("a=é&b=1", True, "a=%C3%A9&b=1"),
        ("plain", False, "plain"),
        ("é", False, "é"),  # Latin-1 already: what WSGI expects
        ("日", False, "æ\x97¥"),  # its UTF-8 bytes, one character each
        ("\ud800", False, "ï¿½"),
    ],
)
def test_text_wsgi_cannot_carry_becomes_what_a_server_would_have_received(
    text: str, url: bool, expected: str
) -> None:
    assert wsgi_text(text, url=url) == expected


@pytest.mark.parametrize(
    "change",
    [
        {"path": "/日本"},
        {"path": "/login\udc80"},
        {"query": "next=日本"},
        {"query": "a=\ud800"},
        {"cookies": ["session=\udcff"]},
        {"cookies": ["lang=日本"]},
        {"headers": {"accept-language": "\udcff"}},
    ],
)
def test_the_shapes_that_raised_now_get_a_page_of_ours(app: Flask, change: dict[str, Any]) -> None:
    handler = guard(app, make_lambda_handler(app, binary_support=True))
    response = handler(make_v2_event(**change), None)
    assert _ours(response)
    assert response["statusCode"] in {200, 302, 400, 404}


def test_a_text_body_with_a_lone_surrogate_gets_a_page_of_ours(app: Flask) -> None:
    event = make_v2_event(
        method="POST",
        path="/login",
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=b"email=a",
        base64_body=False,
    )
    event["body"] = "email=\udc80"
    response = guard(app, make_lambda_handler(app, binary_support=True))(event, None)
    assert _ours(response)
    assert response["statusCode"] == 400


# --- the worker ----------------------------------------------------------------------------------


@pytest.fixture
def lambda_env(settings: Settings, clients: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set the environment serverless.yml gives the worker and dispatcher, on moto."""
    clients.ssm.put_parameter(Name="/kakeibo/dev/archive-key", Value="k" * 64, Type="SecureString")
    for name, value in {
        "EXPORT_BUCKET": settings.export_bucket,
        "SLIPS_TABLE": settings.slips_table,
        "BALANCES_TABLE": settings.balances_table,
        "COGNITO_USER_POOL_ID": settings.cognito_user_pool_id,
        "COGNITO_CLIENT_ID": settings.cognito_client_id,
        "APP_TABLE": settings.app_table,
        "JOBS_QUEUE_URL": settings.jobs_queue_url,
        "SECRET_KEY_PARAMETER": "/never/read/by/these/functions",
        "ARCHIVE_KEY_PARAMETER": "/kakeibo/dev/archive-key",
        "AWS_REGION": settings.region,
        "AWS_ENDPOINT_URL": str(settings.endpoint_url),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(worker_module, "_worker", None)
    monkeypatch.setattr(dispatcher_module, "_services", None, raising=False)


MESSAGE_BODIES = st.one_of(
    ANY_TEXT,
    st.builds(lambda u, j: JobMessage(u, j).to_json(), st.text(min_size=1), st.text(min_size=1)),
    JSON.map(json.dumps),
)
RECORDS = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {},
        optional={"messageId": JSON | st.text(max_size=8), "body": JSON | MESSAGE_BODIES},
    ),
)
SQS_EVENTS = st.one_of(
    JSON,
    st.fixed_dictionaries({"Records": JSON}),
    st.fixed_dictionaries({"Records": st.lists(RECORDS, max_size=3)}),
)
WORKER = Tally("worker function: SQS events")


@seed(SEED)
@property_settings(150)
@given(event=SQS_EVENTS)
def test_the_worker_handler_answers_any_event_and_reports_what_it_cannot_read(
    lambda_env: None, event: Any
) -> None:
    WORKER.ran += 1
    answer = worker_module.handler(copy.deepcopy(event), None)

    assert set(answer) == {"batchItemFailures"}
    reported = [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]
    assert all(isinstance(message_id, str) and message_id for message_id in reported)
    records = event.get("Records") if isinstance(event, dict) else None
    ids = (
        [r.get("messageId") for r in records if isinstance(r, dict)]
        if isinstance(records, list)
        else []
    )
    assert set(reported) <= {i for i in ids if isinstance(i, str)}
    WORKER.answered += 1


@pytest.mark.parametrize(
    "event",
    [
        None,
        "Records",
        {"Records": "abc"},
        {"Records": [None, 7, "x"]},
        {"Records": [{"messageId": ["m"], "body": {"v": 1}}]},
        {"Records": {"messageId": "m"}},
    ],
)
def test_events_that_raised_in_the_worker_are_logged_not_raised(
    lambda_env: None, event: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert worker_module.handler(event, None) == {"batchItemFailures": []}
    assert "ERROR" in {record.levelname for record in caplog.records}


def test_a_record_without_a_text_body_is_reported_so_it_reaches_the_dead_letter_queue(
    lambda_env: None,
) -> None:
    event = {"Records": [{"messageId": "m-1", "body": {"not": "text"}}, {"messageId": "m-2"}]}
    answer = worker_module.handler(event, None)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]}


# --- the dispatcher ------------------------------------------------------------------------------

SCHEDULER_EVENTS = st.one_of(
    JSON,
    st.fixed_dictionaries({"time": ANY_TEXT | JSON}),
    st.fixed_dictionaries(
        {"time": st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat())}
    ),
)
DISPATCHER = Tally("dispatcher function: scheduler events")


@seed(SEED)
@property_settings(60)
@given(event=SCHEDULER_EVENTS)
def test_the_dispatcher_handler_answers_any_event(lambda_env: None, event: Any) -> None:
    DISPATCHER.ran += 1
    answer = dispatcher_module.handler(copy.deepcopy(event), None)
    assert answer == {"queued": 0, "skipped": 0}  # nobody has turned backups on
    DISPATCHER.answered += 1


@pytest.mark.parametrize(
    "time", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "yesterday", 7]
)
def test_a_time_that_exists_in_no_zone_dispatches_today(lambda_env: None, time: object) -> None:
    assert dispatcher_module.handler({"time": time}, None) == {"queued": 0, "skipped": 0}
