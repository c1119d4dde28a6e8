"""Deleting archives: one, or all of the user's, each after a confirmation page.

The row's "Delete…" is a plain link to a page (GET, changes nothing) that names
what would go, with a form that posts ``confirm=yes`` and the CSRF token. A post
without ``confirm`` (an older page's button) is sent to that page first. No
JavaScript is needed anywhere.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response

from ..auth import login_required, signed_in_user
from ..context import services
from ..downloads import user_contents
from ..formatting import format_day, format_number, page_locale
from .views import bp


def _confirmed() -> bool:
    return request.form.get("confirm") == "yes"


@bp.get("/exports/<archive_id>/delete")
@login_required
def confirm_delete(archive_id: str) -> str:
    """Show what deleting one of the user's archives would remove, with the form that does it."""
    sub = signed_in_user().sub
    archive = services().archives.find(sub, archive_id)
    return render_template(
        "exports/delete.html",
        archive=archive,
        contents=user_contents(sub).get(str(archive.id)),
        now=services().now(),
    )


@bp.post("/exports/<archive_id>/delete")
@login_required
def delete(archive_id: str) -> Response:
    """Delete one of the user's archives once confirmed; without ``confirm``, ask first."""
    if not _confirmed():
        return redirect(url_for("exports.confirm_delete", archive_id=archive_id), code=303)
    archive = services().archives.delete(signed_in_user().sub, archive_id)
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


@bp.get("/exports/delete-all")
@login_required
def confirm_delete_all() -> Response | str:
    """Show the user's archives that deleting all would remove, with the form that does it."""
    sub = signed_in_user().sub
    archives = services().archives.list(sub)
    if not archives:
        flash(_("You have no archives to delete."), "info")
        return redirect(url_for("exports.index"), code=303)
    return render_template(
        "exports/delete_all.html", archives=archives, contents=user_contents(sub)
    )


@bp.post("/exports/delete-all")
@login_required
def delete_all() -> Response:
    """Delete all of the user's archives (never their backups) once confirmed; else ask first."""
    if not _confirmed():
        return redirect(url_for("exports.confirm_delete_all"), code=303)
    count = services().archives.delete_all(signed_in_user().sub)
    flash(
        ngettext(
            "Deleted %(count)s archive. Your automatic backups are kept.",
            "Deleted %(count)s archives. Your automatic backups are kept.",
            count,
            count=format_number(count, page_locale()),
        ),
        "success",
    )
    return redirect(url_for("exports.index"), code=303)
