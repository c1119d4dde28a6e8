"""The core's exceptions: an export that made nothing, a restore that wrote nothing.

Each is a ``UserError`` (``webapp/errors.py``): its message is an English msgid
with fields, which the web layer translates and the CLI prints as it is.
"""

from __future__ import annotations

from ..errors import UserError


class ExportError(UserError):
    """An export failed and left nothing behind."""


class InvalidRange(ExportError):
    """The dates start after they end, or span too many days."""


class RestoreError(UserError):
    """The archive cannot be restored; nothing was written."""


class WriteError(RestoreError):
    """DynamoDB stopped a restore part-way; ``str()`` says how far it got."""
