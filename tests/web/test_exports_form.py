"""The export form and its quick ranges, without AWS."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask
from flask_babel import Babel

from webapp.web.exports.forms import ExportForm, presets


@pytest.fixture
def bare_app() -> Flask:
    """Return a bare Flask app: the form needs a request, not AWS."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="test", WTF_CSRF_ENABLED=False)
    Babel(app)
    return app


def _form(app: Flask, max_span_days: int = 1827, **data: str) -> ExportForm:
    data.setdefault("formats", "both")
    with app.test_request_context("/exports", method="POST", data=data):
        form = ExportForm(max_span_days=max_span_days)
        form.validate()
        return form


def test_a_valid_range_gives_dates_and_formats(bare_app: Flask) -> None:
    form = _form(bare_app, start="2025-01-01", end="2025-12-31", formats="json")
    assert form.errors == {}
    assert (form.start.data, form.end.data) == (date(2025, 1, 1), date(2025, 12, 31))
    assert form.chosen_formats == frozenset({"json"})


def test_both_formats_is_the_default_and_a_missing_choice_is_asked_for(bare_app: Flask) -> None:
    form = _form(bare_app, start="2025-01-01", end="2025-01-01")
    assert form.errors == {}
    assert form.chosen_formats == frozenset({"csv", "json"})
    with bare_app.test_request_context("/"):
        assert ExportForm(max_span_days=1).formats.data == "both"
    with bare_app.test_request_context("/exports", method="POST", data={"start": "2025-01-01"}):
        form = ExportForm(max_span_days=1827)
        assert not form.validate()
        assert form.errors["formats"] == ["Choose a format."]


@pytest.mark.parametrize(
    ("choice", "formats"),
    [
        ("xlsx", {"xlsx"}),
        ("xlsx-json", {"xlsx", "json"}),
        ("all", {"csv", "xlsx", "json"}),
    ],
)
def test_the_workbook_can_be_chosen_alone_or_with_the_others(
    bare_app: Flask, choice: str, formats: set[str]
) -> None:
    form = _form(bare_app, start="2025-01-01", end="2025-01-31", formats=choice)
    assert form.errors == {}
    assert form.chosen_formats == formats


def test_the_csv_encoding_is_utf8_unless_shift_jis_is_chosen(bare_app: Flask) -> None:
    assert _form(bare_app, start="2025-01-01", end="2025-01-01").chosen_encoding == "utf-8-sig"
    form = _form(bare_app, start="2025-01-01", end="2025-01-01", csv_encoding="cp932")
    assert form.errors == {} and form.chosen_encoding == "cp932"
    form = _form(bare_app, start="2025-01-01", end="2025-01-01", csv_encoding="sjis")
    assert form.errors == {"csv_encoding": ["Not a valid choice."]}


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # Japanese input methods type full-width digits; slashes are common too.
        ("２０２５-０１-０１", "2025/12/31", (date(2025, 1, 1), date(2025, 12, 31))),
        ("2025/1/5", "2025-2-7", (date(2025, 1, 5), date(2025, 2, 7))),
    ],
)
def test_common_ways_of_writing_a_date_are_read(
    bare_app: Flask, start: str, end: str, expected: tuple[date, date]
) -> None:
    form = _form(bare_app, start=start, end=end)
    assert form.errors == {}
    assert (form.start.data, form.end.data) == expected


def test_the_span_is_counted_in_days_both_ends_included(bare_app: Flask) -> None:
    assert _form(bare_app, 31, start="2025-01-01", end="2025-01-31").errors == {}
    errors = _form(bare_app, 31, start="2025-01-01", end="2025-02-01").errors
    assert errors == {
        "end": [
            "One export can cover at most 31 days; this range has 32. Split it into shorter ranges."
        ]
    }


def test_a_reversed_range_is_an_error_on_the_end_date(bare_app: Flask) -> None:
    errors = _form(bare_app, start="2025-03-02", end="2025-03-01").errors
    assert errors == {"end": ["The last day must be on or after the first day."]}


def test_presets_for_a_day_in_march() -> None:
    ranges = {p.label: (p.start, p.end) for p in presets(date(2026, 3, 15), 1827)}
    assert ranges == {
        "This month": (date(2026, 3, 1), date(2026, 3, 15)),
        "Last month": (date(2026, 2, 1), date(2026, 2, 28)),
        "This year": (date(2026, 1, 1), date(2026, 3, 15)),
        "Last year": (date(2025, 1, 1), date(2025, 12, 31)),
        "Last 5 years": (date(2021, 3, 15), date(2026, 3, 15)),  # 1,827 days
    }


def test_presets_in_january_reach_back_into_last_year() -> None:
    ranges = {p.label: (p.start, p.end) for p in presets(date(2025, 1, 1), 90)}
    assert ranges["Last month"] == (date(2024, 12, 1), date(2024, 12, 31))
    assert ranges["Last 90 days"] == (date(2024, 10, 4), date(2025, 1, 1))


def test_every_preset_passes_the_forms_own_checks(bare_app: Flask) -> None:
    for preset in presets(date(2024, 2, 29), 1827):
        form = _form(bare_app, start=preset.start.isoformat(), end=preset.end.isoformat())
        assert form.errors == {}, preset.label
