"""Jobs on the exports page: their status as JSON for the page's script, and cancelling.

``GET /jobs/<id>`` answers the small script that updates a job's row in place;
without JavaScript the page refreshes itself instead (see the template). Either
way the words come from ``job_status``, so the two always say the same.
"""

from __future__ import annotations

from types import SimpleNamespace

from flask import flash, get_template_attribute, jsonify, redirect, url_for
from flask_babel import format_decimal, gettext, ngettext
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from ...archive.bucket import ArchiveNotFound
from ...jobs import backup_now, export, preview, restore
from ...jobs.contents import contents_by_archive
from ...jobs.job import Job, State
from ..auth import login_required, signed_in_user
from ..context import services
from ..formatting import count_balances, count_slips, format_size, page_locale
from ..i18n import translate_message
from .views import bp


def _(message: str, **fields: object) -> str:
    return str(gettext(message, **fields))


#: The kinds' names for templates (``job.kind == kinds.export``): each is spelled once,
#: in its own module.
KINDS = SimpleNamespace(
    export=export.NAME, backups=backup_now.NAMES, preview=preview.NAME, restore=restore.NAME
)
bp.record_once(lambda state: state.app.jinja_env.globals.update(kinds=KINDS))


@bp.app_template_global()
def job_status(job: Job) -> str:
    """Return what a job's row says: waiting, progress so far, or how it ended."""
    if job.state is State.QUEUED:
        return _("Waiting to start…")
    if job.kind in backup_now.NAMES and job.state is State.RUNNING:
        return _("Making the automatic backup…")
    if job.kind == preview.NAME and job.state is State.RUNNING:
        return _("Checking the archive and comparing it with your account book…")
    if job.kind == restore.NAME and job.state is State.RUNNING:
        sent = sum(job.progress.values())
        if not sent:
            return _("Saving the current data for undo, then restoring…")
        return _("Restoring… %(count)s changes written so far", count=format_decimal(sent))
    if job.kind == preview.NAME and job.state is State.DONE:
        return _("Checked. See below what a restore would change.")
    if job.kind == restore.NAME and job.state is State.DONE:
        return _("Restored.")
    if job.state is State.RUNNING:
        slips, balances = job.progress.get("slips", 0), job.progress.get("balances", 0)
        if not slips and not balances:
            return _("Exporting…")
        if not balances:
            return _("Exporting… %(slips)s so far", slips=count_slips(slips))
        return _(
            "Exporting… %(slips)s and %(balances)s so far",
            slips=count_slips(slips),
            balances=count_balances(balances),
        )
    if job.state is State.DONE:
        counts = job.result.get("counts") or {}
        slips, balances = counts.get("slips", 0), counts.get("balances", 0)
        size = format_size(int(job.result.get("size", 0)), page_locale())
        if not slips and not balances:
            return _(
                "This period has no slips or balances, so the archive (%(size)s) holds only "
                "the files' headers.",
                size=size,
            )
        done = _(
            "Exported %(slips)s and %(balances)s (%(size)s).",
            slips=count_slips(slips),
            balances=count_balances(balances),
            size=size,
        )
        replaced = sum(int(n) for n in (job.result.get("replaced") or {}).values())
        if replaced:
            done += " " + ngettext(
                "%(count)s character that Shift_JIS cannot hold was written as ? in the CSV.",
                "%(count)s characters that Shift_JIS cannot hold were written as ? in the CSV.",
                replaced,
                count=format_decimal(replaced),
            )
        return done
    if job.state is State.CANCELLED:
        return _("Cancelled.")
    return translate_message(job.error or "", job.error_fields)


def _own_job(job_id: str) -> Job:
    """Return the signed-in user's job, as they should see it now; 404 for any other."""
    found = services()
    job = found.jobs.get(signed_in_user().sub, job_id)
    if job is None:
        raise NotFound(_("There is no such export."))
    return job.seen_at(found.now(), stale_after=found.stale_after)


@bp.get("/jobs/<job_id>")
@login_required
def job_status_json(job_id: str) -> Response:
    """Answer a job's state, progress and words as JSON; with its archive's row once done."""
    job = _own_job(job_id)
    answer: dict[str, object] = {
        "id": job.id,
        "state": str(job.state),
        "unfinished": job.unfinished,
        "text": job_status(job),
        "progress": job.progress,
    }
    if job.state is State.DONE:
        try:
            archive = services().archives.find(job.user_id, str(job.result.get("archive_id", "")))
        except ArchiveNotFound:
            pass  # deleted already
        else:
            row = get_template_attribute("exports/_rows.html", "archive_row")
            answer["archive_id"] = str(archive.id)
            held = contents_by_archive([job]).get(str(archive.id))
            answer["row"] = str(row(archive, new=True, now=services().now(), contents=held)).strip()
    return jsonify(answer)


@bp.post("/jobs/<job_id>/cancel")
@login_required
def cancel(job_id: str) -> Response:
    """Cancel one of the user's queued or running exports."""
    job = _own_job(job_id)
    if job.unfinished and services().jobs.cancel(job.user_id, job.id, services().now()):
        flash(_("The export was cancelled. Nothing was saved."), "info")
    else:
        flash(_("That export had already finished."), "info")
    return redirect(url_for("exports.index"), code=303)
