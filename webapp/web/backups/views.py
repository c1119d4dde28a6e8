"""Automatic backups: choose how often, back up now, see how they are doing, download one.

The choice is stored in the app table (``jobs.schedule``); the daily dispatcher
queues the backups. The archives live under ``backups/<sub>/``, kept longer than
exports, and are otherwise archives like any other. The exports page shows the
section (``backups_context``): the last success, the next one due and a plain
warning when the last one failed or none has succeeded for too long
(``jobs.health``), with a button that runs the same job at once.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import NotFound, ServiceUnavailable, TooManyRequests
from werkzeug.wrappers import Response

from ...archive.bucket import ArchiveNotFound, StorageError, StoredArchive
from ...jobs import backup, backup_now
from ...jobs.health import Health, health
from ...jobs.job import JobError
from ...jobs.schedule import BackupError, BackupPrefs
from ...jobs.submit import TooManyJobs, submit
from ..auth import login_required, signed_in_user
from ..context import services
from ..downloads import download_redirect
from ..errors import render_error
from ..formatting import format_datetime, page_locale
from ..i18n import translate_error, translate_message
from ..quota import too_many_jobs
from .forms import BackupForm

bp = Blueprint("backups", __name__, url_prefix="/backups")


@bp.errorhandler(ArchiveNotFound)
def not_found(error: ArchiveNotFound) -> Response:
    """Answer 404 for a backup that is not the user's, or no longer there."""
    return render_error(NotFound(_("That automatic backup is not there (any more).")))


@bp.errorhandler(StorageError)
@bp.errorhandler(BackupError)
@bp.errorhandler(JobError)
def unavailable(error: StorageError | BackupError | JobError) -> Response:
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
    prefs = found.backup_prefs.choose(
        user.sub, form.frequency.data, today=_today(), email=user.email
    )
    # Shown in the backups section (category "backups"), where the page comes back to.
    upcoming = health(prefs, found.now(), found.settings.display_timezone).next_due
    if upcoming is not None:
        # The very moment the page shows as the next backup: the promise cannot differ.
        zone = ZoneInfo(found.settings.display_timezone)
        when = format_datetime(upcoming, zone, page_locale())
        flash(_("Automatic backup is on. The next one runs on %(when)s.", when=when), "backups")
    else:
        flash(_("Automatic backup is off. The backups made so far stay listed."), "backups")
    return redirect(url_for("exports.index", _anchor="backups-saved"), code=303)


@bp.post("/now")
@login_required
def back_up_now() -> Response:
    """Run the user's backup at once: the schedule's job, counted toward the user's quota."""
    user, found = signed_in_user(), services()
    prefs = found.backup_prefs.get(user.sub)
    if prefs.last_job:
        previous = found.jobs.get(user.sub, prefs.last_job)
        if (
            previous is not None
            and previous.seen_at(found.now(), stale_after=found.stale_after).unfinished
        ):
            flash(_("A backup is being made already. It is listed when it is ready."), "info")
            return redirect(url_for("exports.index", _anchor="backups-heading"), code=303)
    params = backup.BackupParams(day=_today(), frequency=prefs.frequency)
    try:
        job = submit(found, user.sub, backup_now.KIND, params)
    except TooManyJobs as exc:
        return render_error(TooManyRequests(too_many_jobs(exc)))
    # The daily dispatch then waits for this one instead of queueing another.
    found.backup_prefs.dispatched(user.sub, job.id)
    flash(_("The backup has started. It is listed when it is ready."), "info")
    return redirect(url_for("exports.index", _anchor=f"job-{job.id}"), code=303)


@bp.get("/<archive_id>/download")
@login_required
def download(archive_id: str) -> Response:
    """Redirect to a fresh, short-lived download link for one of the user's backups."""
    return download_redirect(services().backups, archive_id)


def backups_context(
    prefs: BackupPrefs, listed: list[StoredArchive], error: str | None, now: datetime
) -> dict[str, Any]:
    """Return what the exports page shows of the automatic backups (the page reads them)."""
    settings = services().settings
    state = health(prefs, now, settings.display_timezone)
    return {
        "backup_form": BackupForm(data={"frequency": prefs.frequency}),
        "backup_prefs": prefs,
        "backups": listed,
        "backup_health": state,
        "backup_next": state.next_due,
        "backup_warning": warning(state),
        "backup_error": error,
        "backup_keep": settings.backup_keep,
        # What each backup row's expiry counts down from, so the words say the same.
        "backup_days": settings.backup_retention_days,
    }


#: The warnings' first sentence, by how often the backup runs ("off": it was on once).
FAILED = {
    "weekly": _l("Your last weekly backup failed on %(when)s:"),
    "monthly": _l("Your last monthly backup failed on %(when)s:"),
    "off": _l("Your last backup failed on %(when)s:"),
}
OVERDUE = {
    "weekly": _l("No weekly backup has succeeded since %(when)s."),
    "monthly": _l("No monthly backup has succeeded since %(when)s."),
    "off": _l("No backup has succeeded since %(when)s."),
}


def warning(state: Health) -> tuple[str, str] | None:
    """Return the warning about a failed or overdue backup: what happened, and why (or None)."""
    if state.trouble is None or state.since is None:
        return None
    zone = ZoneInfo(services().settings.display_timezone)
    when = format_datetime(state.since, zone, page_locale())
    if state.trouble == "failed":
        reason = translate_message(state.error or "", state.error_fields)
        return str(FAILED[state.frequency] % {"when": when}), reason
    return str(OVERDUE[state.frequency] % {"when": when}), ""


def _today() -> date:
    found = services()
    return found.now().astimezone(ZoneInfo(found.settings.display_timezone)).date()
