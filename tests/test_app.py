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
    assert b"Not Found" in response.data
