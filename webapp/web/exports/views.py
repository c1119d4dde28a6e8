"""The signed-in user's exports page: make an archive, download or delete one."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from werkzeug.exceptions import NotFound, ServiceUnavailable
from werkzeug.wrappers import Response

from ...archive.errors import ExportError
from ...archive.export import export_archive
from ...archive.store import ArchiveNotFound, ArchiveStore, StorageError, StoredArchive
from ..auth import login_required, signed_in_user
from ..context import get_clients, get_settings
from ..errors import render_error
from ..filters import count_balances, count_slips, format_day, format_size, page_locale
from ..i18n import translate_error
from .forms import ExportForm, presets

bp = Blueprint("exports", __name__)

#: What each format choice writes, shown under its radio button.
FORMAT_HINTS = {
    "both": _l("Both files for each table: one to read, one to restore."),
    "csv": _l("Spreadsheets that open in Excel, one per table."),
    "json": _l("An exact, typed copy to restore into DynamoDB."),
}


def archive_store() -> ArchiveStore:
    """Return the store of the current app's bucket."""
    settings = get_settings()
    return ArchiveStore(
        get_clients().s3, settings.export_bucket, retention_days=settings.retention_days
    )


@bp.get("/")
@login_required
def index() -> str:
    """Show the export form and the user's archives."""
    settings = get_settings()
    # Presets are plain links that fill the form through the query string.
    prefill = request.args if {"start", "end", "formats"} & request.args.keys() else None
    form = ExportForm(formdata=prefill, max_span_days=settings.max_span_days)
    if prefill is None:
        today = _today()
        form.start.data, form.end.data = today.replace(month=1, day=1), today
    return _render(form)


@bp.post("/exports")
@login_required
def create() -> Response | tuple[str, int]:
    """Export the chosen range to a new archive, then show it in the list."""
    settings, clients = get_settings(), get_clients()
    form = ExportForm(max_span_days=settings.max_span_days)
    if not form.validate() or form.date_range is None:
        return _render(form), 400
    try:
        result = export_archive(
            dynamodb=clients.dynamodb,
            s3=clients.s3,
            bucket=settings.export_bucket,
            tables={"slips": settings.slips_table, "balances": settings.balances_table},
            sub=signed_in_user().sub,
            date_range=form.date_range,
            formats=form.chosen_formats,
        )
    except ExportError as exc:
        form.form_errors.append(translate_error(exc))
        return _render(form), 503
    counts = result.counts
    flash(
        _(
            "Exported %(slips)s and %(balances)s (%(size)s).",
            slips=count_slips(counts.get("slips", 0)),
            balances=count_balances(counts.get("balances", 0)),
            size=format_size(result.size, page_locale()),
        ),
        "success",
    )
    return redirect(url_for("exports.index", new=str(result.archive_id)), code=303)


@bp.get("/exports/<archive_id>")
@login_required
def download(archive_id: str) -> Response:
    """Redirect to a fresh, short-lived download link for one of the user's archives."""
    store = archive_store()
    archive = store.find(signed_in_user().sub, archive_id)
    url = store.presign_download(archive, expires_in=get_settings().download_url_expiry)
    response = redirect(url, code=302)
    # The link dies within minutes: no cache may replay it.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/exports/<archive_id>/delete")
@login_required
def delete(archive_id: str) -> Response:
    """Delete one of the user's archives and return to the list."""
    archive = archive_store().delete(signed_in_user().sub, archive_id)
    locale = page_locale()
    flash(
        _(
            "Deleted the archive of %(start)s to %(end)s.",
            start=format_day(archive.id.start, locale),
            end=format_day(archive.id.end, locale),
        ),
        "success",
    )
    return redirect(url_for("exports.index"), code=303)


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
def storage_unavailable(error: StorageError) -> Response:
    """Answer 503 when S3 could not be reached or refused the request."""
    return render_error(ServiceUnavailable(translate_error(error)))


def _render(form: ExportForm) -> str:
    settings = get_settings()
    now = datetime.now(UTC)
    archives: list[StoredArchive] | None
    try:
        archives = archive_store().list(signed_in_user().sub, now=now)
        list_error = None
    except StorageError as exc:
        archives, list_error = None, translate_error(exc)
    return render_template(
        "exports/index.html",
        form=form,
        format_hints=FORMAT_HINTS,
        presets=presets(_today(), settings.max_span_days),
        archives=archives,
        list_error=list_error,
        new=request.args.get("new", ""),
        now=now,
        retention_days=settings.retention_days,
    )


def _today() -> date:
    return datetime.now(zoneinfo.ZoneInfo(get_settings().display_timezone)).date()
