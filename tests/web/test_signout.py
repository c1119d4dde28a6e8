"""Sign-out ends the session on the server: a cookie kept from before opens nothing."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from flask import Flask
from flask.testing import FlaskClient
from support import AuthActions, text

from webapp.aws import Clients
from webapp.local.demo import DEMO_PASSWORD
from webapp.settings import Settings
from webapp.web.auth.session import User


def _browser(app: Flask, user: User) -> tuple[FlaskClient, AuthActions]:
    """Return a client signed in through the real sign-in page."""
    client = app.test_client()
    auth = AuthActions(client)
    assert auth.login(user.email).status_code == 303
    assert client.get("/").status_code == 200
    return client, auth


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _replay(app: Flask, cookie: str) -> FlaskClient:
    """Return a fresh client carrying a copied session cookie, as an attacker would."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief


def _sent_to_login(client: FlaskClient) -> bool:
    response = client.get("/")
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_cookie_replayed_after_sign_out_is_sent_to_login(app: Flask, user: User) -> None:
    client, auth = _browser(app, user)
    saved = _cookie(client)
    # The copy works while the session lives: the test can fail.
    assert not _sent_to_login(_replay(app, saved))

    assert auth.logout().status_code == 303

    thief = _replay(app, saved)
    assert _sent_to_login(thief)
    # Nor can it start an export.
    refused = thief.post("/exports", data={"csrf_token": "x"})
    assert refused.status_code in {302, 400}
    assert _sent_to_login(thief)


def test_signing_out_one_browser_leaves_the_other_signed_in(app: Flask, user: User) -> None:
    home, home_auth = _browser(app, user)
    phone, _ = _browser(app, user)

    home_auth.logout()

    assert _sent_to_login(home)
    assert not _sent_to_login(phone)


def test_sign_out_everywhere_ends_every_session_and_cognitos_tokens(
    app: Flask, user: User, clients: Clients, settings: Settings
) -> None:
    home, home_auth = _browser(app, user)
    phone, _ = _browser(app, user)
    refresh = clients.cognito.initiate_auth(
        ClientId=settings.cognito_client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user.email, "PASSWORD": DEMO_PASSWORD},
    )["AuthenticationResult"]["RefreshToken"]
    page = home.get("/").get_data(as_text=True)
    # The header only links to a page that asks first; the GET changes nothing.
    assert 'href="/logout/everywhere"' in page and "formaction" not in page
    asked = home.get("/logout/everywhere")
    assert asked.status_code == 200
    assert "Sign out in every browser?" in text(asked)
    assert not _sent_to_login(phone)

    token = home_auth.csrf_token("/logout/everywhere")
    response = home.post("/logout/everywhere", data={"csrf_token": token})

    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert "You have been signed out in every browser." in text(home.get("/login"))
    assert _sent_to_login(home)
    assert _sent_to_login(phone)
    # The other browser's next page says why it is at the sign-in page.
    assert "You were signed out in every browser" in text(phone.get("/login"))
    with pytest.raises(ClientError) as refused:
        clients.cognito.initiate_auth(
            ClientId=settings.cognito_client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": refresh},
        )
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"
    # Signing in again afterwards starts a new, live session.
    again, _ = _browser(app, user)
    assert not _sent_to_login(again)


def test_sign_out_everywhere_needs_the_csrf_token(app: Flask, user: User) -> None:
    client, _ = _browser(app, user)
    assert client.post("/logout/everywhere").status_code == 400
    assert not _sent_to_login(client)


def test_each_request_reads_the_sign_out_marker_once(app: Flask, user: User) -> None:
    client, _ = _browser(app, user)
    reads: list[str] = []
    dynamodb = app.extensions["kakeibo.services"].clients.dynamodb

    def count(params: dict[str, object], **_: object) -> None:
        key = params.get("Key")
        if isinstance(key, dict) and key.get("sk") == {"S": "session"}:
            reads.append("session")

    def count_partition(params: dict[str, object], **_: object) -> None:
        # The exports page reads the user's whole partition, the marker with it.
        if params.get("KeyConditionExpression") == "#pk = :user":
            reads.append("session")

    dynamodb.meta.events.register("before-parameter-build.dynamodb.GetItem", count)
    dynamodb.meta.events.register("before-parameter-build.dynamodb.Query", count_partition)
    client.get("/")
    assert reads == ["session"]
    client.get("/restore")
    assert reads == ["session", "session"]
    # Without a session cookie, nothing is read.
    app.test_client().get("/login")
    assert reads == ["session", "session"]


@pytest.mark.parametrize(
    ("page", "read"),
    [("/", "Query"), ("/restore/upload", "GetItem")],  # with the whole partition, or alone
)
def test_an_unreadable_marker_refuses_the_request(
    app: Flask, user: User, page: str, read: str
) -> None:
    client, _ = _browser(app, user)
    dynamodb = app.extensions["kakeibo.services"].clients.dynamodb

    def fail(params: dict[str, object], **_: object) -> None:
        error = {"Error": {"Code": "InternalServerError", "Message": "injected"}}
        raise ClientError(error, read)  # type: ignore[arg-type]

    dynamodb.meta.events.register(f"before-call.dynamodb.{read}", fail)
    response = client.get(page)
    assert response.status_code == 503
    assert "Your sign-in could not be checked just now." in text(response)


def test_the_marker_refuses_only_what_was_signed_out() -> None:
    from webapp.identity.sessions import SessionMarker

    assert SessionMarker().allows("", 0)  # no sign-out yet: even a session without an id
    everywhere = SessionMarker(signed_out_at=2_000)
    assert not everywhere.allows("a", 1_999) and not everywhere.allows("a", 2_000)
    assert everywhere.allows("a", 2_001)
    one = SessionMarker(revoked=frozenset({"1700000000:a"}))
    assert not one.allows("a", 5) and one.allows("b", 5)


def test_a_sign_out_that_cannot_be_recorded_says_so_and_keeps_the_session(
    app: Flask, user: User
) -> None:
    client, auth = _browser(app, user)
    token = auth.csrf_token("/")
    dynamodb = app.extensions["kakeibo.services"].clients.dynamodb

    def fail(**_: object) -> None:
        error = {"Error": {"Code": "InternalServerError", "Message": "injected"}}
        raise ClientError(error, "UpdateItem")  # type: ignore[arg-type]

    dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", fail)
    response = client.post("/logout", data={"csrf_token": token})

    assert response.status_code == 503
    assert "You are still signed in. Try again." in text(response)
    dynamodb.meta.events.unregister("before-call.dynamodb.UpdateItem", fail)
    assert not _sent_to_login(client)
