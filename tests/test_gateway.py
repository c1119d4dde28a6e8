"""Malformed API Gateway events: each shape that raised inside apig-wsgi now gets our 400 page."""

from __future__ import annotations

import contextlib
import copy
import random
from collections.abc import Callable
from typing import Any

import pytest
from apig_wsgi import make_lambda_handler
from flask import Flask
from support import OFFLINE, make_v2_event

from webapp import create_app
from webapp.gateway import guard, problem
from webapp.web.security import HEADERS

Event = dict[str, Any]


def _drop(*path: str) -> Callable[[Event], None]:
    def change(event: Event) -> None:
        target = event
        for name in path[:-1]:
            target = target[name]
        del target[path[-1]]

    return change


def _set(value: Any, *path: str) -> Callable[[Event], None]:
    def change(event: Event) -> None:
        target = event
        for name in path[:-1]:
            target = target[name]
        target[path[-1]] = value

    return change


def _form_post() -> Event:
    return make_v2_event(
        method="POST",
        path="/login",
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=b"email=a%40example.com",
    )


#: Each of these raised inside apig-wsgi, before Flask (checked below).
SHAPES: dict[str, Callable[[Event], None]] = {
    "no requestContext": _drop("requestContext"),
    "requestContext not an object": _set("nope", "requestContext"),
    "no http": _drop("requestContext", "http"),
    "http not an object": _set(["GET"], "requestContext", "http"),
    "no method": _drop("requestContext", "http", "method"),
    "no sourceIp": _drop("requestContext", "http", "sourceIp"),
    "no protocol": _drop("requestContext", "http", "protocol"),
    "no rawPath": _drop("rawPath"),
    "rawPath not text": _set(42, "rawPath"),
    "no rawQueryString": _drop("rawQueryString"),
    "rawQueryString not text": _set(["a=1"], "rawQueryString"),
    "no headers": _drop("headers"),
    "headers not an object": _set(["host: x"], "headers"),
    "header value not text": _set(1, "headers", "host"),
    "cookies not a list": _set(5, "cookies"),
    "cookie not text": _set([None], "cookies"),
    "body not text": _set({"a": 1}, "body"),
    "bad base64 body": _set("%%%not base64", "body"),
    "version 1.0 shape": _set("1.0", "version"),
    "no version": _drop("version"),
    "unknown version": _set("3.0", "version"),
    "elb context": _set({"elb": {}}, "requestContext"),
}


@pytest.fixture(scope="module")
def app() -> Flask:
    """Return an app that never reaches AWS (a refused event must not need it)."""
    return create_app(OFFLINE)


def _event(name: str) -> Event:
    event = _form_post() if name.endswith("body") else make_v2_event()
    SHAPES[name](event)
    return event


def assert_our_400(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 400
    headers = response["headers"]
    for name, value in HEADERS.items():
        assert headers[name.lower()] == value
    assert headers["cache-control"] == "no-store"
    assert headers["content-type"].startswith("text/html")
    assert "Bad request" in response["body"]
    assert "Traceback" not in response["body"]


@pytest.mark.parametrize("name", SHAPES)
def test_a_malformed_event_that_broke_apig_wsgi_gets_our_400(name: str, app: Flask) -> None:
    raw = make_lambda_handler(app, binary_support=True)
    with pytest.raises(Exception):  # noqa: B017 - the finding: apig-wsgi raises, any kind
        raw(_event(name), None)

    response = guard(app, raw)(_event(name), None)

    assert_our_400(response)
    assert problem(_event(name))


@pytest.mark.parametrize("event", [None, [], "GET /", 7])
def test_an_event_that_is_not_an_object_gets_our_400(event: Any, app: Flask) -> None:
    handler = guard(app, make_lambda_handler(app, binary_support=True))
    assert_our_400(handler(event, None))


def test_random_combinations_of_damage_never_escape(app: Flask) -> None:
    handler = guard(app, make_lambda_handler(app, binary_support=True))
    rng = random.Random(17)
    names = list(SHAPES)
    for _ in range(60):
        event = _form_post()
        for name in rng.sample(names, rng.randint(1, 4)):
            # An earlier change may have removed what this one edits.
            with contextlib.suppress(KeyError, TypeError):
                SHAPES[name](event)
        assert_our_400(handler(copy.deepcopy(event), None))


def test_well_formed_events_still_reach_the_app(app: Flask) -> None:
    handler = guard(app, make_lambda_handler(app, binary_support=True))
    assert problem(make_v2_event()) is None
    assert handler(make_v2_event(path="/healthz"), None)["statusCode"] == 200
    # A form post, base64 as HTTP APIs send it, passes the guard (then the CSRF check).
    posted = handler(_form_post(), None)
    assert posted["statusCode"] == 400
    assert "security token" in posted["body"]
    plain = make_v2_event(method="POST", path="/login", body=b"a=1", base64_body=False)
    assert problem(plain) is None
