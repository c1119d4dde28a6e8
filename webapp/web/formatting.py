"""Formatting for the page: sizes, counts, dates and times, per language, in the display zone.

The ``format_*`` functions are plain Babel over an explicit ``locale`` (so they
test without an app); ``register`` installs them as Jinja filters bound to the
page's language, so templates never do arithmetic or pick formats.
"""

from __future__ import annotations

import math
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo
from typing import Literal

from babel.dates import (
    format_skeleton,
    format_time,
    format_timedelta,
    get_datetime_format,
    get_timezone_name,
)
from babel.lists import format_list
from babel.numbers import format_decimal
from babel.units import format_unit
from flask.sansio.app import App
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from ..jobs.contents import Contents

_UNITS = ("KB", "MB", "GB", "TB")
#: A number and the Japanese unit after it, which CLDR's Japanese patterns space apart.
_SPACED_UNIT = re.compile(r"([0-9]) (?=[\u3041-\u30ff\u4e00-\u9fff])")


def _join_unit(text: str, locale: str) -> str:
    """Return ``7 日後`` as Japanese writes it, ``7日後``; other languages unchanged."""
    return _SPACED_UNIT.sub(r"\1", text) if locale.startswith("ja") else text


def format_number(number: int, locale: str) -> str:
    """Return ``1,234`` (grouped as ``locale`` groups digits)."""
    return format_decimal(number, locale=locale)


def format_size(size: int, locale: str) -> str:
    """Return a byte count in human units: ``812 bytes`` / ``812バイト``, ``56 KB``, ``1.2 MB``.

    Units are powers of 1024, labelled as Windows Explorer labels them in both
    languages, so the figure matches what the user sees once the file is on their PC.
    """
    if size < 1024:
        return _join_unit(format_unit(size, "digital-byte", locale=locale), locale)
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        # Rounding 1023.96 up must move to the next unit, not print "1,024 KB".
        if round(value, 1 if value < 10 else 0) < 1024 or unit == _UNITS[-1]:
            pattern = "0.0" if value < 9.95 else "#,##0"
            return f"{format_decimal(value, format=pattern, locale=locale)} {unit}"
    raise AssertionError("unreachable")


def format_datetime(moment: datetime, zone: tzinfo, locale: str, *, seconds: bool = False) -> str:
    """Return an aware time in ``zone``: ``2026年12月2日 14:05`` / ``Dec 2, 2026, 2:05 PM``.

    With ``seconds``: ``14:05:09`` / ``2:05:09 PM``, where two moments of one minute must
    read apart.
    """
    local = moment.astimezone(zone)
    day = format_skeleton("yMMMd", local, locale=locale)
    clock = format_time(local, "medium" if seconds else "short", tzinfo=zone, locale=locale)
    # The locale's own joining pattern: "{1} {0}" in Japanese, "{1}, {0}" in English.
    pattern = str(get_datetime_format("medium", locale=locale))
    return pattern.format(clock, day)


def format_day(day: date, locale: str) -> str:
    """Return a date as ``2025年1月31日`` / ``Jan 31, 2025``."""
    return format_skeleton("yMMMd", day, locale=locale)


def zone_name(zone: tzinfo, locale: str) -> str:
    """Return the zone's name for people: ``Japan Time`` / ``日本時間``."""
    return get_timezone_name(zone, "long", locale=locale)


def iso_date(day: date) -> str:
    """Return a date as ISO ``2025-01-31`` for ``<time datetime>`` and form values."""
    return day.isoformat()


def iso_datetime(moment: datetime) -> str:
    """Return an aware time as ISO 8601 UTC for ``<time datetime>``."""
    return moment.astimezone(zoneinfo.ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_time_left(moment: datetime, now: datetime, locale: str) -> str:
    """Return how long until ``moment``, rounded up: ``in 7 days`` / ``7日後``.

    Whole days while a day or more is left, then hours, then minutes, each
    rounded up and never in weeks: an archive kept 7 days says "in 7 days" all
    through its first day (and at its very first second), never "in 6 days" or
    "in 1 week"; the exact time stands beside it.
    """
    seconds = max((moment - now).total_seconds(), 0.0)
    units: tuple[tuple[Literal["day", "hour", "minute"], int], ...] = (
        ("day", 86400),
        ("hour", 3600),
        ("minute", 60),
    )
    for unit, size in units:
        if seconds >= size or unit == "minute":
            count = max(1, math.ceil(seconds / size))
            # An exact count in one unit: a threshold no value reaches pins the unit.
            spelled = format_timedelta(
                timedelta(seconds=count * size),
                granularity=unit,
                threshold=10**9,
                add_direction=True,
                locale=locale,
            )
            return _join_unit(spelled, locale)
    raise AssertionError("unreachable")


def count_slips(count: int) -> str:
    """Return ``1 slip`` / ``伝票 1件`` in the page's language."""
    return str(ngettext("%(count)s slip", "%(count)s slips", count, count=_number(count)))


def count_balances(count: int) -> str:
    """Return ``1 balance`` / ``残高 1件`` in the page's language."""
    return str(ngettext("%(count)s balance", "%(count)s balances", count, count=_number(count)))


#: The kinds of slip the account book writes, in the page's words; others show as stored.
KIND_LABELS = {"expense": _l("Expense"), "income": _l("Income"), "transfer": _l("Transfer")}
#: The accounts the account book names itself; those the household named show as typed.
ACCOUNT_LABELS = {"cash": _l("Cash"), "bank": _l("Bank"), "card": _l("Card")}
#: Each filter's values in the page's words.
VALUE_LABELS = {"kinds": KIND_LABELS, "accounts": ACCOUNT_LABELS}


def label_value(field: str, value: str) -> str:
    """Return an account's or a kind's value as the page names it (others as typed)."""
    return str(VALUE_LABELS.get(field, {}).get(value, value))


def format_period(start: date, end: date) -> Markup:
    """Return two ``<time>`` elements joined by the page's range sign (``–`` / ``～``)."""
    locale = page_locale()

    def moment(day: date) -> Markup:
        return Markup('<time datetime="%s">%s</time>') % (iso_date(day), format_day(day, locale))

    joined = escape(_("%(start)s – %(end)s", start="\x00", end="\x01"))
    return joined.replace("\x00", moment(start)).replace("\x01", moment(end))


def describe_filters(filters: Mapping[str, Sequence[str]] | None) -> str:
    """Return an export's filters in the page's words ("" for none), as the list shows them."""
    if not filters:
        return ""
    names = {"accounts": _("Accounts"), "categories": _("Categories"), "kinds": _("Kinds")}
    parts = []
    for field, title in names.items():
        values = filters.get(field) or []
        if values:
            shown = _list([label_value(field, v) for v in values])
            parts.append(_("%(field)s: %(values)s", field=title, values=shown))
    return " · ".join(parts)


def _list(values: list[str]) -> str:
    """Return values any of which counts: ``A, B, C`` / ``A、B、C``.

    Not CLDR's "standard" list in English, whose "and" would misread a filter (any one of
    the values keeps a slip); Japanese lists with 、 and no conjunction.
    """
    locale = page_locale()
    return format_list(values, style="standard" if locale == "ja" else "unit", locale=locale)


def describe_formats(contents: Contents) -> str:
    """Return an archive's formats for people: ``CSV + DynamoDB JSON``, ``CSV (Shift_JIS)``."""
    names = {
        "csv": _("CSV (Shift_JIS)") if contents.shift_jis else _("CSV"),
        "xlsx": _("Excel workbook"),
        "json": _("DynamoDB JSON"),
    }
    return " + ".join(names[name] for name in contents.ordered)


def describe_counts(contents: Contents) -> str:
    """Return ``3 slips and 2 balances``, or that the period has none."""
    if contents.empty:
        return str(_("This period has no slips or balances."))
    return str(
        _(
            "%(slips)s and %(balances)s",
            slips=count_slips(contents.counts.get("slips", 0)),
            balances=count_balances(contents.counts.get("balances", 0)),
        )
    )


def page_locale() -> str:
    """Return the language of the page being rendered."""
    return str(get_locale() or "en")


def _number(count: int) -> str:
    return format_number(count, page_locale())


def register(app: App, display_timezone: str) -> None:
    """Install the filters on ``app``, with times shown in ``display_timezone``."""
    zone = zoneinfo.ZoneInfo(display_timezone)
    app.add_template_filter(lambda size: format_size(size, page_locale()), "filesize")
    app.add_template_filter(_number, "number")
    app.add_template_filter(describe_formats, "formats")
    app.add_template_filter(describe_counts, "counts")
    app.add_template_filter(count_slips, "slips")
    app.add_template_filter(count_balances, "balances")
    app.add_template_filter(
        lambda moment: format_datetime(moment, zone, page_locale()), "localtime"
    )
    app.add_template_filter(lambda day: format_day(day, page_locale()), "longdate")
    app.add_template_filter(format_period, "period")
    app.add_template_global(lambda: zone_name(zone, page_locale()), "display_zone")
    app.add_template_filter(describe_filters, "describe_filters")
    app.add_template_filter(iso_date, "isodate")
    app.add_template_filter(date.fromisoformat, "parse_date")
    app.add_template_filter(iso_datetime, "isotime")
    app.add_template_filter(
        lambda text: datetime.fromisoformat(text.replace("Z", "+00:00")), "parse_time"
    )
    # A failure stored in a record (an English msgid and its fields), in the page's language.
    from .i18n import translate_message

    app.add_template_filter(
        lambda message, fields: translate_message(message or "", fields), "translate_error_text"
    )
    app.add_template_filter(
        lambda moment, now: format_time_left(moment, now, page_locale()), "time_left"
    )
