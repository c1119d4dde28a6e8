"""Restore from the page, second steps: the check's result, the one confirmation, undo.

A finished check (a preview job) shows what a restore would change in the
household's terms, and can be confirmed once: confirming marks the check as
carried out by the restore job it starts, with one conditional write, so a
second confirm (a double click, a reopened page, a replayed form) is refused
with a link to that restore's result. A check older than
``RESTORE_CHECK_MINUTES`` asks to be made again, and the restore itself writes
nothing if the account book changed in the period since (``jobs/restore.py``).
Undo is its own action: a check of the restore's before-restore archive,
carried out as a replace.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from ...archive.bucket import ArchiveNotFound
from ...jobs import preview as preview_job
from ...jobs import restore as restore_job
from ...jobs.job import Job, JobError, State, new_job_id
from ...jobs.restore import MERGE, REPLACE, RestoreParams
from ...jobs.sources import RestoreSource
from ...jobs.submit import TooManyJobs, submit
from ..auth import login_required, signed_in_user
from ..context import services
from ..i18n import translate_error
from ..quota import too_many_jobs
from .forms import RestoreForm, UndoForm
from .views import bp, start_check


def _own(job_id: str) -> Job:
    """Return the signed-in user's check or restore, as they should see it now; else 404."""
    found = services()
    job = found.jobs.get(signed_in_user().sub, job_id)
    if job is None or job.kind not in (preview_job.NAME, restore_job.NAME):
        abort(404)
    return job.seen_at(found.now(), stale_after=found.stale_after)


def _expired(checked: Job) -> bool:
    """Return whether a finished check is too old to confirm (or from before checks aged)."""
    made = checked.result.get("checked_at")
    if not isinstance(made, str):
        return True
    limit = timedelta(minutes=services().settings.restore_check_minutes)
    return services().now() - datetime.fromisoformat(made) > limit


def _form(checked: Job) -> RestoreForm | UndoForm | None:
    """Return the confirmation a finished check offers, or None if it can no longer be used."""
    if checked.kind != preview_job.NAME or checked.state is not State.DONE:
        return None
    if checked.consumed_by or _expired(checked):
        return None
    if _always_replaces(checked):
        return UndoForm()
    return RestoreForm(data={"mode": MERGE})


def _always_replaces(checked: Job) -> bool:
    """Return whether a check is carried out only as a replace: an undo, or a moment."""
    params = preview_job.PreviewParams.from_dict(checked.params)
    return bool(params.undoing) or params.source.origin == "moment"


@bp.get("/jobs/<job_id>")
@login_required
def job(job_id: str) -> str:
    """Show a check or a restore: its progress, then what it found or did."""
    found = _own(job_id)
    return _render(found, _form(found))


@bp.post("/jobs/<job_id>/confirm")
@login_required
def confirm(job_id: str) -> Response | tuple[str, int]:
    """Carry out a finished check, once: merge, (typed) replace, or an undo."""
    checked = _own(job_id)
    if checked.kind != preview_job.NAME or checked.state is not State.DONE:
        abort(404)
    if checked.consumed_by:
        return _used(checked, checked.consumed_by)
    if _expired(checked):
        return _render(checked, None), 409
    replaces = _always_replaces(checked)
    form = UndoForm() if replaces else RestoreForm()
    if not form.validate():
        return _render(checked, form), 400
    mode = REPLACE if replaces else form.mode.data
    if mode == REPLACE and checked.result.get("filters"):
        # The worker refuses it too; saying so here keeps the user on the page.
        form.form_errors.append(
            _(
                "This archive was made with filters, so it holds only some of the period's "
                "items: a replace would delete the rest. Restore it by merging."
            )
        )
        return _render(checked, form), 400
    found = services()
    restore_id = new_job_id(found.now())
    taken = found.jobs.consume(checked, restore_id, found.now())
    if taken is not None:  # another confirm of the same check was first
        return _used(checked, taken)
    params = RestoreParams(preview=checked.id, mode=mode)
    try:
        restoring = submit(found, checked.user_id, restore_job.KIND, params, job_id=restore_id)
    except (TooManyJobs, JobError) as exc:
        found.jobs.release(checked, restore_id)  # not carried out: it may be confirmed again
        message = too_many_jobs(exc) if isinstance(exc, TooManyJobs) else translate_error(exc)
        form.form_errors.append(message)
        return _render(checked, form), 429 if isinstance(exc, TooManyJobs) else 503
    return redirect(url_for("restore.job", job_id=restoring.id), code=303)


def _used(checked: Job, restore_id: str) -> tuple[str, int]:
    """Refuse a second confirm of one check, pointing to the restore the first one started."""
    page = render_template("restore/used.html", checked=checked, restore_id=restore_id)
    return page, 409


@bp.post("/jobs/<job_id>/undo")
@login_required
def undo(job_id: str) -> Response | tuple[str, int]:
    """Check what undoing a restore would change: its before-restore archive, to replace."""
    restored = _own(job_id)
    archive_id = restored.result.get("undo_archive_id")
    if restored.kind != restore_job.NAME or restored.state is not State.DONE or not archive_id:
        abort(404)
    services().archives.find(restored.user_id, str(archive_id))  # 404 once it has expired
    source = RestoreSource("archive", str(archive_id))
    return start_check(restored.user_id, preview_job.PreviewParams(source, undoing=restored.id))


@bp.post("/jobs/<job_id>/again")
@login_required
def again(job_id: str) -> Response | tuple[str, int]:
    """Check the same file again (a check that is too old, or a restore that was refused)."""
    found = _own(job_id)
    checked: Job | None = found
    if found.kind == restore_job.NAME:
        checked = services().jobs.get(found.user_id, RestoreParams.from_dict(found.params).preview)
    if checked is None:
        abort(404)
    return start_check(found.user_id, preview_job.PreviewParams.from_dict(checked.params))


@bp.post("/jobs/<job_id>/dismiss")
@login_required
def dismiss(job_id: str) -> Response:
    """Put a finished check or restore away from the exports page's list of checks."""
    found = _own(job_id)
    if not found.unfinished and services().jobs.dismiss(found.user_id, found.id):
        flash(_("The check was put away. You can still open it from its link."), "info")
    return redirect(url_for("exports.index", _anchor="checks-heading"), code=303)


def _render(found: Job, form: RestoreForm | UndoForm | None) -> str:
    """Render a check or a restore with what the page says about it."""
    jobs = services().jobs
    checked: Job | None = found
    if found.kind == restore_job.NAME:
        checked = jobs.get(found.user_id, RestoreParams.from_dict(found.params).preview)
    params = preview_job.PreviewParams.from_dict(checked.params) if checked else None
    undone = jobs.get(found.user_id, params.undoing) if params and params.undoing else None
    undo_archive = None
    if found.kind == restore_job.NAME and found.result.get("undo_archive_id"):
        try:
            undo_archive = services().archives.find(
                found.user_id, str(found.result["undo_archive_id"])
            )
        except ArchiveNotFound:
            undo_archive = None
    return render_template(
        "restore/job.html",
        job=found,
        checked=checked,
        source=params.source if params else None,
        moment=(
            datetime.fromisoformat(params.source.at)
            if params and params.source.origin == "moment"
            else None
        ),
        undone=undone,
        form=form,
        expired=found.kind == preview_job.NAME
        and found.state is State.DONE
        and not found.consumed_by
        and _expired(found),
        undo=undo_archive,
        undo_form=UndoForm() if undo_archive else None,
        minutes=services().settings.restore_check_minutes,
        refresh=url_for("restore.job", job_id=found.id) if found.unfinished else None,
    )
