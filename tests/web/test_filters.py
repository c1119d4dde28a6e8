"""Formatting of sizes, counts and times for the page."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask, render_template_string

from webapp.web.filters import (
    format_count,
    format_date,
    format_datetime,
    format_days_left,
    format_size,
    iso_datetime,
    register,
)

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (812, "812 bytes"),
        (1023, "1,023 bytes"),
        (1024, "1.0 KB"),
        (1536, "1.5 KB"),
        (56 * 1024, "56 KB"),
        (1024 * 1024 - 1, "1.0 MB"),  # 1023.999 KB rounds up into the next unit
        (int(1.25 * 1024**2), "1.2 MB"),
        (300 * 1024**2, "300 MB"),
        (5 * 1024**3, "5.0 GB"),
        (2048 * 1024**4, "2,048 TB"),
    ],
)
def test_sizes_read_like_windows_explorer(size: int, text: str) -> None:
    assert format_size(size) == text


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 slips"), (1, "1 slip"), (2, "2 slips"), (1234, "1,234 slips")],
)
def test_counts_have_separators_and_plurals(count: int, text: str) -> None:
    assert format_count(count, "slip") == text


def test_times_are_shown_in_the_display_time_zone() -> None:
    moment = datetime(2026, 11, 25, 19, 34, 42, tzinfo=UTC)
    assert format_datetime(moment, TOKYO) == "2026-11-26 04:34 JST"
    assert format_datetime(moment, zoneinfo.ZoneInfo("Europe/London")) == "2026-11-25 19:34 GMT"
    assert iso_datetime(moment.astimezone(TOKYO)) == "2026-11-25T19:34:42Z"
    assert format_date(date(2025, 1, 31)) == "2025-01-31"


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(days=6, hours=23), "in 6 days"),
        (timedelta(days=2), "in 2 days"),
        (timedelta(hours=47, minutes=59), "in 47 hours"),
        (timedelta(hours=1, minutes=5), "in 1 hour"),
        (timedelta(minutes=59), "within the hour"),
        (timedelta(0), "now"),
        (timedelta(minutes=-5), "now"),
    ],
)
def test_time_left_is_rounded_down(delta: timedelta, text: str) -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert format_days_left(now + delta, now) == text


def test_registered_filters_use_the_configured_zone() -> None:
    app = Flask(__name__)
    register(app, "America/New_York")
    moment = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    with app.app_context():
        html = render_template_string(
            "{{ m|localtime }} | {{ n|filesize }} | {{ 3|count('balance') }}", m=moment, n=56 * 1024
        )
    assert html == "2026-07-01 08:00 EDT | 56 KB | 3 balances"
