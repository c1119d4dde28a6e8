"""Automatic backups: choose how often, download a backup.

The choice is stored in the app table (``jobs.schedule``); the daily dispatcher
queues the backups. The archives live under ``backups/<sub>/``, kept longer than
exports, and are otherwise archives like any other. The exports page shows the
section (``backups_context``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound, ServiceUnavailable
from werkzeug.wrappers import Response

from ...archive.bucket import ArchiveNotFound, StorageError
from ...jobs.schedule import BackupError, BackupPrefs, next_run_at
from ..auth import login_required, signed_in_user
from ..context import services
from ..downloads import download_redirect
from ..errors import render_error
from ..formatting import format_datetime, page_locale
from ..i18n import translate_error
from .forms import BackupForm

bp = Blueprint("backups", __name__, url_prefix="/backups")


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
    user, found = signed_in_user(), services()
    today = found.now().astimezone(ZoneInfo(found.settings.display_timezone)).date()
    prefs = found.backup_prefs.choose(user.sub, form.frequency.data, today=today, email=user.email)
    # Shown in the backups section (category "backups"), where the page comes back to.
    upcoming = next_run_at(prefs, found.now(), found.settings.display_timezone)
    if upcoming is not None:
        # The very moment the page shows as the next backup: the promise cannot differ.
        zone = ZoneInfo(found.settings.display_timezone)
        when = format_datetime(upcoming, zone, page_locale())
        flash(_("Automatic backup is on. The next one runs on %(when)s.", when=when), "backups")
    else:
        flash(_("Automatic backup is off. The backups made so far stay listed."), "backups")
    return redirect(url_for("exports.index", _anchor="backups-saved"), code=303)


@bp.get("/<archive_id>/download")
@login_required
def download(archive_id: str) -> Response:
    """Redirect to a fresh, short-lived download link for one of the user's backups."""
    return download_redirect(services().backups, archive_id)


def backups_context(sub: str, now: datetime) -> dict[str, Any]:
    """Return what the exports page shows of the automatic backups."""
    found = services()
    error = None
    try:
        prefs = found.backup_prefs.get(sub)
    except BackupError as exc:
        prefs, error = BackupPrefs(user_id=sub), translate_error(exc)
    try:
        listed = found.backups.list(sub, now=now)
    except StorageError as exc:
        listed, error = [], error or translate_error(exc)
    return {
        "backup_form": BackupForm(data={"frequency": prefs.frequency}),
        "backup_prefs": prefs,
        "backups": listed,
        "backup_next": next_run_at(prefs, now, found.settings.display_timezone),
        "backup_error": error,
        "backup_keep": found.settings.backup_keep,
        # What each backup row's expiry counts down from, so the words say the same.
        "backup_days": found.settings.backup_retention_days,
    }
