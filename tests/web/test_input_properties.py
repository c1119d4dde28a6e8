"""Form and query parsing never raises: any form body or query string gets a page of ours.

Property-based (hypothesis, a fixed seed and a bounded count), signed in on moto
with the CSRF check off so every form reaches its fields: generated values mix the
forms' own field names and plausible values with text no browser would send (a
trailing newline after a valid value, full-width and superscript digits, 5,000
digits, lone surrogates, bytes that are not UTF-8). Counts land in
``test-artifacts/property-counts.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, seed
from hypothesis import strategies as st
from support import SEED, Tally, property_settings

from webapp.jobs import export
from webapp.jobs.job import State
from webapp.jobs.submit import submit
from webapp.services import Services
from webapp.web.auth.session import User

#: The form endpoints and the fields their forms read. Sign-out is left out: it
#: would end the session the next example needs (the fixture signs in again anyway).
FORMS: dict[str, list[str]] = {
    "/login": ["email", "password"],
    "/login/new-password": ["password", "confirm"],
    "/login/mfa": ["code"],
    "/login/forgot": ["email"],
    "/login/reset": ["email", "code", "password", "confirm"],
    "/language": ["lang", "next"],
    "/exports": ["start", "end", "formats", "csv_encoding", "accounts", "categories", "kinds"],
    "/exports/{id}/delete": ["confirm"],
    "/exports/delete-all": ["confirm"],
    "/jobs/{id}/cancel": [],
    "/backups/setting": ["frequency"],
    "/account/authenticator/new": [],
    "/account/authenticator": ["code"],
    "/account/authenticator/off": ["code", "password"],
    "/restore/preview": ["source"],
    "/restore/jobs/{id}/confirm": ["mode", "confirm"],
    "/restore/jobs/{id}/again": [],
    "/restore/jobs/{id}/dismiss": [],
    "/restore/jobs/{id}/undo": [],
}
#: The pages read with GET and the query parameters any of them reads.
PAGES = [
    "/",
    "/login",
    "/login/forgot",
    "/login/reset",
    "/login/mfa",
    "/exports/{id}",
    "/exports/{id}/delete",
    "/exports/delete-all",
    "/jobs/{id}",
    "/backups/{id}/download",
    "/account",
    "/account/authenticator/off",
    "/logout/everywhere",
    "/restore/jobs/{id}",
    "/restore/archives/{id}",
    "/restore/backups/{id}",
    "/restore/upload",
    "/restore/uploaded",
    "/healthz",
]
PARAMETERS = [
    "next",
    "start",
    "end",
    "formats",
    "csv_encoding",
    "accounts",
    "categories",
    "kinds",
    "job",
    "new",
    "refresh",
    "lang",
    "key",
    "bucket",
    "etag",
]
#: Values a field might hold, then the same with what no browser would add.
PLAUSIBLE = st.sampled_from(
    [
        "",
        "2025-01-01",
        "2025/12/31",
        "２０２５－０１－０１",
        "123456",
        "１２３４５６",
        "²",
        "9" * 5000,
        "-1",
        "both",
        "csv",
        "json",
        "cp932",
        "weekly",
        "yes",
        "ja",
        "a@example.com",
        "/",
        "//evil.example",
        "job#x",
        "20261203T000000Z_20250101_20251231_0123456789ab",
        "merge",
        "replace",
        "置き換え",
        "upload:" + "0" * 32,
        "archive:20261203T000000Z_20250101_20251231_0123456789ab",
        "uploads/x/" + "0" * 32 + ".zip",
    ]
)
TEXT = st.one_of(
    PLAUSIBLE,
    PLAUSIBLE.map(lambda value: value + "\n"),
    st.text(st.characters(exclude_categories=()), max_size=40),
)
IDS = st.one_of(TEXT, st.just("20261203T000000Z_20250101_20251231_0123456789ab"))


@pytest.fixture
def signed_in(app: Flask, user: User, login: Callable[[User], None]) -> Callable[[], None]:
    """Sign ``client`` in as ``user``, with the CSRF check off so each form reads its fields."""
    app.config["WTF_CSRF_ENABLED"] = False
    return lambda: login(user)


@pytest.fixture
def unfinished(user: User, services: Services) -> None:
    """Give the user an export nobody runs, so the page draws its reload link too."""
    params = export.ExportParams.from_dict(
        {"start": "2025-01-01", "end": "2025-12-31", "formats": ["csv", "json"]}
    )
    submit(services, user.sub, export.KIND, params)


@pytest.fixture
def known(
    client: FlaskClient, signed_in: Callable[[], None], user: User, services: Services, worker: Any
) -> list[str]:
    """Return ids that lead past "not found": the user's archive and a finished restore check."""
    params = export.ExportParams.from_dict(
        {"start": "2025-01-01", "end": "2025-12-31", "formats": ["csv", "json"]}
    )
    made = submit(services, user.sub, export.KIND, params)
    worker.drain()
    finished = services.jobs.get(user.sub, made.id)
    assert finished is not None and finished.state is State.DONE, finished
    archive_id = str(finished.result["archive_id"])
    signed_in()
    asked = client.post("/restore/preview", data={"source": f"archive:{archive_id}"})
    assert asked.status_code == 303, asked.get_data(as_text=True)
    check_id = asked.headers["Location"].rstrip("/").rpartition("/")[2]
    worker.drain()
    return [archive_id, check_id]


def _path(template: str, draw: st.DrawFn, known: list[str] = []) -> str:  # noqa: B006 (read only)
    ids = st.sampled_from(known) | IDS if known else IDS
    return template.replace("{id}", quote(draw(ids).replace("\udc80", "x"), safe=""))


def _answered(response: Any) -> bool:
    return response.status_code < 500 and "Content-Security-Policy" in response.headers


FORM_BODIES = Tally("form bodies (signed in, every form)")


@seed(SEED)
@property_settings(240)
@given(data=st.data())
def test_any_form_body_gets_a_page_of_ours(
    client: FlaskClient, signed_in: Callable[[], None], known: list[str], data: Any
) -> None:
    signed_in()
    endpoint = data.draw(st.sampled_from(sorted(FORMS)))
    names = st.sampled_from(FORMS[endpoint] or ["x"]) | st.text(max_size=8)
    values = TEXT | st.just(f"archive:{known[0]}")
    fields = data.draw(st.lists(st.tuples(names, values), max_size=6))
    if data.draw(st.integers(0, 4)) == 0:
        # Not UTF-8, or not even a form: the raw bytes as they arrive.
        body: bytes | str = data.draw(st.binary(max_size=80))
    else:
        body = urlencode(
            [
                (k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
                for k, v in fields
            ]
        )
    path = _path(endpoint, data.draw, known)
    FORM_BODIES.ran += 1  # after every draw: an example hypothesis drops is never sent

    response = client.post(
        path,
        data=body,
        content_type="application/x-www-form-urlencoded",
    )

    assert _answered(response), (endpoint, body, response.status_code)
    FORM_BODIES.answered += 1


QUERIES = Tally("query strings (signed in, every page)")


@seed(SEED)
@property_settings(160)
@given(data=st.data())
def test_any_query_string_gets_a_page_of_ours(
    client: FlaskClient,
    signed_in: Callable[[], None],
    known: list[str],
    unfinished: None,
    data: Any,
) -> None:
    signed_in()
    page = data.draw(st.sampled_from(PAGES))
    pairs = data.draw(st.lists(st.tuples(st.sampled_from(PARAMETERS) | TEXT, TEXT), max_size=5))
    query = urlencode(
        [(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass")) for k, v in pairs]
    )
    path = _path(page, data.draw, known)
    QUERIES.ran += 1  # after every draw: an example hypothesis drops is never sent

    response = client.get(path, query_string=query)

    assert _answered(response), (page, query, response.status_code)
    QUERIES.answered += 1


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    for tally in (FORM_BODIES, QUERIES):
        if tally.ran:
            tally.write()


@pytest.mark.parametrize("refresh", ["²", "9" * 5000, "１", "-1", "1\n"])
def test_a_refresh_count_that_int_refuses_still_reloads_the_page(
    client: FlaskClient, signed_in: Callable[[], None], unfinished: None, refresh: str
) -> None:
    signed_in()
    page = client.get("/", query_string={"refresh": refresh})
    assert page.status_code == 200
    assert "refresh=1#job-" in page.get_data(as_text=True)


def test_a_restore_source_with_a_trailing_newline_is_refused(
    client: FlaskClient, signed_in: Callable[[], None]
) -> None:
    signed_in()
    answer = client.post("/restore/preview", data={"source": "upload:" + "0" * 32 + "\n"})
    assert answer.status_code == 400
