"""Every route, read from the app's URL map: no page without a session, no POST without CSRF.

Routes added later are covered without touching this file.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.stub import Stubber
from flask import Flask
from flask.testing import FlaskClient
from support import OFFLINE, AuthActions
from werkzeug.routing import BuildError, Rule

from webapp import create_app
from webapp.archive.ids import ArchiveId, archive_key
from webapp.aws import Clients
from webapp.settings import Settings
from webapp.web.auth.session import User
from webapp.web.auth.views import PUBLIC_ENDPOINTS
from webapp.web.security import CSRF_MESSAGE

#: An app that never reaches AWS: nothing here gets past the guards.
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
#: A well-formed archive id, for routes that take one.
ARCHIVE = ArchiveId.new(date(2025, 1, 1), date(2025, 12, 31))
ARCHIVE_ID = str(ARCHIVE)


def _rules() -> list[Rule]:
    return sorted(create_app(OFFLINE).url_map.iter_rules(), key=lambda rule: rule.rule)


PRIVATE = [
    pytest.param(rule.endpoint, method, id=f"{method} {rule.rule}")
    for rule in _rules()
    if rule.endpoint not in PUBLIC_ENDPOINTS
    for method in sorted(rule.methods or ())
]
POSTS = [
    pytest.param(rule.endpoint, id=rule.rule)
    for rule in _rules()
    if "POST" in (rule.methods or ()) and rule.endpoint != "static"
]


def sample_path(app: Flask, endpoint: str, method: str) -> str:
    """Return a URL of ``endpoint`` that the URL map routes back to it."""
    adapter = app.url_map.bind("localhost")
    rule = next(rule for rule in app.url_map.iter_rules(endpoint))
    for candidate in (ARCHIVE_ID, "1", "x"):
        try:
            path = adapter.build(endpoint, dict.fromkeys(rule.arguments, candidate), method=method)
        except BuildError:
            continue
        if adapter.match(path, method=method)[0] == endpoint:
            return path
    raise AssertionError(f"no sample URL for {rule.rule}")


@pytest.fixture(scope="module")
def offline_app() -> Flask:
    """Return one app without AWS for the whole module."""
    app = create_app(OFFLINE)
    app.config["TESTING"] = True
    return app


def test_the_route_lists_are_not_empty() -> None:
    endpoints = {rule.endpoint for rule in _rules()}
    # A renamed public endpoint must not silently drop out of the checks.
    assert endpoints >= PUBLIC_ENDPOINTS
    assert {"exports.index", "auth.logout"} <= {param.values[0] for param in PRIVATE}
    assert {"auth.login", "auth.logout"} <= {param.values[0] for param in POSTS}


def test_no_automatic_options_answers(offline_app: Flask) -> None:
    # An OPTIONS request would otherwise answer 200 on a private page.
    rules = [rule for rule in offline_app.url_map.iter_rules() if rule.endpoint != "static"]
    assert all("OPTIONS" not in (rule.methods or ()) for rule in rules)
    assert offline_app.test_client().options("/").status_code == 405


@pytest.mark.parametrize(("endpoint", "method"), PRIVATE)
def test_private_route_without_session_redirects_to_login(
    endpoint: str, method: str, offline_app: Flask
) -> None:
    client = offline_app.test_client()
    path = sample_path(offline_app, endpoint, method)
    # CSRF is checked first (see test_post_without_csrf_token_is_refused); with a
    # valid token, only the missing session is left.
    data = {"csrf_token": AuthActions(client).csrf_token()} if method in UNSAFE else None
    response = client.open(path, method=method, data=data)
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    target = urlsplit(response.headers["Location"])
    assert target.path == "/login"
    assert parse_qs(target.query) == {"next": [path]}


@pytest.mark.parametrize("path", ["/login", "/healthz", "/static/style.css"])
def test_public_route_answers_without_session(path: str, offline_app: Flask) -> None:
    assert offline_app.test_client().get(path).status_code == 200


@pytest.fixture
def cognito_untouched(app: Flask) -> Iterator[None]:
    """Fail the test if anything calls Cognito."""
    clients: Clients = app.extensions["kakeibo.services"].clients
    with Stubber(clients.cognito):  # no answers queued: any call raises
        yield


def s3_keys(clients: Clients, settings: Settings) -> list[str]:
    response = clients.s3.list_objects_v2(Bucket=settings.export_bucket)
    return sorted(item["Key"] for item in response.get("Contents", []))


@pytest.mark.parametrize("signed_in", [True, False], ids=["signed-in", "anonymous"])
@pytest.mark.parametrize("endpoint", POSTS)
def test_post_without_csrf_token_is_refused(
    endpoint: str,
    signed_in: bool,
    app: Flask,
    client: FlaskClient,
    settings: Settings,
    clients: Clients,
    user: User,
    login: Callable[[User], None],
    cognito_untouched: None,
) -> None:
    if signed_in:
        login(user)
    # Something a POST could change: the user's archive that the URL names.
    clients.s3.put_object(
        Bucket=settings.export_bucket,
        Key=archive_key(user.sub, ARCHIVE),
        Body=b"PK\x05\x06" + bytes(18),
    )
    before = s3_keys(clients, settings)
    path = sample_path(app, endpoint, "POST")
    form = {
        "email": user.email,
        "password": "Demo-1234-kakeibo",
        "start": "2025-01-01",
        "end": "2025-12-31",
        "formats": "both",
    }
    for token in (None, "", "forged-token", "IjAwMCI.AAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAA"):
        data = form if token is None else {**form, "csrf_token": token}
        response = client.post(path, data=data)
        assert response.status_code == 400, (token, response.status_code)
        page = html.unescape(response.get_data(as_text=True))
        assert str(CSRF_MESSAGE) in page
        assert "Traceback" not in page
    assert s3_keys(clients, settings) == before
    with client.session_transaction() as session:
        assert (session.get("sub") == user.sub) is signed_in
