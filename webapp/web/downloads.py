"""Downloads: a fresh, short-lived presigned link for one of the user's archives or backups.

Both the exports and the backups blueprints answer a click on "Download" here:
the link is made on every click (never stored, never mailed), and the saved
file's name says what the archive holds.
"""

from __future__ import annotations

import zoneinfo

from flask import redirect
from werkzeug.wrappers import Response

from ..archive.bucket import ArchiveBucket, download_filename
from ..archive.ids import BACKUP_PREFIX
from ..jobs.contents import Contents, contents_by_archive
from ..jobs.job import JobError
from .auth import signed_in_user
from .context import get_settings, services


def download_redirect(store: ArchiveBucket, archive_id: str) -> Response:
    """Redirect to a fresh presigned link for one of the signed-in user's archives in ``store``.

    The saved file's name says the period, the formats and the creation time (in
    the zone the page shows), so two downloads never share a name.
    """
    settings, sub = get_settings(), signed_in_user().sub
    archive = store.find(sub, archive_id)
    held = user_contents(sub).get(str(archive.id))
    filename = download_filename(
        archive.id,
        tag=held.tag if held else None,
        zone=zoneinfo.ZoneInfo(settings.display_timezone),
        everything=store.prefix == BACKUP_PREFIX,
    )
    url = store.presign_download(
        archive, expires_in=settings.download_url_expiry, filename=filename
    )
    response = redirect(url, code=302)
    # The link dies within minutes: no cache may replay it.
    response.headers["Cache-Control"] = "no-store"
    return response


def user_contents(sub: str) -> dict[str, Contents]:
    """Return what each of the user's archives holds, from one read of their job records."""
    try:
        return contents_by_archive(services().jobs.list(sub))
    except JobError:
        return {}  # the page says "—" rather than fail over a detail
