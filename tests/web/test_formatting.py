"""Formatting of sizes, counts, dates and times for the page, in Japanese and English."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask, render_template_string

from webapp.web.formatting import (
    format_datetime,
    format_day,
    format_number,
    format_size,
    format_time_left,
    iso_datetime,
)

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(
    ("size", "en", "ja"),
    [
        (0, "0 bytes", "0バイト"),
        (1, "1 byte", "1バイト"),
        (812, "812 bytes", "812バイト"),
        (1023, "1,023 bytes", "1,023バイト"),
        (1024, "1.0 KB", "1.0 KB"),
        (1536, "1.5 KB", "1.5 KB"),
        (56 * 1024, "56 KB", "56 KB"),
        (1024 * 1024 - 1, "1.0 MB", "1.0 MB"),  # 1023.999 KB rounds up into the next unit
        (int(1.25 * 1024**2), "1.2 MB", "1.2 MB"),
        (300 * 1024**2, "300 MB", "300 MB"),
        (5 * 1024**3, "5.0 GB", "5.0 GB"),
        (2048 * 1024**4, "2,048 TB", "2,048 TB"),
    ],
)
def test_sizes_read_like_windows_explorer(size: int, en: str, ja: str) -> None:
    assert format_size(size, "en") == en
    assert format_size(size, "ja") == ja


def test_numbers_are_grouped_per_locale() -> None:
    assert format_number(1234567, "en") == "1,234,567"
    assert format_number(1234567, "ja") == "1,234,567"
    assert format_number(1234567, "de") == "1.234.567"  # proof that the locale is used


def test_times_are_shown_in_the_display_time_zone_per_language() -> None:
    moment = datetime(2026, 12, 2, 5, 5, tzinfo=UTC)
    assert format_datetime(moment, TOKYO, "ja") == "2026年12月2日 14:05"
    assert format_datetime(moment, TOKYO, "en") == "Dec 2, 2026, 2:05\u202fPM"
    london = zoneinfo.ZoneInfo("Europe/London")
    assert format_datetime(moment, london, "en") == "Dec 2, 2026, 5:05\u202fAM"
    assert iso_datetime(moment.astimezone(TOKYO)) == "2026-12-02T05:05:00Z"
    assert format_day(date(2025, 1, 31), "ja") == "2025年1月31日"
    assert format_day(date(2025, 1, 31), "en") == "Jan 31, 2025"


def test_a_time_across_midnight_in_tokyo_is_the_next_day() -> None:
    moment = datetime(2026, 11, 25, 19, 34, 42, tzinfo=UTC)
    assert format_datetime(moment, TOKYO, "ja") == "2026年11月26日 4:34"


@pytest.mark.parametrize(
    ("delta", "en", "ja"),
    [
        # An archive kept 7 days says "in 7 days" from its first second (never "1 week")
        # through its first day, then counts down, rounded up; hours and minutes at the end.
        (timedelta(days=7), "in 7 days", "7日後"),
        (timedelta(days=7) - timedelta(seconds=1), "in 7 days", "7日後"),
        (timedelta(days=6, hours=13), "in 7 days", "7日後"),
        (timedelta(days=6, seconds=1), "in 7 days", "7日後"),
        (timedelta(days=6), "in 6 days", "6日後"),
        (timedelta(days=1, seconds=1), "in 2 days", "2日後"),
        (timedelta(days=1), "in 1 day", "1日後"),
        (timedelta(hours=23, minutes=5), "in 24 hours", "24時間後"),
        (timedelta(hours=1), "in 1 hour", "1時間後"),
        (timedelta(minutes=59), "in 59 minutes", "59分後"),
        (timedelta(seconds=1), "in 1 minute", "1分後"),
        (timedelta(days=365), "in 365 days", "365日後"),
    ],
)
def test_time_left_is_rounded_as_people_say_it(delta: timedelta, en: str, ja: str) -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert format_time_left(now + delta, now, "en") == en
    assert format_time_left(now + delta, now, "ja") == ja


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Jul 1, 2026, 8:00\u202fAM | 56 KB | 3 balances | 1 slip | 1,234"),
        ("ja", "2026年7月1日 8:00 | 56 KB | 残高 3件 | 伝票 1件 | 1,234"),
    ],
)
def test_registered_filters_follow_the_page_language_and_zone(
    app: Flask, language: str, expected: str
) -> None:
    # The app's display zone is Tokyo; a template sees the filters bound to it.
    moment = datetime(2026, 6, 30, 23, 0, tzinfo=UTC)
    template = (
        "{{ m|localtime }} | {{ n|filesize }} | {{ 3|balances }} | {{ 1|slips }}"
        " | {{ 1234|number }}"
    )
    with app.test_request_context("/", headers={"Accept-Language": language}):
        html = render_template_string(template, m=moment, n=56 * 1024)
    assert html == expected
