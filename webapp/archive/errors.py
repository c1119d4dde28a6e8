"""The core's exceptions: an export that made nothing, a restore that wrote nothing.

Each is a ``UserError`` (``webapp/errors.py``): its message is an English msgid
with fields, which the web layer translates and the CLI prints as it is.

A refusal to restore says first what it means for the person, in the words of
its kind (``summary``): not an archive of ours, changed or damaged after it was
exported, made by a newer version, not signed here, the account book out of
reach. The raise site's precise sentence (which file, which line, which check)
follows as the technical detail.
"""

from __future__ import annotations

from ..errors import N_, UserError


class ExportError(UserError):
    """An export failed and left nothing behind."""


class InvalidRange(ExportError):
    """The dates start after they end, or span too many days."""


class RestoreError(UserError):
    """The archive cannot be restored; nothing was written."""


class NotAnArchive(RestoreError):
    """The file is not an archive of ours: not a zip, no manifest, a shape no export makes."""

    summary = N_(
        "This file is not an archive made by Kakeibo Export, or it is damaged, so nothing can "
        "be restored from it."
    )


class DamagedArchive(RestoreError):
    """A file of the archive differs from what its export wrote (its ``file`` field names it)."""

    summary = N_(
        "The file %(file)s in this archive was changed or damaged after it was exported, so "
        "the archive cannot be restored safely."
    )


class NewerArchive(RestoreError):
    """The archive was made by a later version of Kakeibo Export."""

    summary = N_(
        "This archive was made by a newer version of Kakeibo Export, so it cannot be restored "
        "here yet."
    )


class NotRestorable(RestoreError):
    """The archive holds a table only as CSV (its ``table`` field), which loses the types."""

    summary = N_(
        "This archive holds %(table)s only as CSV, for reading in Excel, and that cannot be "
        "restored exactly. Restore an archive that includes DynamoDB JSON."
    )


class AccountBookUnavailable(RestoreError):
    """The tables could not be read or checked just now."""

    summary = N_(
        "Your account book could not be reached just now, so nothing was written. Please try "
        "again in a few minutes."
    )


class StateChanged(RestoreError):
    """The account book changed in the period after the preview that the restore carries out."""

    summary = N_(
        "Your account book changed in this period after the check, so nothing was written. "
        "Check the archive again to see what a restore would change now."
    )


class WriteError(RestoreError):
    """DynamoDB stopped a restore part-way; ``str()`` says how far it got."""
