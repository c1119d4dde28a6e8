"""Restore from the page, first steps: choose an archive (or send one from the PC), check it.

Every step that reads the archive or the tables runs as a job (the check, then
the restore): a request only checks the form and queues it. A file from the PC
goes from the browser straight to S3 with a presigned POST whose policy fixes
the key under the user's own ``uploads/<sub>/``; S3 sends the browser back
here, and what arrived is looked at (its name, its size, whether it is a zip)
before it can be checked. The check's page, the confirmation, the result and
undo are in ``checks``.
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
from ...jobs.job import JobError
from ...jobs.sources import RestoreSource
from ...jobs.submit import TooManyJobs, submit
from ..auth import login_required, signed_in_user
from ..context import services
from ..errors import render_error
from ..i18n import too_many_jobs, translate_error
from ..security import allow_form_action
from .forms import PreviewForm

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
    return render_template("restore/start.html", form=form, archive=archive, upload=None)


@bp.get("/backups/<archive_id>")
@login_required
def start_backup(archive_id: str) -> str:
    """Offer to check what restoring one of the user's automatic backups would change."""
    archive = services().backups.find(signed_in_user().sub, archive_id)
    form = PreviewForm(data={"source": f"backup:{archive.id}"})
    return render_template(
        "restore/start.html", form=form, archive=archive, upload=None, backup=True
    )


@bp.get("/upload")
@login_required
def upload() -> str:
    """Show the form that sends a zip from the PC straight to S3."""
    found = services()
    key = upload_key(signed_in_user().sub, secrets.token_hex(16))
    target = found.inbox.presign(
        key,
        max_bytes=found.settings.max_upload_bytes,
        redirect=url_for("restore.uploaded", _external=True),
    )
    parts = urlsplit(target.url)
    allow_form_action(f"{parts.scheme}://{parts.netloc}")
    return render_template(
        "restore/upload.html", target=target, max_bytes=found.settings.max_upload_bytes
    )


@bp.get("/uploaded")
@login_required
def uploaded() -> str | tuple[str, int]:
    """Say what arrived from the PC and offer to check it; refuse a file that is no zip."""
    sub = signed_in_user().sub
    token = parse_upload_key(request.args.get("key", ""), sub)
    if token is None:
        abort(404)
    inbox = services().inbox
    arrived = inbox.arrived(upload_key(sub, token))
    if not arrived.zip:
        inbox.discard(arrived.key)  # nothing will ever read it
        return render_template("restore/not_a_zip.html", upload=arrived), 400
    form = PreviewForm(data={"source": f"upload:{token}"})
    return render_template("restore/start.html", form=form, archive=None, upload=arrived)


@bp.post("/preview")
@login_required
def preview() -> Response | tuple[str, int]:
    """Queue a check of what restoring the chosen archive would change."""
    form = PreviewForm()
    if not form.validate():
        abort(400)
    source, sub, found = form.chosen, signed_in_user().sub, services()
    if source.uploaded:
        arrived = found.inbox.arrived(upload_key(sub, source.name))
        source = RestoreSource(source.origin, source.name, arrived.filename)
    else:
        # 404 unless it is theirs and still there.
        found.bucket(source.prefix).find(sub, source.name)
    return start_check(sub, preview_job.PreviewParams(source))


def start_check(sub: str, params: preview_job.PreviewParams) -> Response | tuple[str, int]:
    """Queue a check (a preview job) and go to its page; or say why it cannot start."""
    try:
        job = submit(services(), sub, preview_job.KIND, params)
    except TooManyJobs as exc:
        return render_template("restore/refused.html", message=too_many_jobs(exc)), 429
    except JobError as exc:
        return render_template("restore/refused.html", message=translate_error(exc)), 503
    return redirect(url_for("restore.job", job_id=job.id), code=303)
