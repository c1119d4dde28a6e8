"""Restore from the page: choose an archive (or upload one), preview, confirm, see the result.

Every step that reads the archive or the tables runs as a job (preview, then
restore): a request only checks the form and queues it. Uploads go from the
browser straight to S3 with a presigned POST whose policy fixes the key under
the user's own ``uploads/<sub>/``; S3 sends the browser back here when done.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound, ServiceUnavailable
from werkzeug.wrappers import Response

from ...archive.bucket import ArchiveNotFound, StorageError
from ...archive.ids import parse_upload_key, upload_key
from ...errors import UserError
from ...jobs import preview as preview_job
from ...jobs import restore as restore_job
from ...jobs.job import Job, JobError, State
from ...jobs.restore import MERGE, REPLACE, RestoreParams
from ...jobs.submit import TooManyJobs, submit
from ..auth import login_required, signed_in_user
from ..context import services
from ..errors import render_error
from ..exports.views import too_many_jobs
from ..i18n import translate_error
from ..security import allow_form_action
from .forms import PreviewForm, RestoreForm

bp = Blueprint("restore", __name__, url_prefix="/restore")


@bp.errorhandler(ArchiveNotFound)
def not_found(error: ArchiveNotFound) -> Response:
    """Answer 404 for an archive or upload that is not the user's, or no longer there."""
    return render_error(
        NotFound(_("That archive or uploaded file is not there (any more). Please start again."))
    )


@bp.errorhandler(StorageError)
@bp.errorhandler(JobError)
def unavailable(error: UserError) -> Response:
    """Answer 503 when S3 or the job table could not be reached."""
    return render_error(ServiceUnavailable(translate_error(error)))


@bp.get("/archives/<archive_id>")
@login_required
def start_archive(archive_id: str) -> str:
    """Offer to check what restoring one of the user's archives would change."""
    archive = services().archives.find(signed_in_user().sub, archive_id)
    form = PreviewForm(data={"source": f"archive:{archive.id}"})
    return render_template("restore/start.html", form=form, archive=archive, upload_size=None)


@bp.get("/backups/<archive_id>")
@login_required
def start_backup(archive_id: str) -> str:
    """Offer to check what restoring one of the user's automatic backups would change."""
    archive = services().backups.find(signed_in_user().sub, archive_id)
    form = PreviewForm(data={"source": f"backup:{archive.id}"})
    return render_template(
        "restore/start.html", form=form, archive=archive, upload_size=None, backup=True
    )


@bp.get("/upload")
@login_required
def upload() -> str:
    """Show the form that sends a zip from the PC straight to S3."""
    settings = services().settings
    key = upload_key(signed_in_user().sub, secrets.token_hex(16))
    target = services().archives.presign_upload(
        key,
        max_bytes=settings.max_upload_bytes,
        redirect=url_for("restore.uploaded", _external=True),
    )
    parts = urlsplit(target.url)
    allow_form_action(f"{parts.scheme}://{parts.netloc}")
    return render_template(
        "restore/upload.html", target=target, max_bytes=settings.max_upload_bytes
    )


@bp.get("/uploaded")
@login_required
def uploaded() -> str:
    """Confirm the upload S3 sent the browser back from, and offer to check it."""
    sub = signed_in_user().sub
    token = parse_upload_key(request.args.get("key", ""), sub)
    if token is None:
        abort(404)
    size = services().archives.uploaded_size(upload_key(sub, token))
    form = PreviewForm(data={"source": f"upload:{token}"})
    return render_template("restore/start.html", form=form, archive=None, upload_size=size)


@bp.post("/preview")
@login_required
def preview() -> Response | tuple[str, int]:
    """Queue a check of what restoring the chosen archive would change."""
    form = PreviewForm()
    if not form.validate():
        abort(400)
    source, sub, found = form.chosen, signed_in_user().sub, services()
    if source.uploaded:
        found.archives.uploaded_size(upload_key(sub, source.name))
    else:
        # 404 unless it is theirs and still there.
        found.bucket(source.prefix).find(sub, source.name)
    try:
        job = submit(found, sub, preview_job.KIND, preview_job.PreviewParams(source))
    except TooManyJobs as exc:
        return render_template("restore/refused.html", message=too_many_jobs(exc)), 429
    except JobError as exc:
        return render_template("restore/refused.html", message=translate_error(exc)), 503
    return redirect(url_for("restore.job", job_id=job.id), code=303)


def _own_restore_job(job_id: str) -> Job:
    found = services()
    job = found.jobs.get(signed_in_user().sub, job_id)
    if job is None or job.kind not in (preview_job.NAME, restore_job.NAME):
        abort(404)
    return job.seen_at(found.now(), stale_after=found.stale_after)


@bp.get("/jobs/<job_id>")
@login_required
def job(job_id: str) -> str:
    """Show a preview or a restore: its progress, then what it found or did."""
    found = _own_restore_job(job_id)
    form = RestoreForm(data={"mode": MERGE}) if found.kind == preview_job.NAME else None
    return _render_job(found, form)


@bp.post("/jobs/<job_id>/confirm")
@login_required
def confirm(job_id: str) -> Response | tuple[str, int]:
    """Queue the restore a finished preview showed, merge or (typed) replace."""
    checked = _own_restore_job(job_id)
    if checked.kind != preview_job.NAME or checked.state is not State.DONE:
        abort(404)
    form = RestoreForm()
    if not form.validate():
        return _render_job(checked, form), 400
    if form.mode.data == REPLACE and checked.result.get("filters"):
        # The worker refuses it too; saying so here keeps the user on the page.
        form.form_errors.append(
            _(
                "This archive was made with filters, so it holds only some of the period's "
                "items: a replace would delete the rest. Restore it by merging."
            )
        )
        return _render_job(checked, form), 400
    try:
        params = RestoreParams(preview=checked.id, mode=form.mode.data)
        restoring = submit(services(), checked.user_id, restore_job.KIND, params)
    except TooManyJobs as exc:
        form.form_errors.append(too_many_jobs(exc))
        return _render_job(checked, form), 429
    except JobError as exc:
        form.form_errors.append(translate_error(exc))
        return _render_job(checked, form), 503
    return redirect(url_for("restore.job", job_id=restoring.id), code=303)


def _render_job(found: Job, form: RestoreForm | None) -> str:
    undo = preview = None
    if found.kind == restore_job.NAME:
        if found.state is State.DONE:
            undo_id = str(found.result.get("undo_archive_id"))
            try:
                undo = services().archives.find(found.user_id, undo_id)
            except ArchiveNotFound:
                undo = None
        checked = RestoreParams.from_dict(found.params).preview
        preview = services().jobs.get(found.user_id, checked)
    return render_template(
        "restore/job.html",
        job=found,
        form=form,
        undo=undo,
        preview=preview,
        refresh=url_for("restore.job", job_id=found.id) if found.unfinished else None,
    )
