"""Error pages speak the site's words, in both languages, with a way home: never Werkzeug's."""

from __future__ import annotations

import time

import pytest
from flask import Flask, abort
from support import OFFLINE, text
from werkzeug.exceptions import default_exceptions

from webapp import create_app
from webapp.identity.sessions import SessionMarker
from webapp.web.errors import TITLES

CODES = [400, 401, 403, 404, 405, 413, 429, 500, 503]


class _NoMarkers:
    """A sign-out record with nobody signed out."""

    def marker(self, user_id: str) -> SessionMarker:
        return SessionMarker()


@pytest.fixture(scope="module")
def app() -> Flask:
    """Return an offline app with a route that fails with any code."""
    app = create_app(OFFLINE)

    @app.get("/boom/<int:code>")
    def boom(code: int) -> str:
        if code == 500:
            raise RuntimeError("secret detail")
        abort(code)

    return app


def _stock(code: int) -> list[str]:
    """Return Werkzeug's own title and sentence for ``code``."""
    error = default_exceptions[code]()
    return [error.name, str(error.description)]


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("signed_in", [False, True], ids=["signed-out", "signed-in"])
def test_each_error_page_is_ours_with_a_link_home(app: Flask, code: int, signed_in: bool) -> None:
    client = app.test_client()
    if signed_in:
        # Offline there is no table: the session's sign-out marker is an empty one.
        app.extensions["kakeibo.services"].sessions = _NoMarkers()
        with client.session_transaction() as session:
            session.update(sub="s", email="a@example.com", exp=int(time.time()) + 600)
    page = client.get(f"/boom/{code}", headers={"Accept-Language": "en"})
    assert page.status_code == code
    html = text(page)
    assert f"Error {code} · {TITLES[code]}" in html
    assert f"<title>{code} {TITLES[code]} · Kakeibo Export</title>" in html
    for stock in _stock(code):
        assert stock not in html, stock
    assert "secret detail" not in html and "Traceback" not in html
    home = '<a class="button button--primary" href="/">Go to your exports</a>'
    login = '<a class="button button--primary" href="/login">Go to the sign-in page</a>'
    assert (home if signed_in else login) in html


@pytest.mark.parametrize("code", CODES)
def test_each_error_page_is_japanese_for_a_japanese_browser(app: Flask, code: int) -> None:
    english = app.test_client().get(f"/boom/{code}", headers={"Accept-Language": "en"})
    japanese = app.test_client().get(f"/boom/{code}", headers={"Accept-Language": "ja"})
    assert japanese.status_code == code
    heading = text(english).split('<h1 id="error-heading">', 1)[1].split("</h1>", 1)[0]
    assert heading not in text(japanese)
    assert str(TITLES[code]) not in text(japanese)
    assert "サインイン" in text(japanese)  # the way home, signed out


def test_a_real_oversized_form_gets_our_413(app: Flask) -> None:
    response = app.test_client().post("/login", data={"email": "x" * 70_000})
    assert response.status_code == 413
    assert "That was more than this page accepts" in text(response)
