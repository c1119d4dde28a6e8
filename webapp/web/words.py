"""A slip or a balance, and the file a restore reads, in the household's own words.

The restore pages show what a check found and what a restore will do as a person knows it: by
date, kind, category, memo and yen, never by key or attribute name. ``register`` installs these
as Jinja filters beside the general ones in ``formatting``.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from babel.dates import format_skeleton
from babel.numbers import format_currency
from flask.sansio.app import App
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..archive.ids import ArchiveId
from ..jobs.sources import RestoreSource
from ..model import SPECS
from .formatting import format_datetime, format_day, label_value, page_locale

#: What a restore's preview calls each field a person knows a slip or a balance by.
FIELD_LABELS = {
    "date": _l("Date"),
    "kind": _l("Kind"),
    "category": _l("Category"),
    "account": _l("Account"),
    "memo": _l("Memo"),
    "amount": _l("Amount"),
    "balance": _l("Balance"),
}


def format_yen(text: str, locale: str) -> str:
    """Return an amount in yen as the page's language writes it: ``-￥4,770`` / ``-¥4,770``."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    return format_currency(value, "JPY", locale=locale)


def format_field(name: str, value: str | None, table: str, locale: str) -> str:
    """Return one field of a slip or a balance as a person reads it, in ``locale``."""
    if value is None:
        return str(_("(none)"))
    if name == "date":
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return value
        # A balance is a month's: its day is always the month's last.
        return (
            format_skeleton("yMMM", day, locale=locale)
            if table == "balances"
            else format_day(day, locale)
        )
    if name in ("amount", "balance"):
        return format_yen(value, locale)
    if name in ("kind", "account"):
        return label_value(name + "s", value)
    if name == "memo" and not value:
        return str(_("(no memo)"))
    return value


def describe_item(fields: Mapping[str, str], table: str) -> str:
    """Return a slip or a balance on one line, as a person knows it (never by its key).

    ``2025年5月3日 · 支出 · 食費 · cash · ランチ · -￥1,200``
    """
    locale = page_locale()
    names = SPECS[table].shown if table in SPECS else tuple(fields)
    return " · ".join(
        format_field(name, fields[name], table, locale) for name in names if name in fields
    )


def describe_source(source: RestoreSource | None) -> str:
    """Return the file a check or a restore reads, as the person knows it."""
    if source is None:
        return ""
    if source.origin == "moment":
        zone = get_timezone() or zoneinfo.ZoneInfo("UTC")
        when = format_datetime(datetime.fromisoformat(source.at), zone, page_locale())
        return str(_("your account book as it was at %(when)s", when=when))
    if source.uploaded:
        if source.filename:
            return str(_("the file %(name)s from your PC", name=source.filename))
        return str(_("a file from your PC"))
    archive_id = ArchiveId.parse(source.name)
    if archive_id is None:
        return str(_("an archive"))
    locale, zone = page_locale(), get_timezone() or zoneinfo.ZoneInfo("UTC")
    made = format_datetime(archive_id.created, zone, locale)
    if source.origin == "backup":
        return str(_("the automatic backup made %(when)s", when=made))
    return str(
        _(
            "the archive of %(start)s to %(end)s made %(when)s",
            start=format_day(archive_id.start, locale),
            end=format_day(archive_id.end, locale),
            when=made,
        )
    )


def register(app: App) -> None:
    """Install the household's words as Jinja filters on ``app``."""
    app.add_template_filter(describe_source, "describe_source")
    app.add_template_filter(describe_item, "describe_item")
    app.add_template_filter(lambda name: str(FIELD_LABELS.get(name, name)), "field_label")
    app.add_template_filter(
        lambda value, name, table: format_field(name, value, table, page_locale()), "field_value"
    )
