"""Put the account book back to a moment: the recent changes, "just before this", or a time.

The page lists the user's recorded changes grouped by minute ("12 slips deleted
at 14:05") with a button to put the book back to just before each, and a date
and time field. Either starts a check of that moment (a preview job whose source
is the moment); from there it is the archive restore's check page, confirmed
once, carried out as a replace, with its before-archive and undo.
"""

from __future__ import annotations

import secrets
import zoneinfo
from datetime import datetime

from babel.dates import format_skeleton
from flask import render_template
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response

from ...changes.history import Group, Overview, overview
from ...changes.store import from_ms, utc_ms
from ...jobs import preview as preview_job
from ...jobs.sources import RestoreSource
from ..auth import login_required, signed_in_user
from ..context import services
from ..formatting import format_datetime, format_number, page_locale
from .forms import MomentForm
from .views import bp, start_check


def _overview() -> Overview:
    found, settings = services(), services().settings
    return overview(
        found.changes,
        signed_in_user().sub,
        found.now(),
        retention_days=settings.changes_retention_days,
        timezone=settings.display_timezone,
    )


def describe_group(group: Group) -> str:
    """Return a group of changes as a person says it: ``12 slips deleted (March 2025)``."""
    n, count = group.count, format_number(group.count, page_locale())
    said = {
        ("slips", "INSERT"): lambda: ngettext(
            "%(count)s slip added", "%(count)s slips added", n, count=count
        ),
        ("slips", "MODIFY"): lambda: ngettext(
            "%(count)s slip changed", "%(count)s slips changed", n, count=count
        ),
        ("slips", "REMOVE"): lambda: ngettext(
            "%(count)s slip deleted", "%(count)s slips deleted", n, count=count
        ),
        ("balances", "INSERT"): lambda: ngettext(
            "%(count)s balance added", "%(count)s balances added", n, count=count
        ),
        ("balances", "MODIFY"): lambda: ngettext(
            "%(count)s balance changed", "%(count)s balances changed", n, count=count
        ),
        ("balances", "REMOVE"): lambda: ngettext(
            "%(count)s balance deleted", "%(count)s balances deleted", n, count=count
        ),
    }[(group.table, group.event)]()
    month = group.month
    if month is None:
        return str(said)
    shown = format_skeleton("yMMMM", month, locale=page_locale())
    return str(_("%(changes)s (%(month)s)", changes=said, month=shown))


def _page(form: MomentForm, shown: Overview) -> str:
    start = shown.window.start_ms
    days: dict[object, list[dict[str, object]]] = {}
    for group in shown.groups:
        days.setdefault(group.day, []).append(
            {
                "minute": group.minute,
                "text": describe_group(group),
                # Just before this: the book as it was the millisecond before its first change.
                "at_ms": group.first_ms - 1,
                "offered": start is not None and shown.window.holds(group.first_ms - 1),
            }
        )
    # Gaps the log has (a batch of changes that could not be recorded): said, with their times.
    gaps = [(from_ms(gap.first_ms), from_ms(gap.last_ms)) for gap in shown.window.gaps]
    return render_template(
        "restore/moments.html",
        form=form,
        days=days,
        gaps=gaps,
        start=None if start is None else from_ms(start),
    )


@bp.get("/moments")
@login_required
def moments() -> str:
    """List the recent changes and offer to put the account book back to a moment."""
    return _page(MomentForm(), _overview())


@bp.post("/moments")
@login_required
def moment() -> Response | tuple[str, int]:
    """Check what putting the account book back to the chosen moment would change."""
    form, shown = MomentForm(), _overview()
    if not form.validate():
        form.form_errors.extend(form.at_ms.errors)  # a hidden field: said above the form
        return _page(form, shown), 400
    zone = zoneinfo.ZoneInfo(services().settings.display_timezone)
    if form.at_ms.data:
        at_ms = int(form.at_ms.data)
    elif form.when.data:
        at_ms = utc_ms(form.when.data.replace(tzinfo=zone))
    else:
        form.when.errors = [_("Choose a date and time.")]
        return _page(form, shown), 400
    if shown.window.start_ms is None or not shown.window.holds(at_ms):
        form.when.errors = [_outside(shown)]
        return _page(form, shown), 400
    at = from_ms(at_ms).isoformat(timespec="milliseconds")
    source = RestoreSource("moment", secrets.token_hex(16), at=at)
    return start_check(signed_in_user().sub, preview_job.PreviewParams(source))


def _outside(shown: Overview) -> str:
    if shown.window.start_ms is None:
        return str(_("No moment can be chosen yet: changes are not recorded completely yet."))
    zone = zoneinfo.ZoneInfo(services().settings.display_timezone)
    start: datetime = from_ms(shown.window.start_ms)
    return str(
        _(
            "Choose a moment between %(start)s and now.",
            start=format_datetime(start, zone, page_locale()),
        )
    )
