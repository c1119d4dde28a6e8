"""Automatic backups: choose how often, see when the next runs, download or restore one.

The choice is stored in the app table (``jobs.backups``); the daily dispatcher
queues the backups. The archives live under ``backups/<sub>/``, kept longer than
exports, and are otherwise archives like any other.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound, ServiceUnavailable
from werkzeug.wrappers import Response

from ...archive.bucket import ArchiveNotFound, StorageError
from ...jobs.backups import BackupError, BackupPrefs
from ..auth import login_required, signed_in_user
from ..context import backup_prefs, backup_store, get_settings
from ..errors import render_error
from ..i18n import translate_error
from .forms import BackupForm

bp = Blueprint("backups", __name__, url_prefix="/backups")

#: When the schedule runs each day, in the display time zone (serverless.yml's cron).
DISPATCH_TIME = time(3, 0)


@bp.errorhandler(ArchiveNotFound)
def not_found(error: ArchiveNotFound) -> Response:
    """Answer 404 for a backup that is not the user's, or no longer there."""
    return render_error(NotFound(_("That automatic backup is not there (any more).")))


@bp.errorhandler(StorageError)
@bp.errorhandler(BackupError)
def unavailable(error: StorageError | BackupError) -> Response:
    """Answer 503 when S3 or the app table could not be reached."""
    return render_error(ServiceUnavailable(translate_error(error)))


@bp.post("/setting")
@login_required
def choose() -> Response:
    """Save how often the user's automatic backup runs."""
    form = BackupForm()
    if not form.validate():
        abort(400)
    user = signed_in_user()
    today = datetime.now(ZoneInfo(get_settings().display_timezone)).date()
    prefs = backup_prefs().choose(user.sub, form.frequency.data, today=today, email=user.email)
    if prefs.on:
        flash(_("Automatic backup is on. The first one runs tonight."), "success")
    else:
        flash(_("Automatic backup is off. The backups made so far stay listed."), "success")
    return redirect(url_for("exports.index", _anchor="backups-heading"), code=303)


@bp.get("/<archive_id>/download")
@login_required
def download(archive_id: str) -> Response:
    """Redirect to a fresh, short-lived download link for one of the user's backups."""
    from ..exports.views import download_redirect

    return download_redirect(backup_store(), archive_id)


def next_run_at(prefs: BackupPrefs, now: datetime, timezone: str) -> datetime | None:
    """Return when the next automatic backup should be made (the dispatch of its day)."""
    if not prefs.on or prefs.next_run is None:
        return None
    zone = ZoneInfo(timezone)
    local_now = now.astimezone(zone)
    day: date = max(prefs.next_run, local_now.date())
    moment = datetime.combine(day, DISPATCH_TIME, zone)
    if moment <= local_now:
        moment = datetime.combine(day + timedelta(days=1), DISPATCH_TIME, zone)
    return moment.astimezone(UTC)


def backups_context(sub: str, now: datetime) -> dict[str, Any]:
    """Return what the exports page shows of the automatic backups."""
    settings = get_settings()
    error = None
    try:
        prefs = backup_prefs().get(sub)
    except BackupError as exc:
        prefs, error = BackupPrefs(user_id=sub), translate_error(exc)
    try:
        listed = backup_store().list(sub, now=now)
    except StorageError as exc:
        listed, error = [], error or translate_error(exc)
    return {
        "backup_form": BackupForm(data={"frequency": prefs.frequency}),
        "backup_prefs": prefs,
        "backups": listed,
        "backup_next": next_run_at(prefs, now, settings.display_timezone),
        "backup_error": error,
        "backup_keep": settings.backup_keep,
    }
