"""The app factory and the public health check."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_healthz_answers_without_login(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_unknown_path_renders_the_404_page(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert b"Traceback" not in response.data
    page = response.get_data(as_text=True)
    assert "Page not found" in page and "There is no page at this address" in page
    # Werkzeug's stock sentence never reaches the page.
    assert "The requested URL was not found on the server" not in page
