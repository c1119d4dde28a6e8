"""Formatting for the page: sizes, counts and times in the display time zone.

Plain functions, usable from Python (flash messages) and, once ``register``ed,
as Jinja filters, so templates never do arithmetic.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, tzinfo

from flask.sansio.app import App

_UNITS = ("KB", "MB", "GB", "TB")


def format_size(size: int) -> str:
    """Return a byte count in human units: ``812 bytes``, ``56 KB``, ``1.2 MB``.

    Units are powers of 1024, labelled as Windows Explorer labels them, so the
    figure matches what the user sees once the file is on their PC.
    """
    if size < 1024:
        return "1 byte" if size == 1 else f"{size:,} bytes"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        # Rounding 1023.96 up must move to the next unit, not print "1,024 KB".
        if round(value, 1 if value < 10 else 0) < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}" if value < 9.95 else f"{value:,.0f} {unit}"
    raise AssertionError("unreachable")


def format_count(count: int, singular: str, plural: str | None = None) -> str:
    """Return ``1 slip``, ``1,234 slips``: a count with thousands separators."""
    noun = singular if count == 1 else (plural or singular + "s")
    return f"{count:,} {noun}"


def format_datetime(moment: datetime, zone: tzinfo) -> str:
    """Return an aware time in ``zone``: ``2026-11-26 04:34 JST``."""
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}".rstrip()


def format_date(day: date) -> str:
    """Return a date as ISO ``2025-01-31``: unambiguous in Japanese and English."""
    return day.isoformat()


def iso_datetime(moment: datetime) -> str:
    """Return an aware time as ISO 8601 UTC for ``<time datetime>``."""
    return moment.astimezone(zoneinfo.ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_days_left(moment: datetime, now: datetime) -> str:
    """Return how long until ``moment``: ``in 6 days``, ``in 5 hours``, ``within the hour``."""
    seconds = (moment - now).total_seconds()
    if seconds <= 0:
        return "now"
    hours = int(seconds // 3600)
    if hours >= 48:
        return f"in {hours // 24} days"
    if hours >= 1:
        return "in 1 hour" if hours == 1 else f"in {hours} hours"
    return "within the hour"


def register(app: App, display_timezone: str) -> None:
    """Install the filters on ``app``, with times shown in ``display_timezone``."""
    zone = zoneinfo.ZoneInfo(display_timezone)
    app.add_template_filter(format_size, "filesize")
    app.add_template_filter(format_count, "count")
    app.add_template_filter(lambda moment: format_datetime(moment, zone), "localtime")
    app.add_template_filter(format_date, "isodate")
    app.add_template_filter(iso_datetime, "isotime")
    app.add_template_filter(format_days_left, "days_left")
