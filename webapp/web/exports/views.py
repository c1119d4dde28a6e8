"""The signed-in user's exports page: start an export job, download or delete an archive."""

from __future__ import annotations

import zoneinfo
from datetime import date
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from werkzeug.exceptions import NotFound, ServiceUnavailable
from werkzeug.wrappers import Response

from ...apptable import UserItems, UserItemsError
from ...archive.bucket import (
    ArchiveNotFound,
    StorageError,
    list_together,
)
from ...errors import UserError
from ...jobs import backup, backup_now, export, preview, restore
from ...jobs.contents import contents_by_archive
from ...jobs.job import Job, JobError, State
from ...jobs.restore import RestoreParams
from ...jobs.schedule import BackupPrefsStore
from ...jobs.sources import RestoreSource
from ...jobs.store import JobStore
from ...jobs.submit import TooManyJobs, recent_checks, submit, visible_jobs
from ...jobs.vocabulary import VocabularyStore
from ..auth import login_required, signed_in_user
from ..backups.views import backups_context
from ..context import get_settings, reads_user_items, services, user_items
from ..downloads import download_redirect
from ..errors import render_error
from ..formatting import format_datetime, page_locale
from ..i18n import translate_error
from ..quota import too_many_jobs
from ..words import describe_source
from .forms import ExportForm, presets

bp = Blueprint("exports", __name__)


#: What each format choice writes, shown under its radio button.
FORMAT_HINTS = {
    "both": _l("CSV to open in Excel, and DynamoDB JSON for an exact restore."),
    "csv": _l("Spreadsheets that open in Excel, one per table."),
    "json": _l(
        "For an exact restore: every slip and balance exactly as stored, to bring back with "
        "Restore. Not for reading."
    ),
    "xlsx": _l("One Excel workbook, a sheet per table: dates, yen amounts and text typed."),
    "xlsx-json": _l("The workbook to read, and DynamoDB JSON for an exact restore."),
    "all": _l("CSV, the Excel workbook and DynamoDB JSON for an exact restore."),
}
ENCODING_HINTS = {
    "utf-8": _l("UTF-8 with a byte order mark, which Excel opens correctly."),
    "cp932": _l(
        "Shift_JIS (cp932), for accounting software such as freee. Characters it cannot "
        "hold, such as emoji, become ? (counted after the export)."
    ),
}


@bp.get("/")
@login_required
@reads_user_items
def index() -> str:
    """Show the export form, the exports in progress and the user's archives."""
    settings = get_settings()
    # Presets are plain links that fill the form through the query string; after
    # an export the redirect carries the user's choices back the same way.
    fields = {"start", "end", "formats", "csv_encoding", "accounts", "categories", "kinds"}
    prefill = request.args if fields & request.args.keys() else None
    form = ExportForm(formdata=prefill, max_span_days=settings.max_span_days)
    if prefill is None:
        today = _today()
        form.start.data, form.end.data = today.replace(month=1, day=1), today
    return _render(form)


@bp.post("/exports")
@login_required
def create() -> Response | tuple[str, int]:
    """Queue an export of the chosen range as a job, then show it on the page."""
    settings = get_settings()
    form = ExportForm(max_span_days=settings.max_span_days)
    if not form.validate() or form.date_range is None:
        return _render(form), 400
    params = form.params
    try:
        job = submit(services(), signed_in_user().sub, export.KIND, params)
    except TooManyJobs as exc:
        form.form_errors.append(too_many_jobs(exc))
        return _render(form), 429
    except JobError as exc:
        form.form_errors.append(translate_error(exc))
        return _render(form), 503
    # "started": shown as info; jobs.js takes it away once the export has finished.
    flash(_("The export has started. The archive appears in the list when it is ready."), "started")
    # The user's choices come back in the query, so the form shows them again.
    choices: dict[str, Any] = {
        "start": form.date_range.start.isoformat(),
        "end": form.date_range.end.isoformat(),
        "formats": form.formats.data,
        "csv_encoding": form.csv_encoding.data,
        **params.filters.to_dict(),
        "job": job.id,
    }
    return redirect(url_for("exports.index", **choices, _anchor=f"job-{job.id}"), code=303)


@bp.get("/exports/<archive_id>")
@login_required
def download(archive_id: str) -> Response:
    """Redirect to a fresh, short-lived download link for one of the user's archives."""
    return download_redirect(services().archives, archive_id)


@bp.errorhandler(ArchiveNotFound)
def archive_not_found(error: ArchiveNotFound) -> Response:
    """Answer 404 for a missing, expired, malformed or foreign archive."""
    days = get_settings().retention_days
    return render_error(
        NotFound(
            translate_error(error)
            + " "
            + ngettext(
                "Archives are deleted %(count)s day after they are made; "
                "make a new export whenever you need one.",
                "Archives are deleted %(count)s days after they are made; "
                "make a new export whenever you need one.",
                days,
                count=days,
            )
        )
    )


@bp.errorhandler(StorageError)
@bp.errorhandler(JobError)
def unavailable(error: UserError) -> Response:
    """Answer 503 when S3 or the job table could not be reached or refused the request."""
    return render_error(ServiceUnavailable(translate_error(error)))


def _render(form: ExportForm, jobs: list[Job] | None = None) -> str:
    """Draw the page: the user's app-table items in one read, then both S3 listings at once."""
    found, user = services(), signed_in_user()
    settings, now = found.settings, found.now()
    items_error = None
    try:
        items = user_items(user.sub)  # already read by the session check on GET /
    except UserItemsError as exc:
        items, items_error = UserItems(user_id=user.sub, items={}), translate_error(exc)
    form.offer(VocabularyStore.seen_in(items))
    every = JobStore.jobs_in(items)
    # Both listings side by side: two S3 calls, one wait.
    (archives, archives_error), (listed, backups_error) = list_together(
        (found.archives, found.backups), user.sub, now=now
    )
    list_error = translate_error(archives_error) if archives_error else items_error
    if jobs is None:
        jobs = [
            job
            for job in visible_jobs(every, now, stale_after=found.stale_after)
            if job.kind in (export.NAME, backup.NAME, backup_now.NAME)
        ]
    checks = recent_checks(every, now, stale_after=found.stale_after)
    finished = _finished(request.args.get("job", ""), every)
    return render_template(
        "exports/index.html",
        form=form,
        format_hints=FORMAT_HINTS,
        encoding_hints=ENCODING_HINTS,
        presets=presets(_today(), settings.max_span_days),
        archives=archives,
        jobs=jobs,
        checks=checks,
        check_sources=check_sources(checks, every),
        undoes=undoes(every),
        refresh=_refresh_url(jobs),
        list_error=list_error,
        new=request.args.get("new") or str(finished.result.get("archive_id", "")),
        labels=archive_labels(every),
        # What each archive holds, joined by archive id from the job records read above.
        contents=contents_by_archive(every),
        finished=finished if finished.state is State.DONE else None,
        now=now,
        retention_days=settings.retention_days,
        **backups_context(
            BackupPrefsStore.prefs_in(items),
            listed or [],
            items_error or (translate_error(backups_error) if backups_error else None),
            now,
        ),
    )


def _refresh_url(jobs: list[Job]) -> str | None:
    """Return where the page reloads itself to while a job is unfinished (without JavaScript).

    A refresh to the same URL with a ``#fragment`` would only scroll, never reload,
    so each refresh counts up a ``refresh`` parameter; the fragment keeps the job's
    row in view.
    """
    unfinished = [job for job in jobs if job.unfinished]
    if not unfinished:
        return None
    # Lists: a filter may repeat its parameter (accounts=cash&accounts=card).
    args: dict[str, Any] = request.args.to_dict(flat=False)
    args["refresh"] = str(refresh_count(request.args.get("refresh", "")) % 1000 + 1)
    shown = request.args.get("job", "")
    anchor = shown if any(job.id == shown for job in unfinished) else unfinished[0].id
    return url_for("exports.index", **args, _anchor=f"job-{anchor}")


def refresh_count(text: str) -> int:
    """Return the ``refresh`` parameter's count; 0 for anything but a few ASCII digits.

    ``str.isdigit`` alone would let "²" or 5,000 digits through to ``int``, which refuses both.
    """
    return int(text) if 0 < len(text) <= 6 and text.isascii() and text.isdigit() else 0


def _checked_params(job: Job, jobs: list[Job]) -> preview.PreviewParams | None:
    """Return what a check (or the check a restore carried out) read, if it is known."""
    checked: Job | None = job
    if job.kind == restore.NAME:
        wanted = RestoreParams.from_dict(job.params).preview
        checked = next((other for other in jobs if other.id == wanted), None)
    if checked is None or checked.kind != preview.NAME:
        return None
    try:
        return preview.PreviewParams.from_dict(checked.params)
    except UserError:
        return None  # a record from before sources were kept as they are now


def check_sources(checks: list[Job], jobs: list[Job]) -> dict[str, RestoreSource | None]:
    """Return the file each listed check or restore reads, by job id."""
    return {
        job.id: params.source if (params := _checked_params(job, jobs)) else None for job in checks
    }


def undoes(jobs: list[Job]) -> dict[str, str]:
    """Return, for each before-restore archive, the restore it can undo (by archive id)."""
    return {
        str(job.result["undo_archive_id"]): job.id
        for job in jobs
        if job.kind == restore.NAME
        and job.state is State.DONE
        and job.result.get("undo_archive_id")
    }


def archive_labels(jobs: list[Job]) -> dict[str, str]:
    """Return what the list says beside archives that jobs made for a purpose (by archive id).

    A before-restore archive is named by the restore it precedes: when, and from what
    (or that it was an undo), so two of them are never alike.
    """
    zone = zoneinfo.ZoneInfo(get_settings().display_timezone)
    labels = {}
    for job in jobs:
        undo = job.result.get("undo_archive_id") if job.kind == restore.NAME else None
        if not undo:
            continue
        # To the second: two restores in one minute still get names apart.
        when = format_datetime(job.created_at, zone, page_locale(), seconds=True)
        params = _checked_params(job, jobs)
        if params is not None and params.undoing:
            labels[str(undo)] = _("Before the undo of %(when)s", when=when)
        elif params is not None:
            labels[str(undo)] = _(
                "Before the restore of %(when)s from %(source)s",
                when=when,
                source=describe_source(params.source),
            )
        else:
            labels[str(undo)] = _("Before the restore of %(when)s", when=when)
    return labels


def _finished(job_id: str, every: list[Job]) -> Job:
    """Return the job the page was opened for, if it is one of the user's (else an empty one)."""
    job = next((job for job in every if job_id and job.id == job_id), None)
    return job or Job(user_id="", id="", kind="", state=State.QUEUED, created_at=services().now())


def _today() -> date:
    found = services()
    return found.now().astimezone(zoneinfo.ZoneInfo(found.settings.display_timezone)).date()
